"""A real HTTP server standing in for Kibana 9.5: status, saved-objects import, alerting rules.

It refuses what Kibana refuses for everything the provisioning code relies on. Each rule names
the elastic/kibana source file it follows (9.x layout, read 2026-11-29); docs/kibana.md lists
what the fake enforces and what it does not. Paths are abbreviated:
  SO_IMPORT = src/core/packages/saved-objects/import-export-server-internal/src/import/
  SO_ROUTES = src/core/packages/saved-objects/server-internal/src/routes/
  MIGRATOR  = src/core/packages/saved-objects/migration-server-internal/src/document_migrator/
  ALERTING  = x-pack/platform/plugins/shared/alerting/
  ES_QUERY  = src/platform/packages/shared/response-ops/rule_params/es_query/v1.ts
"""

from __future__ import annotations

import base64
import json
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conftest import REPO_ROOT
from tests.support.local_http import LocalHttpServer, send_json


def pinned_kibana_version() -> str:
    """The stack version from .env, the project's one source for it."""
    for line in (REPO_ROOT / ".env").read_text().splitlines():
        if line.startswith("ELASTIC_VERSION="):
            return line.split("=", 1)[1].strip()
    raise LookupError("ELASTIC_VERSION missing from .env")


# ---------------------------------------------------------------- saved-object versions

# The highest migration each type knows: max(legacy `migrations`,
# convertToMultiNamespaceTypeVersion, model version N written as "10.N.0"), read in the type
# registrations:
#   index-pattern: src/platform/plugins/shared/data_views/server/saved_objects/data_views.ts
#                  (legacy migrations up to 7.11.0, convertToMultiNamespaceTypeVersion 8.0.0)
#   search:        src/platform/plugins/shared/saved_search/server/saved_objects/search.ts
#                  (modelVersions 1-6)
#   dashboard:     src/platform/plugins/shared/dashboard/server/dashboard_saved_object/
#                  dashboard_saved_object.ts (modelVersions 1-4)
#   map:           x-pack/platform/plugins/shared/maps/server/saved_objects/
#                  setup_saved_objects.ts + saved_object_migrations.ts (legacy up to 8.4.0;
#                  the data plugin's filter migrations it merges in may add later ones, so
#                  8.4.0 is a floor: the fake refuses some maps Kibana would take, never the
#                  reverse)
# The stored source could not be pinned to the 9.5 branch; these are the snapshot's values.
# Only types the bundle ships are importable here (a real Kibana registers many more).
LATEST_TYPE_VERSIONS = {"index-pattern": "8.0.0", "search": "10.6.0", "dashboard": "10.4.0",
                        "map": "8.4.0"}

# SO_IMPORT lib/validate_references.ts: REF_TYPES_TO_VALIDATE.
VALIDATED_REFERENCE_TYPES = ("index-pattern", "search")

# SO_IMPORT lib/create_saved_objects.ts: with any of these, nothing is written at all.
RESOLVABLE_ERRORS = ("conflict", "ambiguous_conflict", "missing_references")

_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def _semver(text: str) -> tuple[int, int, int] | None:
    match = _SEMVER.fullmatch(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def migration_refusal(obj: dict[str, Any], kibana_version: str) -> str | None:
    """Why Kibana's migrator refuses `obj` on import, or None when it migrates it.

    MIGRATOR pipelines/utils.ts assertValidCoreVersion: `coreMigrationVersion` must be semver and
    not above the running Kibana. MIGRATOR document_migrator.ts / utils.ts downgradeRequired: a
    `typeMigrationVersion` above the type's latest migration is refused (no downgrade on input,
    api-server-internal .../helpers/migration.ts migrateInputDocument). Older ones are migrated.
    """
    core = obj.get("coreMigrationVersion")
    if core:
        parsed = _semver(core)
        if parsed is None:
            return (f'Document "{obj["id"]}" has an invalid "coreMigrationVersion" [{core}]. '
                    "This must be a semver value.")
        if parsed > _semver(kibana_version):
            return (f'Document "{obj["id"]}" has a "coreMigrationVersion" which belongs to a '
                    f"more recent version of Kibana [{core}]. "
                    f"The current version is [{kibana_version}].")
    own = obj.get("typeMigrationVersion") or (obj.get("migrationVersion") or {}).get(obj["type"])
    latest = LATEST_TYPE_VERSIONS.get(obj["type"])
    if own and latest:
        parsed = _semver(own)
        if parsed is None or parsed > _semver(latest):
            return (f'Document "{obj["id"]}" belongs to a more recent version of Kibana [{own}] '
                    f"when the last known version is [{latest}].")
    return None


class HttpError(Exception):
    """A refusal answered as Kibana's error body (statusCode, error, message)."""

    REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               409: "Conflict", 415: "Unsupported Media Type", 422: "Unprocessable Entity"}

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"statusCode": status, "error": self.REASONS.get(status, "Error"),
                     "message": message}


