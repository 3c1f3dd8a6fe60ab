"""Import the bundle's Kibana saved objects through the Saved Objects import API.

Every `*.ndjson` file goes up in ONE upload: Kibana accepts an `index-pattern` or `search`
reference only when the target is stored already or in the same upload (saved-objects import
`validate_references.ts`), so file-by-file imports fail on a fresh Kibana whenever a file
refers to another. `overwrite=true` with stable ids makes a re-import replace instead of
duplicate. Kibana answers a partial failure with HTTP 200 and `success: false` (and then writes
nothing at all), so the body is checked, and every error Kibana lists is reported.
"""

from __future__ import annotations

import json
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
            level = _status_level(resp.json())
            if resp.status_code == 200 and level == "available":
                return
            last = f"HTTP {resp.status_code}, level {level}"
        except (requests.RequestException, ValueError) as exc:
            last = type(exc).__name__
        sleep(min(3.0, max(0.0, deadline - time.monotonic())))
    raise ProvisioningError(f"Kibana not available after {timeout:.0f}s ({last})")


def _status_level(body: Any) -> Any:
    # A proxy or a half-started Kibana may answer any JSON at all.
    for key in ("status", "overall", "level"):
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _describe(error: Any) -> str:
    if not isinstance(error, dict) or not isinstance(error.get("error", {}), dict):
        return f"unreadable error entry {json.dumps(error)[:200]}"
    detail = error.get("error", {})
    kind = detail.get("type", "unknown")
    extra = ""
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')}:{r.get('id')}" for r in detail.get("references", []))
        extra = f" ({refs})"
    elif detail.get("message"):
        extra = f" ({detail['message']})"
    return f"{error.get('type')} {error.get('id')}: {kind}{extra}"


_RESOLVABLE = {"conflict", "ambiguous_conflict", "missing_references"}


def bundle_ndjson(files: list[Path]) -> str:
    """All objects of `files` as one NDJSON document, checked the way Kibana would refuse it."""
    lines: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ProvisioningError(f"{path.name}:{number} is not JSON: {exc}") from None
            if not isinstance(obj, dict) or not obj.get("type") or not obj.get("id"):
                raise ProvisioningError(f"{path.name}:{number} is not a saved object")
            key = (obj["type"], obj["id"])
            # Kibana refuses the whole upload when a type:id repeats (collect_saved_objects.ts).
            if key in seen:
                raise ProvisioningError(
                    f"{obj['type']} {obj['id']} is in both {seen[key]} and {path.name}:{number}")
            seen[key] = f"{path.name}:{number}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def import_objects(session: requests.Session, url: str, files: list[Path]) -> list[str]:
    payload = bundle_ndjson(files)
    names = ", ".join(p.name for p in files)
    resp = session.post(
        f"{url}/api/saved_objects/_import", params={"overwrite": "true"},
        headers={"kbn-xsrf": "true"},
        # The API insists on a file name ending in .ndjson.
        files={"file": ("flask-elk-bundle.ndjson", payload.encode(), "application/ndjson")},
        timeout=60,
    )
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if resp.status_code != 200:
        message = body.get("message") or resp.text[:300]
        raise ProvisioningError(f"import of {names}: Kibana said {resp.status_code}: {message}")
    errors = body.get("errors") or []
    if not isinstance(errors, list):
        errors = [errors]
    if body.get("success") is not True or errors:
        listed = "; ".join(_describe(e) for e in errors) or "no error list given"
        # With a conflict or missing reference Kibana writes nothing (create_saved_objects.ts);
        # other errors fail only their own object.
        kinds = {e.get("error", {}).get("type") if isinstance(e, dict) and isinstance(
            e.get("error"), dict) else None for e in errors}
        outcome = ("nothing was written" if kinds & _RESOLVABLE
                   else "the objects listed were not written")
        raise ProvisioningError(f"import of {names} failed ({outcome}): {listed}")
    return [
        f"{r.get('type')} {r.get('id')}: {'overwritten' if r.get('overwrite') else 'imported'}"
        for r in body.get("successResults", [])
    ]


# What the rule API takes on update (alerting `routes/rule/apis/update/schemas/v1.ts`); it
# refuses rule_type_id, consumer and enabled, which are fixed at creation.
_RULE_UPDATABLE = ("name", "tags", "schedule", "params", "actions")

