"""Apply the bundle's Elasticsearch assets, idempotently, in dependency order.

Idempotency does not rely on comparing what Elasticsearch returns with what we sent (GET
bodies are normalised and grow defaults). Each desired body is hashed, and the hash is stored
in the asset's own `_meta` / `metadata`; an asset whose stored hash matches is left alone. So
a second run changes nothing, and a hand-edited asset is put back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, AuthenticationException, Elasticsearch, TransportError
from elk_provision.errors import ProvisioningError

HASH_KEY = "bundle_hash"
SNAPSHOT_REPOSITORY = "flask-logs-backup"
SLM_POLICY = "flask-logs-daily"
_PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)(?::([^}]*))?\}")
_DURATION = re.compile(r"^(\d+)(d|h|m|s|ms)$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Elasticsearch's phase order (TimeseriesLifecycleType.ORDERED_VALID_PHASES, x-pack core ilm).
ILM_PHASE_ORDER = ("hot", "warm", "cold", "frozen", "delete")


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str  # created | updated | unchanged

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.action}"


def load_asset(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """Read a JSON asset, substituting ${VAR} / ${VAR:default} from the environment."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name, default)
        if value is None:
            raise ProvisioningError(f"{path.name}: ${{{name}}} is not set in the environment")
        if name.endswith("_RETENTION") and not _DURATION.match(value):
            raise ProvisioningError(f"{name}={value!r} is not a duration such as 14d or 12h")
        return value

    try:
        return json.loads(_PLACEHOLDER.sub(substitute, path.read_text()))
    except json.JSONDecodeError as exc:
        raise ProvisioningError(f"{path}: not valid JSON ({exc})") from exc


def duration_seconds(value: str) -> float:
    match = _DURATION.match(value)
    if not match:
        raise ProvisioningError(f"{value!r} is not a duration such as 14d or 12h")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def phase_order_error(policy: Mapping[str, Any]) -> str | None:
    """Why Elasticsearch would refuse the policy's phase timings, or None.

    Elasticsearch refuses a policy in which a later phase's `min_age` is lower than an earlier
    phase's (TimeseriesLifecycleType.validateMonotonicallyIncreasingPhaseTimings, called by
    PutLifecycleRequest.validate); a missing or zero `min_age` is not compared.
    """
    phases = policy.get("phases", {})
    timed = [(name, phases[name]["min_age"]) for name in ILM_PHASE_ORDER
             if name in phases and duration_seconds(phases[name].get("min_age", "0ms")) > 0]
    for index, (earlier, earlier_age) in enumerate(timed):
        for later, later_age in timed[index + 1:]:
            if duration_seconds(later_age) < duration_seconds(earlier_age):
                return (f"the {later} phase (min_age {later_age}) would start before the "
                        f"{earlier} phase (min_age {earlier_age})")
    return None


def settings_as_returned(settings: Mapping[str, Any]) -> dict[str, str]:
    """Settings rendered the way Elasticsearch's GET returns them: every value a string,
    booleans as `true`/`false` (org.elasticsearch.common.settings.Settings stores strings)."""
    return {key: json.dumps(value) if isinstance(value, bool | int | float) else str(value)
            for key, value in settings.items()}


def body_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def with_hash(body: dict[str, Any], meta_path: str) -> tuple[dict[str, Any], str]:
    """A copy of `body` with its hash stored at the dotted `meta_path` (e.g. config.metadata)."""
    digest = body_hash(body)
    stamped = json.loads(json.dumps(body))
    node = stamped
    for part in meta_path.split("."):
        node = node.setdefault(part, {})
    node[HASH_KEY] = digest
    return stamped, digest