# ---------------------------------------------------------------- saved-objects import

def parse_ndjson(raw: str) -> list[dict[str, Any]]:
    """SO_ROUTES utils.ts createSavedObjectsStreamFromNdJson: blank lines and the export summary
    line are skipped; a line that is not JSON fails the whole request (import.ts: badRequest)."""
    objects = []
    for line in raw.split("\n"):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise HttpError(400, f"Unexpected token in JSON: {exc}") from None
        if isinstance(obj, dict) and "exportedCount" not in obj:
            objects.append(obj)
    return objects


def import_objects(store: dict[tuple[str, str], dict[str, Any]], objects: list[dict[str, Any]],
                   *, overwrite: bool, kibana_version: str) -> dict[str, Any]:
    """SO_IMPORT import_saved_objects.ts importSavedObjectsFromStream, step by step."""
    # lib/collect_saved_objects.ts: unsupported types become errors; a type:id seen twice fails all.
    keys = [(o.get("type"), o.get("id")) for o in objects]
    repeated = sorted({f"{t}:{i}" for t, i in keys if keys.count((t, i)) > 1})
    if repeated:
        raise HttpError(400, f"Non-unique import objects detected: [{','.join(repeated)}]")
    errors: list[dict[str, Any]] = []
    collected = []
    for obj in objects:
        if obj.get("type") in LATEST_TYPE_VERSIONS:
            collected.append(obj)
        else:
            errors.append(_failure(obj, {"type": "unsupported_type"}))
    # lib/validate_references.ts: index-pattern and search references must be in this upload
    # or stored already; otherwise that object fails with missing_references.
    in_upload = {(o["type"], o["id"]) for o in collected}
    for obj in collected:
        missing: list[dict[str, str]] = []
        for ref in obj.get("references") or []:
            key = (ref.get("type"), ref.get("id"))
            if key[0] not in VALIDATED_REFERENCE_TYPES or key in in_upload or key in store:
                continue
            if {"type": key[0], "id": key[1]} not in missing:
                missing.append({"type": key[0], "id": key[1]})
        if missing:
            errors.append(_failure(obj, {"type": "missing_references", "references": missing}))
    # lib/check_conflicts.ts: an existing object is a conflict unless overwrite=true.
    pending_overwrites = {(o["type"], o["id"]) for o in collected if (o["type"], o["id"]) in store}
    if not overwrite:
        errors.extend(_failure(o, {"type": "conflict"}) for o in collected
                      if (o["type"], o["id"]) in pending_overwrites)
    failed = {(e["type"], e["id"]) for e in errors}
    to_create = [o for o in collected if (o["type"], o["id"]) not in failed]
    # lib/create_saved_objects.ts: any resolvable error means bulkCreate is never called, so
    # nothing is written, although the others are still listed in successResults.
    if to_create and not any(e["error"]["type"] in RESOLVABLE_ERRORS for e in errors):
        # api-server-internal .../apis/bulk_create.ts migrates every input document before the
        # one bulk request; the migrator's Boom.badData escapes the import and the route
        # (SO_ROUTES utils.ts catchAndReturnBoomErrors) answers 422 for the whole upload.
        for obj in to_create:
            refusal = migration_refusal(obj, kibana_version)
            if refusal:
                raise HttpError(422, refusal)
        for obj in to_create:
            stored = dict(obj)
            stored["typeMigrationVersion"] = LATEST_TYPE_VERSIONS[obj["type"]]
            store[(obj["type"], obj["id"])] = stored
    successes = []
    for obj in to_create:
        result = {"type": obj["type"], "id": obj["id"],
                  "meta": {"title": obj.get("attributes", {}).get("title")}, "managed": False}
        if (obj["type"], obj["id"]) in pending_overwrites:
            result["overwrite"] = True
        successes.append(result)
    body: dict[str, Any] = {"successCount": len(successes), "success": not errors, "warnings": []}
    if successes:
        body["successResults"] = successes
    if errors:
        body["errors"] = errors
    return body