# Kibana stores a rule's params validated and defaulted, so GET returns keys the file may omit.
# These are the defaults of the `.es-query` params schema (response-ops
# `rule_params/es_query/v1.ts`); without them an unchanged rule would look changed and be
# updated on every run, and every update mints a new API key (`update_rule.ts`).
_PARAM_DEFAULTS: dict[str, dict[str, Any]] = {
    ".es-query": {"searchType": "esQuery", "aggType": "count", "groupBy": "all",
                  "excludeHitsFromPreviousRun": True},
}


def _without_uuid(actions: Any) -> Any:
    # Kibana gives every stored action a generated uuid the file cannot know.
    if not isinstance(actions, list):
        return actions
    return [{k: v for k, v in a.items() if k != "uuid"} if isinstance(a, dict) else a
            for a in actions]


def rule_differences(desired: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """The updatable fields where the stored rule is not what the file asks for."""
    wanted = dict(desired)
    wanted["params"] = {**_PARAM_DEFAULTS.get(desired.get("rule_type_id", ""), {}),
                        **desired.get("params", {})}
    wanted.setdefault("tags", [])
    wanted.setdefault("actions", [])
    differing = []
    for key in _RULE_UPDATABLE:
        if key not in wanted:
            continue
        have = stored.get(key)
        if key == "actions":
            have, want = _without_uuid(have), _without_uuid(wanted[key])
        else:
            want = wanted[key]
        if have != want:
            differing.append(key)
    return differing


def _kibana_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return resp.text[:300]


def apply_rule(session: requests.Session, url: str, path: Path) -> str:
    """Create the rule under a stable id (its file name), update it if it differs."""
    try:
        desired = json.loads(path.read_text())
    except ValueError as exc:
        raise ProvisioningError(f"rule file {path.name} is not JSON: {exc}") from None
    if not isinstance(desired, dict):
        raise ProvisioningError(f"rule file {path.name} must hold one JSON object")
    rule_url = f"{url}/api/alerting/rule/{path.stem}"
    headers = {"kbn-xsrf": "true"}
    current = session.get(rule_url, timeout=30)
    if current.status_code == 404:
        resp = session.post(rule_url, json=desired, headers=headers, timeout=30)
        action = "created"
    elif current.status_code == 200:
        try:
            stored = current.json()
        except ValueError:
            stored = None
        if not isinstance(stored, dict):
            raise ProvisioningError(f"rule {path.stem}: Kibana's answer is not a rule: "
                                    f"{current.text[:200]}")
        for fixed in ("rule_type_id", "consumer"):
            if fixed in desired and stored.get(fixed) != desired[fixed]:
                raise ProvisioningError(
                    f"rule {path.stem}: Kibana has {fixed} {stored.get(fixed)!r}, the file "
                    f"{desired[fixed]!r}; the update API cannot change it: delete the rule in "
                    "Kibana and run again")
        differing = rule_differences(desired, stored)
        if not differing:
            return f"rule {path.stem}: unchanged"
        wanted = {k: desired[k] for k in _RULE_UPDATABLE if k in desired}
        resp = session.put(rule_url, json=wanted, headers=headers, timeout=30)
        action = f"updated ({', '.join(differing)})"
    else:
        raise ProvisioningError(
            f"rule {path.stem}: Kibana said {current.status_code}: {_kibana_message(current)}")
    if resp.status_code != 200:
        raise ProvisioningError(
            f"rule {path.stem}: Kibana said {resp.status_code}: {_kibana_message(resp)}")
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
    lines = import_objects(session, url.rstrip("/"), files)
    # Each rule stands alone: one Kibana refuses does not keep the others from being applied,
    # and every refusal is reported.
    failures = []
    for path in sorted(rules_dir.glob("*.json")) if rules_dir else ():
        try:
            lines.append(apply_rule(session, url.rstrip("/"), path))
        except ProvisioningError as exc:
            failures.append(str(exc))
    if failures:
        done = "; ".join(line for line in lines if line.startswith("rule ")) or "none"
        raise ProvisioningError(f"{len(failures)} rule(s) failed: {'; '.join(failures)} "
                                f"(applied: {done})")
    return lines
