"""A small real HTTP server that answers the Elasticsearch APIs provisioning uses.

It stores what is PUT, enforces basic auth, records every call in order, and can be told to
fail a given call, so provisioning logic is tested through the official client over a real
socket rather than through mocks.
"""

from __future__ import annotations

import base64
import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_http import LocalHttpServer, send_json

PRODUCT_HEADERS = {"X-Elastic-Product": "Elasticsearch",
                   "Content-Type": "application/vnd.elasticsearch+json;compatible-with=9"}


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
        self.calls: list[tuple[str, str]] = []
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
                body = json.loads(self.rfile.read(length) or b"null")
                path = self.path.split("?")[0]
                fake.calls.append((method, path))
                if fake.unavailable_for > 0:
                    fake.unavailable_for -= 1
                    return self._send(503, {"error": "not ready"})
                user = self._user()
                if user is None:
                    return self._send(401, {"error": {
                        "type": "security_exception",
                        "reason": "missing authentication credentials"}})
                if (method, path) in fake.fail:
                    return self._send(*fake.fail[(method, path)])
                self._route(method, path, body, user)

            def _route(self, method: str, path: str, body: Any, user: str) -> None:
                if path == "/":
                    return self._send(200, {"version": {"number": "9.5.6"}})
                if path == "/_security/_authenticate":
                    return self._send(200, {"username": user})
                if m := re.fullmatch(r"/_security/user/([^/]+)/_password", path):
                    if m.group(1) not in fake.passwords and m.group(1) not in fake.users:
                        return self._send(404, {"error": "no such user"})
                    fake.passwords[m.group(1)] = body["password"]
                    return self._send(200, {})
                stores = {
                    r"/_security/role/([^/]+)": fake.roles,
                    r"/_security/user/([^/]+)": fake.users,
                    r"/_ilm/policy/([^/]+)": fake.ilm,
                    r"/_component_template/([^/]+)": fake.components,
                    r"/_index_template/([^/]+)": fake.index_templates,
                    r"/_snapshot/([^/]+)": fake.repositories,
                    r"/_slm/policy/([^/]+)": fake.slm,
                }
                for pattern, store in stores.items():
                    if m := re.fullmatch(pattern, path):
                        return self._store(method, m.group(1), store, body)
                return self._send(404, {"error": f"no route {path}"})

            def _store(self, method: str, name: str, store: dict[str, Any], body: Any) -> None:
                if method in ("PUT", "POST"):
                    if store is fake.users and "password" in body:
                        fake.passwords[name] = body.pop("password")
                    created = name not in store
                    store[name] = body
                    return self._send(200, {"created": created, "acknowledged": True})
                if name not in store:
                    return self._send(404, {})
                if store is fake.ilm:
                    return self._send(200, {name: {"version": 1, "policy": store[name]["policy"]}})
                if store is fake.components:
                    return self._send(200, {"component_templates": [
                        {"name": name, "component_template": store[name]}]})
                if store is fake.index_templates:
                    return self._send(200, {"index_templates": [
                        {"name": name, "index_template": store[name]}]})
                if store is fake.slm:
                    return self._send(200, {name: {"version": 1, "policy": store[name]}})
                if store is fake.repositories:
                    stored = store[name]
                    # Settings come back as strings, booleans lower-case
                    # (org.elasticsearch.common.settings.Settings keeps strings).
                    settings = {k: json.dumps(v) if isinstance(v, bool | int | float) else str(v)
                                for k, v in stored.get("settings", {}).items()}
                    return self._send(200, {name: {"type": stored["type"], "settings": settings}})
                if store is fake.users:
                    return self._send(200, {name: {"username": name, **store[name]}})
                return self._send(200, {name: store[name]})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_POST(self) -> None:
                self._handle("POST")

        self.serve(Handler)

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] in ("PUT", "POST")]
