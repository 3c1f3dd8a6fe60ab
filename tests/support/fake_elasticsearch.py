"""A small real HTTP server standing in for Elasticsearch 9.5, as strict as the real one for
what our code relies on.

It stores what is PUT, enforces basic auth, records every call in order, and can be told to
fail a given call, so provisioning logic is tested through the official client over a real
socket rather than through mocks. Each rule it enforces names where Elasticsearch (or its
published API specification) defines it; tests/unit/elasticsearch/test_fake_elasticsearch.py
shows each refusal. What it does not enforce is listed in docs/elasticsearch.md.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support import es_spec
from tests.support.local_http import LocalHttpServer, send_json

PRODUCT_HEADERS = {"X-Elastic-Product": "Elasticsearch",
                   "Content-Type": "application/vnd.elasticsearch+json;compatible-with=9"}

# Present on every 9.x cluster (x-pack/plugin/core/template-resources/.../logs@*.json,
# ecs@mappings.json, registered by StackTemplateRegistry); `logs@custom` is not.
BUILTIN_COMPONENTS = frozenset({"logs@mappings", "logs@settings", "ecs@mappings",
                                "logs@mappings-logsdb"})
# The built-in `logs` index template (StackTemplateRegistry, logs@template.json).
BUILTIN_INDEX_TEMPLATES = {"logs": {"index_patterns": ["logs-*-*"], "priority": 100,
                                    "data_stream": {}}}
SUPERUSERS = frozenset({"elastic"})
# Phase order: x-pack/plugin/core/src/main/java/org/elasticsearch/xpack/core/ilm/
# TimeseriesLifecycleType.java (ORDERED_VALID_PHASES).
ILM_PHASES = ("hot", "warm", "cold", "frozen", "delete")
_UNITS = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
DELETE_INDEX_PRIVILEGES = frozenset({"delete_index", "manage", "all"})


class Refusal(Exception):
    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.body = status, {
            "error": {"root_cause": [{"type": error_type, "reason": reason}],
                      "type": error_type, "reason": reason},
            "status": status}


def _seconds(value: str) -> float:
    # org.elasticsearch.core.TimeValue.parseTimeValue
    match = re.fullmatch(r"(-?\d+)(nanos|micros|ms|s|m|h|d)", value.strip())
    if match is None:
        if value.strip() in ("0", "-1"):
            return float(value)
        raise Refusal(400, "illegal_argument_exception",
                      f"failed to parse setting [min_age] with value [{value}] as a time value: "
                      "unit is missing or unrecognized")
    return int(match.group(1)) * _UNITS[match.group(2)]


def check_phase_timings(policy: Mapping[str, Any]) -> None:
    """A later phase may not have a lower (non-zero) min_age than an earlier one.

    TimeseriesLifecycleType.validateMonotonicallyIncreasingPhaseTimings, called from
    PutLifecycleRequest.validate() (x-pack core ilm/action): a 400
    action_request_validation_exception.
    """
    phases = policy.get("phases", {})
    timed = [(name, phases[name]["min_age"]) for name in ILM_PHASES
             if name in phases and _seconds(phases[name].get("min_age", "0ms")) != 0]
    for index, (earlier, earlier_age) in enumerate(timed):
        for later, later_age in timed[index + 1:]:
            if _seconds(later_age) < _seconds(earlier_age):
                raise Refusal(400, "action_request_validation_exception", (
                    f"Validation Failed: 1: Your policy is configured to run the {later} phase "
                    f"(min_age: {later_age}) before the {earlier} phase (min_age: "
                    f"{earlier_age}). You should change the phase timing so that the phases "
                    "will execute in the order of hot, warm, then cold.;"))


def check_mapping_types(mapping: Mapping[str, Any], prefix: str = "") -> None:
    """Every field `type` must name a registered mapper.

    MappingParserContext.typeParser returns none for an unknown type and ObjectMapper's
    parser answers 400 mapper_parsing_exception "No handler for type". The specification
    marks the Property union non-exhaustive (plugins add types), so its schema lets unknown
    types through; the known ones are the union's tags (es_spec.mapping_types()).
    """
    known = es_spec.mapping_types()
    for name, field in mapping.get("properties", {}).items():
        for path, spec in [(f"{prefix}{name}", field)] + [
                (f"{prefix}{name}.{sub}", sub_spec)
                for sub, sub_spec in field.get("fields", {}).items()]:
            field_type = spec.get("type", "object")
            if field_type not in known:
                raise Refusal(400, "mapper_parsing_exception",
                              f"No handler for type [{field_type}] declared on field [{path}]")
        check_mapping_types(field, f"{prefix}{name}.")


def flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in settings.items():
        if isinstance(value, Mapping):
            yield from flatten_settings(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def settings_as_returned(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as GET renders them: nested, `index.`-prefixed, every value a string
    (org.elasticsearch.common.settings.Settings keeps strings; booleans are `true`)."""
    nested: dict[str, Any] = {}
    for key, value in flatten_settings(settings):
        full = key if key.startswith("index.") else f"index.{key}"
        node = nested
        *parents, leaf = full.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = [_string(v) for v in value] if isinstance(value, list) else _string(value)
    return nested