def _failure(obj: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {"type": obj.get("type"), "id": obj.get("id"),
            "meta": {"title": (obj.get("attributes") or {}).get("title")}, "error": error}


# ---------------------------------------------------------------- alerting rules

_ES_QUERY_COMPARATORS = (">", "<", ">=", "<=", "between", "notBetween")
_ES_QUERY_KEYS = {"size", "timeWindowSize", "excludeHitsFromPreviousRun", "timeWindowUnit",
                  "threshold", "thresholdComparator", "aggType", "aggField", "groupBy",
                  "termField", "termSize", "searchType", "timeField", "searchConfiguration",
                  "esQuery", "index", "esqlQuery", "sourceFields"}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise HttpError(400, f"params invalid: {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_es_query_params(params: Any) -> dict[str, Any]:
    """ES_QUERY EsQueryRuleParamsSchema: the params Kibana stores, validated and defaulted.

    config-schema objects refuse unknown keys; defaults are excludeHitsFromPreviousRun true,
    aggType "count", groupBy "all", searchType "esQuery"; validateParams adds the cross-field
    checks. ALERTING server/lib/validate_rule_type_params.ts stores what validation returns.
    """
    _require(isinstance(params, dict), "expected a plain object value")
    for key in params:
        _require(key in _ES_QUERY_KEYS, f"[{key}]: definition for this key is missing")
    out = dict(params)
    out.setdefault("excludeHitsFromPreviousRun", True)
    out.setdefault("aggType", "count")
    out.setdefault("groupBy", "all")
    out.setdefault("searchType", "esQuery")
    _require(_is_number(out.get("size")) and 0 <= out["size"] <= 10000,
             "[size]: expected a number between 0 and 10000 (ES_QUERY_MAX_HITS_PER_EXECUTION)")
    _require(_is_number(out.get("timeWindowSize")) and out["timeWindowSize"] >= 1,
             "[timeWindowSize]: expected a number of at least 1")
    _require(isinstance(out["excludeHitsFromPreviousRun"], bool),
             "[excludeHitsFromPreviousRun]: expected value of type [boolean]")
    _require(out.get("timeWindowUnit") in ("s", "m", "h", "d"),
             "[timeWindowUnit]: invalid timeWindowUnit")
    threshold = out.get("threshold")
    _require(isinstance(threshold, list) and 1 <= len(threshold) <= 2
             and all(_is_number(t) for t in threshold),
             "[threshold]: expected an array of 1 or 2 numbers")
    _require(out.get("thresholdComparator") in _ES_QUERY_COMPARATORS,
             "[thresholdComparator]: invalid thresholdComparator")
    _require(out["aggType"] in ("count", "avg", "min", "max", "sum"), "[aggType]: invalid aggType")
    _require(out["groupBy"] in ("all", "top", "row"), "[groupBy]: invalid groupBy")
    search_type = out["searchType"]
    _require(search_type in ("searchSource", "esQuery", "esqlQuery"), "[searchType]: invalid")
    for key, only_for in (("esQuery", "esQuery"), ("index", "esQuery"),
                          ("esqlQuery", "esqlQuery"), ("searchConfiguration", "searchSource")):
        _require(search_type == only_for or key not in out, f"[{key}]: a value wasn't expected")
    if "timeField" in out:
        # timeField: schema.conditional(... string({minLength: 1}), maybe(string({minLength: 1})))
        _require(isinstance(out["timeField"], str) and bool(out["timeField"]),
                 "[timeField]: value has length [0] but it must have a minimum length of [1].")
    if search_type == "esqlQuery":
        # esqlQuery: schema.object({esql: schema.string({minLength: 1})}): an object whose only
        # key is a non-empty `esql` string (config-schema objects refuse unknown keys).
        esql = out.get("esqlQuery")
        _require(isinstance(esql, dict), "[esqlQuery]: expected a plain object value")
        for key in esql:
            _require(key == "esql", f"[esqlQuery.{key}]: definition for this key is missing")
        _require(isinstance(esql.get("esql"), str) and bool(esql["esql"].strip()),
                 "[esqlQuery.esql]: expected a non-empty string")
        # validateParams, ES|QL branch: the condition lives in the query, so Kibana insists on
        # "more than zero rows"; the other cross-field checks are skipped.
        _require(bool(out.get("timeField")), "[timeField]: is required")
        _require(out["thresholdComparator"] == ">",
                 "[thresholdComparator]: is required to be greater than")
        _require(threshold[0] == 0, "[threshold]: is required to be 0")
        return out
    if out["thresholdComparator"] in ("between", "notBetween"):
        _require(len(threshold) == 2, "[threshold]: must have two elements")
    _require(out["aggType"] == "count" or bool(out.get("aggField")),
             f'[aggField]: must have a value when [aggType] is "{out["aggType"]}"')
    if out["groupBy"] == "top":
        _require(out.get("termField") is not None, "[termField]: termField required")
        _require(out.get("termSize") is not None, "[termSize]: termSize required")
    _require(out["groupBy"] != "row", "[groupBy]: groupBy should be all or top")
    if search_type == "esQuery":
        _require(isinstance(out.get("timeField"), str) and bool(out["timeField"]),
                 "[timeField]: expected a non-empty string")
        index = out.get("index")
        _require(isinstance(index, list) and bool(index)
                 and all(isinstance(i, str) and i for i in index),
                 "[index]: expected a non-empty array of non-empty strings")
        _require(isinstance(out.get("esQuery"), str) and bool(out["esQuery"]),
                 "[esQuery]: expected a non-empty string")
        try:
            parsed = json.loads(out["esQuery"])
        except ValueError:
            raise HttpError(400, "params invalid: [esQuery]: must be valid JSON") from None
        _require(isinstance(parsed, dict) and "query" in parsed,
                 '[esQuery]: must contain "query"')
    return out


# ALERTING common/routes/rule/apis/create/schemas/v1.ts and .../update/schemas/v1.ts: the body
# keys each accepts (config-schema refuses any other: "definition for this key is missing").
_CREATE_KEYS = {"name", "rule_type_id", "enabled", "consumer", "tags", "throttle", "params",
                "schedule", "actions", "notify_when", "alert_delay", "flapping", "artifacts"}
_UPDATE_KEYS = {"name", "tags", "schedule", "throttle", "params", "actions", "notify_when",
                "alert_delay", "flapping", "artifacts"}
_RULE_TYPES = {".es-query": validate_es_query_params}


def _check_rule_body(body: Any, allowed: set[str], required: tuple[str, ...]) -> None:
    if not isinstance(body, dict):
        raise HttpError(400, "[request body]: expected a plain object value")
    for key in body:
        if key not in allowed:
            raise HttpError(400, f"[request body.{key}]: definition for this key is missing")
    for key in required:
        if key not in body:
            raise HttpError(400, f"[request body.{key}]: expected value of type [string] "
                                 "but got [undefined]")
    interval = (body.get("schedule") or {}).get("interval") if "schedule" in body else "1m"
    if not (isinstance(interval, str) and re.fullmatch(r"\d+[smhd]", interval)):
        raise HttpError(400, "[request body.schedule.interval]: invalid duration")


# ---------------------------------------------------------------- the server

class FakeKibana(LocalHttpServer):
    # Users and whether their role may write saved objects and rules. kibana_system's reserved
    # role grants no Kibana feature privilege, so the saved-objects security extension refuses
    # it (x-pack/platform/plugins/shared/security/server/saved_objects/
    # saved_objects_security_extension.ts: "Unable to bulk_create ...").
    def __init__(self, version: str | None = None) -> None:
        self.version = version or pinned_kibana_version()
        self.users: dict[str, tuple[str, bool]] = {"elastic": ("pw", True),
                                                   "kibana_system": ("pw", False)}
        self.status_level = "available"
        self.unavailable_for = 0
        self.imports: list[dict[str, Any]] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.respond_with: tuple[int, dict[str, Any]] | None = None
        self.rules: dict[str, dict[str, Any]] = {}
        self.rule_calls: list[tuple[str, str]] = []
        self.rule_answer: dict[str, tuple[int, dict[str, Any]]] = {}
        self.api_keys_minted = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                send_json(self, status, body)

            def _user(self) -> tuple[str, bool]:
                header = self.headers.get("Authorization") or ""
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    known = fake.users.get(name)
                    if known and known[0] == password:
                        return name, known[1]
                raise HttpError(401, "Unauthorized")

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _guard_write(self) -> tuple[str, bool]:
                user = self._user()
                # src/core/packages/http/server-internal/src/lifecycle_handlers.ts (xsrf).
                if self.headers.get("kbn-xsrf") is None:
                    raise HttpError(400, "Request must contain a kbn-xsrf header.")
                return user

            def _answer(self, handler: Any) -> None:
                try:
                    self._send(*handler())
                except HttpError as exc:
                    self._send(exc.status, exc.body)

            def do_GET(self) -> None:
                if self.path.startswith("/api/status"):
                    # src/core/packages/status/server-internal/src/routes/status.ts answers
                    # without credentials, with a reduced body.
                    if fake.unavailable_for > 0:
                        fake.unavailable_for -= 1
                        return self._send(503, {"status": {"overall": {"level": "unavailable"}}})
                    return self._send(200, {"status": {"overall": {"level": fake.status_level}}})
                if self.path.startswith("/api/alerting/rule/"):
                    return self._answer(lambda: fake._get_rule(self))
                return self._send(404, {"statusCode": 404, "error": "Not Found",
                                        "message": "Not Found"})

            def do_POST(self) -> None:
                if self.path.startswith("/api/alerting/rule/"):
                    return self._answer(lambda: fake._write_rule(self, "POST"))
                if urlsplit(self.path).path == "/api/saved_objects/_import":
                    return self._answer(lambda: fake._import(self))
                return self._send(404, {"statusCode": 404, "error": "Not Found",
                                        "message": "Not Found"})

            def do_PUT(self) -> None:
                if self.path.startswith("/api/alerting/rule/"):
                    return self._answer(lambda: fake._write_rule(self, "PUT"))
                return self._send(404, {"statusCode": 404, "error": "Not Found",
                                        "message": "Not Found"})

        self.serve(Handler)

    # -- import: SO_ROUTES import.ts, then import_objects above
    def _import(self, request: Any) -> tuple[int, Any]:
        user, privileged = request._guard_write()
        raw = request._body()
        query = dict(parse_qsl(urlsplit(request.path).query))
        for key, value in query.items():
            if key not in ("overwrite", "createNewCopies", "compatibilityMode"):
                raise HttpError(400, f"[request query.{key}]: definition for this key is missing")
            if value not in ("true", "false"):
                raise HttpError(400, f"[request query.{key}]: expected value of type [boolean]")
        message: Message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + (request.headers.get("Content-Type") or "").encode()
            + b"\r\n\r\n" + raw)
        if not message.is_multipart():
            raise HttpError(415, "Unsupported Media Type")
        parts = list(message.iter_parts())
        fields = [p.get_param("name", header="content-disposition") for p in parts]
        if fields != ["file"]:
            raise HttpError(400, "[request body.file]: expected value of type [Stream]")
        part = parts[0]
        text = part.get_payload(decode=True).decode()
        self.imports.append({"path": request.path, "xsrf": request.headers.get("kbn-xsrf"),
                             "auth": request.headers.get("Authorization"), "user": user,
                             "filename": part.get_filename(), "field": fields[0], "body": text})
        if self.respond_with:
            return self.respond_with
        filename = part.get_filename() or ""
        extension = filename[filename.rfind("."):].lower() if "." in filename else ""
        if extension != ".ndjson":
            raise HttpError(400, f"Invalid file extension {extension}")
        objects = parse_ndjson(text)
        if not privileged:
            types = ",".join(sorted({str(o.get("type")) for o in objects}))
            raise HttpError(403, f"Unable to bulk_create {types}")
        overwrite = query.get("overwrite") == "true"
        return 200, import_objects(self.objects, objects, overwrite=overwrite,
                                   kibana_version=self.version)

    # -- rules: ALERTING server/routes/rule/apis/{get,create,update}/*.ts
    def _rule_id(self, request: Any, method: str) -> str:
        rule_id = urlsplit(request.path).path.rsplit("/", 1)[1]
        self.rule_calls.append((method, rule_id))
        return rule_id

    def _get_rule(self, request: Any) -> tuple[int, Any]:
        rule_id = self._rule_id(request, "GET")
        request._user()
        if "GET" in self.rule_answer:
            return self.rule_answer["GET"]
        if rule_id not in self.rules:
            raise HttpError(404, f"Saved object [alert/{rule_id}] not found")
        return 200, self.rules[rule_id]

    def _write_rule(self, request: Any, method: str) -> tuple[int, Any]:
        rule_id = self._rule_id(request, method)
        _, privileged = request._guard_write()
        try:
            body = json.loads(request._body())
        except ValueError:
            raise HttpError(400, "[request body]: could not parse JSON") from None
        if method in self.rule_answer:
            return self.rule_answer[method]
        if not privileged:
            raise HttpError(403, "Unauthorized to create/update rules")
        if method == "POST":
            _check_rule_body(body, _CREATE_KEYS, ("name", "rule_type_id", "consumer", "schedule"))
            validate = _RULE_TYPES.get(body["rule_type_id"])
            if validate is None:
                raise HttpError(400, f"Rule type [{body['rule_type_id']}] is not registered.")
            if rule_id in self.rules:
                raise HttpError(409, f"Saved object [alert/{rule_id}] conflict")
            enabled = body.get("enabled", True)
            rule = {"id": rule_id, "enabled": enabled, "name": body["name"],
                    "tags": body.get("tags", []), "rule_type_id": body["rule_type_id"],
                    "consumer": body["consumer"], "schedule": body["schedule"],
                    "params": validate(body.get("params", {})),
                    "actions": [dict(a, uuid=f"action-{n}")
                                for n, a in enumerate(body.get("actions", []))],
                    "throttle": body.get("throttle"), "notify_when": body.get("notify_when"),
                    "mute_all": False, "muted_alert_ids": [], "revision": 0,
                    "api_key_owner": "elastic", "api_key_created_by_user": False,
                    "execution_status": {"status": "pending"}}
            if enabled:
                self.api_keys_minted += 1
            self.rules[rule_id] = rule
            return 200, rule
        _check_rule_body(body, _UPDATE_KEYS, ("name", "schedule"))
        if rule_id not in self.rules:
            raise HttpError(404, f"Saved object [alert/{rule_id}] not found")
        rule = self.rules[rule_id]
        params = _RULE_TYPES[rule["rule_type_id"]](body.get("params", {}))
        rule.update(name=body["name"], tags=body.get("tags", []), schedule=body["schedule"],
                    params=params, actions=[dict(a, uuid=f"action-{n}")
                                            for n, a in enumerate(body.get("actions", []))],
                    revision=rule["revision"] + 1)
        # ALERTING server/application/rule/methods/update/update_rule.ts: updating an enabled
        # rule creates a new API key for the caller.
        if rule["enabled"]:
            self.api_keys_minted += 1
        return 200, rule
