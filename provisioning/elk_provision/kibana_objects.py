"""Import the bundle's Kibana saved objects through the Saved Objects import API.

`overwrite=true` with stable ids makes a re-import replace instead of duplicate. Kibana
answers a partial failure with HTTP 200 and `success: false`, so the body is checked, and
every error Kibana lists is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from elk_provision.errors import ProvisioningError


def wait_for_kibana(session: requests.Session, url: str, timeout: float,
                    sleep: Callable[[float], None] = time.sleep) -> None:
    """Until /api/status says `available` (it answers without credentials on 8.9+)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = session.get(f"{url}/api/status", timeout=10)
            level = resp.json().get("status", {}).get("overall", {}).get("level")
            if resp.status_code == 200 and level == "available":
                return
            last = f"HTTP {resp.status_code}, level {level}"
        except (requests.RequestException, ValueError) as exc:
            last = type(exc).__name__
        sleep(min(3.0, max(0.0, deadline - time.monotonic())))
    raise ProvisioningError(f"Kibana not available after {timeout:.0f}s ({last})")


def _describe(error: dict[str, Any]) -> str:
    detail = error.get("error", {})
    kind = detail.get("type", "unknown")
    extra = ""
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')}:{r.get('id')}" for r in detail.get("references", []))
        extra = f" ({refs})"
    elif detail.get("message"):
        extra = f" ({detail['message']})"
    return f"{error.get('type')} {error.get('id')}: {kind}{extra}"


def import_file(session: requests.Session, url: str, path: Path) -> list[str]:
    with path.open("rb") as handle:
        resp = session.post(
            f"{url}/api/saved_objects/_import", params={"overwrite": "true"},
            headers={"kbn-xsrf": "true"},
            # The API insists on a file name ending in .ndjson.
            files={"file": (path.name, handle, "application/ndjson")}, timeout=60,
        )
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200:
        message = body.get("message") or resp.text[:300]
        raise ProvisioningError(f"import of {path.name}: Kibana said {resp.status_code}: {message}")
    errors = body.get("errors") or []
    if body.get("success") is not True or errors:
        listed = "; ".join(_describe(e) for e in errors) or "no error list given"
        raise ProvisioningError(f"import of {path.name} failed: {listed}")
    return [
        f"{r.get('type')} {r.get('id')}: {'overwritten' if r.get('overwrite') else 'imported'}"
        for r in body.get("successResults", [])
    ]


# Fields the rule API takes on update; rule_type_id and consumer are fixed at creation.
_RULE_UPDATABLE = ("name", "tags", "schedule", "params", "actions")


def apply_rule(session: requests.Session, url: str, path: Path) -> str:
    """Create the rule under a stable id (its file name), update it if it differs."""
    import json

    desired = json.loads(path.read_text())
    rule_url = f"{url}/api/alerting/rule/{path.stem}"
    headers = {"kbn-xsrf": "true"}
    current = session.get(rule_url, timeout=30)
    if current.status_code == 404:
        resp = session.post(rule_url, json=desired, headers=headers, timeout=30)
        action = "created"
    elif current.status_code == 200:
        body = current.json()
        wanted = {k: desired[k] for k in _RULE_UPDATABLE if k in desired}
        if all(body.get(k) == v for k, v in wanted.items()):
            return f"rule {path.stem}: unchanged"
        resp = session.put(rule_url, json=wanted, headers=headers, timeout=30)
        action = "updated"
    else:
        raise ProvisioningError(f"rule {path.stem}: Kibana said {current.status_code}")
    if resp.status_code != 200:
        try:
            message = resp.json().get("message", resp.text[:300])
        except ValueError:
            message = resp.text[:300]
        raise ProvisioningError(f"rule {path.stem}: Kibana said {resp.status_code}: {message}")
    return f"rule {path.stem}: {action}"


def provision_kibana(*, url: str, username: str, password: str, ca_file: str | None,
                     objects_dir: Path, timeout: float,
                     rules_dir: Path | None = None) -> list[str]:
    files = sorted(Path(objects_dir).glob("*.ndjson"))
    if not files:
        raise ProvisioningError(f"no .ndjson files in {objects_dir}")
    session = requests.Session()
    session.auth = (username, password)
    session.verify = ca_file if ca_file else True
    wait_for_kibana(session, url.rstrip("/"), timeout)
    lines: list[str] = []
    for path in files:
        lines.extend(import_file(session, url.rstrip("/"), path))
    for path in sorted(rules_dir.glob("*.json")) if rules_dir else ():
        lines.append(apply_rule(session, url.rstrip("/"), path))
    return lines