def wait_until_ready(
    es: Elasticsearch, timeout: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Wait until Elasticsearch answers authenticated requests, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            es.info()
            return
        except AuthenticationException as exc:
            raise ProvisioningError(
                "Elasticsearch rejected the elastic user's password; is the secrets volume the "
                "one this cluster was created with?"
            ) from exc
        except (TransportError, ApiError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    raise ProvisioningError(f"Elasticsearch not ready after {timeout:.0f}s ({last_error})")


class ElasticsearchProvisioner:
    def __init__(self, es: Elasticsearch, assets_dir: Path, secrets_dir: Path | None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.es = es
        self.assets = assets_dir
        self.secrets = secrets_dir
        self.environ = os.environ if environ is None else environ
        self.changes: list[Change] = []

    # -- orchestration ------------------------------------------------------------------
    def run(self) -> list[Change]:
        """Apply every asset; order matters: policies before templates, roles before users.

        Policies are checked first, so a retention Elasticsearch would refuse stops the run
        before anything is written."""
        self.check_lifecycle_policies()
        self.set_builtin_password("kibana_system", "kibana_system_password")
        for name, body in self._assets("roles"):
            self._apply("role", name, body, "metadata", self._get_role, self._put_role)
        for name, body in self._assets("users"):
            self._apply_user(name, body)
        for name, body in self._assets("ilm"):
            self._apply("ilm policy", name, body, "policy._meta", self._get_ilm, self._put_ilm)
        for name, body in self._assets("component_templates"):
            self._apply("component template", name, body, "_meta", self._get_component,
                        self._put_component)
        for name, body in self._assets("index_templates"):
            self._apply("index template", name, body, "_meta", self._get_index_template,
                        self._put_index_template)
        snapshots = self.assets / "snapshot"
        # An fs repository needs storage every node shares; deployments without it opt out.
        wanted = self.environ.get("SNAPSHOTS_ENABLED", "true").strip().lower() != "false"
        if wanted and (snapshots / "repository.json").exists():
            self._apply_repository(SNAPSHOT_REPOSITORY,
                                   load_asset(snapshots / "repository.json", self.environ))
            self._apply("snapshot policy", SLM_POLICY,
                        load_asset(snapshots / "slm-policy.json", self.environ),
                        "config.metadata", self._get_slm, self._put_slm)
        return self.changes

    def check_lifecycle_policies(self) -> None:
        for path in sorted((self.assets / "ilm").glob("*.json")):
            policy = load_asset(path, self.environ)["policy"]
            try:
                error = phase_order_error(policy)
            except ProvisioningError as exc:
                raise ProvisioningError(f"ilm policy {path.stem}: {exc}") from exc
            if error is None:
                continue
            variables = [m.group(1) for m in _PLACEHOLDER.finditer(path.read_text())]
            settings = ", ".join(f"{v}={self.environ.get(v, '(default)')}" for v in variables)
            raise ProvisioningError(
                f"ilm policy {path.stem}: {error}, which Elasticsearch refuses. "
                + (f"Check {settings}: a retention must be at least as long as every "
                   "earlier phase's min_age." if variables else "Fix the phase timings."))

    def _assets(self, folder: str) -> Iterable[tuple[str, dict[str, Any]]]:
        for path in sorted((self.assets / folder).glob("*.json")):
            yield path.stem, load_asset(path, self.environ)

    def _record(self, kind: str, name: str, action: str) -> None:
        change = Change(kind, name, action)
        self.changes.append(change)
        print(change, flush=True)

    def _call(self, kind: str, name: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except ApiError as exc:
            reason = _reason(exc)
            raise ProvisioningError(
                f"{kind} {name}: Elasticsearch said {exc.meta.status}: {reason}"
            ) from exc
        except TransportError as exc:
            raise ProvisioningError(f"{kind} {name}: cannot reach Elasticsearch ({exc})") from exc

    # -- generic hash-guarded apply ------------------------------------------------------
    def _apply(self, kind: str, name: str, body: dict[str, Any], meta_path: str,
               get: Callable[[str], dict[str, Any] | None],
               put: Callable[[str, dict[str, Any]], Any]) -> None:
        stamped, digest = with_hash(body, meta_path)
        current = self._call(kind, name, lambda: get(name))
        if current is not None and _stored_hash(current, meta_path) == digest:
            self._record(kind, name, "unchanged")
            return
        self._call(kind, name, lambda: put(name, stamped))
        self._record(kind, name, "created" if current is None else "updated")

    def _get_or_none(self, fetch: Callable[[], Any]) -> Any:
        try:
            return fetch()
        except ApiError as exc:
            if exc.meta.status == 404:
                return None
            raise

    def _get_role(self, name: str) -> dict[str, Any] | None:
        found = self._get_or_none(lambda: self.es.security.get_role(name=name))
        return None if not found or name not in found else dict(found[name])

    def _put_role(self, name: str, body: dict[str, Any]) -> Any:
        return self.es.security.put_role(name=name, **body)

    def _get_ilm(self, name: str) -> dict[str, Any] | None:
        found = self._get_or_none(lambda: self.es.ilm.get_lifecycle(name=name))
        return None if not found or name not in found else dict(found[name])

    def _put_ilm(self, name: str, body: dict[str, Any]) -> Any:
        return self.es.ilm.put_lifecycle(name=name, policy=body["policy"])

    def _get_component(self, name: str) -> dict[str, Any] | None:
        found = self._get_or_none(lambda: self.es.cluster.get_component_template(name=name))
        items = (found or {}).get("component_templates", [])
        return dict(items[0]["component_template"]) if items else None

    def _put_component(self, name: str, body: dict[str, Any]) -> Any:
        return self.es.cluster.put_component_template(name=name, **body)

    def _get_index_template(self, name: str) -> dict[str, Any] | None:
        found = self._get_or_none(lambda: self.es.indices.get_index_template(name=name))
        items = (found or {}).get("index_templates", [])
        return dict(items[0]["index_template"]) if items else None

    def _put_index_template(self, name: str, body: dict[str, Any]) -> Any:
        return self.es.indices.put_index_template(name=name, **body)

    def _get_slm(self, name: str) -> dict[str, Any] | None:
        found = self._get_or_none(lambda: self.es.slm.get_lifecycle(policy_id=name))
        return None if not found or name not in found else dict(found[name]["policy"])

    def _put_slm(self, name: str, body: dict[str, Any]) -> Any:
        return self.es.slm.put_lifecycle(policy_id=name, **body)

    def _apply_repository(self, name: str, body: dict[str, Any]) -> None:
        # Repositories carry no metadata to hold a hash: compare type and settings with what
        # GET returns, which renders every setting as a string (`true`, not true).
        found = self._call("snapshot repository", name, lambda: self._get_or_none(
            lambda: self.es.snapshot.get_repository(name=name)))
        current = (found or {}).get(name)
        wanted = settings_as_returned(body["settings"])
        if current and current.get("type") == body["type"] and current.get("settings") == wanted:
            self._record("snapshot repository", name, "unchanged")
            return
        self._call("snapshot repository", name, lambda: self.es.snapshot.create_repository(
            name=name, repository=body))
        self._record("snapshot repository", name, "created" if current is None else "updated")

    # -- users and passwords -------------------------------------------------------------
    def _secret(self, name: str) -> str:
        if self.secrets is None:
            raise ProvisioningError(f"no secrets directory given; cannot read {name}")
        path = self.secrets / name
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ProvisioningError(f"secret {path} cannot be read ({exc.strerror})") from exc
        if len(value) < 16:
            raise ProvisioningError(f"secret {path} is shorter than 16 characters")
        return value

    def _password_works(self, username: str, password: str) -> bool:
        probe = self.es.options(basic_auth=(username, password))
        try:
            probe.security.authenticate()
        except AuthenticationException:
            return False
        return True

    def set_builtin_password(self, username: str, secret_name: str) -> None:
        password = self._secret(secret_name)
        if self._password_works(username, password):
            self._record("password", username, "unchanged")
            return
        self._call("password", username,
                   lambda: self.es.security.change_password(username=username, password=password))
        self._record("password", username, "updated")

    def _apply_user(self, name: str, body: dict[str, Any]) -> None:
        secret = body.get("metadata", {}).get("password_secret", f"{name}_password")
        password = self._secret(secret)
        stamped, digest = with_hash(body, "metadata")
        found = self._call("user", name, lambda: self._get_or_none(
            lambda: self.es.security.get_user(username=name)))
        current = (found or {}).get(name)
        if current is None:
            self._call("user", name, lambda: self.es.security.put_user(
                username=name, password=password, **stamped))
            self._record("user", name, "created")
            return
        if current.get("metadata", {}).get(HASH_KEY) != digest:
            self._call("user", name, lambda: self.es.security.put_user(username=name, **stamped))
            self._record("user", name, "updated")
        else:
            self._record("user", name, "unchanged")
        if not self._password_works(name, password):
            self._call("user", name, lambda: self.es.security.change_password(
                username=name, password=password))
            self._record("password", name, "updated")


def _stored_hash(current: Mapping[str, Any], meta_path: str) -> str | None:
    node: Any = current
    for part in meta_path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node.get(HASH_KEY) if isinstance(node, Mapping) else None


def _reason(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, Mapping) else {}
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("reason") or error.get("type") or error)
    return str(error or exc.message)