def _string(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | int | float) else str(value)


def _patterns_overlap(left: list[str], right: list[str]) -> bool:
    # MetadataIndexTemplateService.findConflictingV2Templates uses automaton intersection;
    # matching each pattern against the other (both ways) covers the patterns we use.
    return any(fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a)
               for a in left for b in right)


class FakeElasticsearch(LocalHttpServer):
    def __init__(self, elastic_password: str) -> None:
        self.passwords = {"elastic": elastic_password, "kibana_system": "initial-unknown"}
        self.roles: dict[str, Any] = {}
        self.users: dict[str, Any] = {}
        self.ilm: dict[str, Any] = {}
        self.components: dict[str, Any] = {}
        self.index_templates: dict[str, Any] = {}
        self.repositories: dict[str, Any] = {}
        self.slm: dict[str, Any] = {}
        # data stream -> generation -> {_id: source}; a rollover starts a new backing index.
        self.data_streams: dict[str, dict[int, dict[str, Any]]] = {}
        self.calls: list[tuple[str, str]] = []
        self.validated: list[tuple[str, Any]] = []  # (operation, body) checked against spec
        self.refused: list[tuple[str, str, dict[str, Any]]] = []
        self.fail: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.unavailable_for = 0  # answer 503 this many times first
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                send_json(self, status, body, PRODUCT_HEADERS)

            def _user(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                return user if fake.passwords.get(user) == password else None

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                url = urlsplit(self.path)
                path = unquote(url.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                fake.calls.append((method, path))
                if fake.unavailable_for > 0:
                    fake.unavailable_for -= 1
                    return self._send(503, {"error": "not ready"})
                # SecurityRestFilter authenticates every REST request first: 401.
                user = self._user()
                if user is None:
                    return self._send(401, {"error": {
                        "type": "security_exception",
                        "reason": "missing authentication credentials"}, "status": 401})
                if (method, path) in fake.fail:
                    return self._send(*fake.fail[(method, path)])
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    return self._refuse(method, path, Refusal(
                        400, "x_content_parse_exception", "request body is not valid JSON"))
                try:
                    status, answer = fake.route(method, path, query, body, user)
                except Refusal as refusal:
                    return self._refuse(method, path, refusal)
                self._send(status, answer)

            def _refuse(self, method: str, path: str, refusal: Refusal) -> None:
                if method != "GET":  # a 404 on a read is an answer, not a refusal
                    fake.refused.append((method, path, refusal.body))
                self._send(refusal.status, refusal.body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.serve(Handler)

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] in ("PUT", "POST", "DELETE")]

    # -- routing --------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, str], body: Any,
              user: str) -> tuple[int, Any]:
        operation = es_spec.operation_for(method, path)
        if operation is not None:
            # Request bodies follow Elastic's published API specification for 9.5
            # (elastic/elasticsearch-specification; tests/support/es_spec/README.md).
            errors = es_spec.body_errors(operation, body)
            if errors:
                raise Refusal(400, "x_content_parse_exception",
                              f"{operation}: " + "; ".join(errors[:5]))
            self.validated.append((operation, body))
        if path == "/":
            return 200, {"version": {"number": "9.5.6"}}
        if path == "/_security/_authenticate":
            return 200, {"username": user}
        if m := re.fullmatch(r"/_security/user/([^/]+)/_password", path):
            if m.group(1) not in self.passwords and m.group(1) not in self.users:
                raise Refusal(404, "resource_not_found_exception", "user not found")
            self.passwords[m.group(1)] = body["password"]
            return 200, {}
        target = path.strip("/")
        if method == "DELETE" and "/" not in target and (target == "_all" or target[:1] != "_"):
            return self._delete_indices(target, user)
        if m := re.fullmatch(r"/([^/_][^/]*)/(_create|_doc)/([^/]+)", path):
            return self._index_document(m.group(1), m.group(2), m.group(3), query, body)
        if m := re.fullmatch(r"/([^/_][^/]*)/_rollover", path):
            stream = self.data_streams.setdefault(m.group(1), {1: {}})
            stream[max(stream) + 1] = {}
            return 200, {"acknowledged": True, "rolled_over": True}
        stores = {
            r"/_security/role/([^/]+)": self.roles,
            r"/_security/user/([^/]+)": self.users,
            r"/_ilm/policy/([^/]+)": self.ilm,
            r"/_component_template/([^/]+)": self.components,
            r"/_index_template/([^/]+)": self.index_templates,
            r"/_snapshot/([^/]+)": self.repositories,
            r"/_slm/policy/([^/]+)": self.slm,
        }
        for pattern, store in stores.items():
            if m := re.fullmatch(pattern, path):
                if method in ("PUT", "POST"):
                    return self._put(m.group(1), store, query, body)
                return self._get(m.group(1), store)
        raise Refusal(400, "illegal_argument_exception",
                      f"no handler found for uri [{path}] and method [{method}]")

    # -- writes ---------------------------------------------------------------------------
    def _put(self, name: str, store: dict[str, Any], query: dict[str, str],
             body: Any) -> tuple[int, Any]:
        if store is self.ilm:
            check_phase_timings(body["policy"])
        if store is self.index_templates:
            self._check_index_template(name, body)
        if store in (self.index_templates, self.components):
            check_mapping_types(body.get("template", {}).get("mappings", {}))
        if store in (self.index_templates, self.components) and query.get("create") == "true" \
                and name in store:
            # MetadataIndexTemplateService.addComponentTemplate / addIndexTemplateV2
            kind = "component template" if store is self.components else "index template"
            raise Refusal(400, "illegal_argument_exception",
                          f"{kind} [{name}] already exists")
        body = json.loads(json.dumps(body))
        if store is self.users and "password" in body:
            self.passwords[name] = body.pop("password")
        created = name not in store
        store[name] = body
        return 200, {"created": created, "acknowledged": True}

    def _check_index_template(self, name: str, body: dict[str, Any]) -> None:
        # MetadataIndexTemplateService.validateIndexTemplateV2: every component must exist
        # unless listed in ignore_missing_component_templates.
        ignored = set(body.get("ignore_missing_component_templates", []))
        missing = [c for c in body.get("composed_of", [])
                   if c not in self.components and c not in BUILTIN_COMPONENTS
                   and c not in ignored]
        if missing:
            raise Refusal(400, "invalid_index_template_exception",
                          f"index_template [{name}] invalid, cause [index template [{name}] "
                          f"specifies component templates {missing} that do not exist]")
        # MetadataIndexTemplateService.findConflictingV2Templates: overlapping patterns with
        # the same priority are refused.
        priority = body.get("priority", 0)
        others = {**BUILTIN_INDEX_TEMPLATES, **self.index_templates}
        for other, template in others.items():
            if other != name and template.get("priority", 0) == priority and \
                    _patterns_overlap(body["index_patterns"], template["index_patterns"]):
                raise Refusal(400, "illegal_argument_exception", (
                    f"index template [{name}] has index patterns {body['index_patterns']} "
                    f"matching patterns from existing templates [{other}] with patterns "
                    f"({other} => {template['index_patterns']}) that have the same priority "
                    f"[{priority}]"))

    def _is_data_stream(self, target: str) -> bool:
        templates = {**BUILTIN_INDEX_TEMPLATES, **self.index_templates}
        best = max((t for t in templates.values()
                    if any(fnmatch.fnmatchcase(target, p) for p in t["index_patterns"])),
                   key=lambda t: t.get("priority", 0), default=None)
        return best is not None and "data_stream" in best

    def _index_document(self, target: str, endpoint: str, doc_id: str, query: dict[str, str],
                        body: Any) -> tuple[int, Any]:
        create = endpoint == "_create" or query.get("op_type") == "create"
        if not self._is_data_stream(target):
            raise Refusal(400, "illegal_argument_exception",
                          f"the fake holds documents for data streams only, not [{target}]")
        if not create:
            # TransportBulkAction / DataStream.validate: data streams take create only.
            raise Refusal(400, "illegal_argument_exception",
                          f"only write ops with an op_type of create are allowed in data "
                          f"streams, not on [{target}]")
        stream = self.data_streams.setdefault(target, {1: {}})
        generation = max(stream)
        backing = stream[generation]
        if doc_id in backing:
            # InternalEngine: a create whose _id exists in the same shard is a version
            # conflict; after a rollover the new backing index does not know the old ids.
            raise Refusal(409, "version_conflict_engine_exception",
                          f"[{doc_id}]: version conflict, document already exists "
                          "(current version [1])")
        backing[doc_id] = body
        index = f".ds-{target}-{generation:06d}"
        return 201, {"_index": index, "_id": doc_id, "_version": 1, "result": "created"}

    def _delete_indices(self, expression: str, user: str) -> tuple[int, Any]:
        names = expression.split(",")
        # action.destructive_requires_name (default true), enforced by DestructiveOperations
        # from SecurityActionFilter.applyInternal before authorization: 400 for everyone.
        if any(n in ("_all", "*") or "*" in n or n.startswith("-") for n in names):
            raise Refusal(400, "illegal_argument_exception",
                          "Wildcard expressions or all indices are not allowed")
        if not self._may_delete(user, names):
            raise Refusal(403, "security_exception",
                          f"action [indices:admin/delete] is unauthorized for user [{user}]")
        for name in names:
            if name not in self.data_streams:
                raise Refusal(404, "index_not_found_exception", f"no such index [{name}]")
        for name in names:
            del self.data_streams[name]
        return 200, {"acknowledged": True}

    def _may_delete(self, user: str, names: list[str]) -> bool:
        if user in SUPERUSERS:
            return True
        grants = [entry for role in self.users.get(user, {}).get("roles", [])
                  for entry in self.roles.get(role, {}).get("indices", [])
                  if DELETE_INDEX_PRIVILEGES & set(entry.get("privileges", []))]
        return all(any(fnmatch.fnmatchcase(n, p) for g in grants for p in g["names"])
                   for n in names)

    # -- reads (shaped as 9.5 answers them) -----------------------------------------------
    def _get(self, name: str, store: dict[str, Any]) -> tuple[int, Any]:
        if name not in store:
            raise Refusal(404, "resource_not_found_exception", f"[{name}] not found")
        stored = json.loads(json.dumps(store[name]))
        if store is self.ilm:
            return 200, {name: {"version": 1, "modified_date": "2026-01-01T00:00:00.000Z",
                                "policy": stored["policy"], "in_use_by": {
                                    "indices": [], "data_streams": [], "composable_templates": []}}}
        if store in (self.components, self.index_templates):
            template = stored.get("template", {})
            if "settings" in template:
                template["settings"] = settings_as_returned(template["settings"])
            key = "component_template" if store is self.components else "index_template"
            return 200, {f"{key}s": [{"name": name, key: stored}]}
        if store is self.slm:
            return 200, {name: {"version": 1, "modified_date_millis": 0, "policy": stored}}
        if store is self.repositories:
            settings = {k: _string(v) for k, v in stored.get("settings", {}).items()}
            return 200, {name: {"type": stored["type"], "settings": settings}}
        if store is self.users:
            return 200, {name: {"username": name, "roles": [], "full_name": None,
                                "email": None, "metadata": {}, "enabled": True, **stored}}
        if store is self.roles:
            for entry in stored.get("indices", []):
                entry.setdefault("allow_restricted_indices", False)
            return 200, {name: {"cluster": [], "indices": [], "applications": [],
                                "run_as": [], "metadata": {},
                                "transient_metadata": {"enabled": True}, **stored}}
        return 200, {name: stored}
