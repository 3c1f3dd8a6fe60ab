"""A small real HTTP server answering Kibana's status and saved-objects import APIs."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_http import LocalHttpServer, send_json


class FakeKibana(LocalHttpServer):
    def __init__(self) -> None:
        self.status_level = "available"
        self.unavailable_for = 0
        self.imports: list[dict[str, Any]] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.respond_with: tuple[int, dict[str, Any]] | None = None
        self.rules: dict[str, dict[str, Any]] = {}
        self.rule_calls: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                send_json(self, status, body)

            def do_GET(self) -> None:
                if self.path.startswith("/api/status"):
                    if fake.unavailable_for > 0:
                        fake.unavailable_for -= 1
                        return self._send(503, {"status": {"overall": {"level": "unavailable"}}})
                    return self._send(200, {"status": {"overall": {"level": fake.status_level}}})
                if self.path.startswith("/api/alerting/rule/"):
                    rule_id = self.path.rsplit("/", 1)[1]
                    fake.rule_calls.append(("GET", rule_id))
                    if rule_id not in fake.rules:
                        return self._send(404, {"message": "not found"})
                    return self._send(200, {"id": rule_id, "enabled": True, **fake.rules[rule_id]})
                return self._send(404, {})

            def _rule_write(self, method: str) -> None:
                rule_id = self.path.rsplit("/", 1)[1]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.rule_calls.append((method, rule_id))
                if self.headers.get("kbn-xsrf") != "true":
                    return self._send(400, {"message": "missing kbn-xsrf"})
                if method == "POST":
                    if rule_id in fake.rules:
                        return self._send(409, {"message": "already exists"})
                    fake.rules[rule_id] = body
                else:
                    if {"rule_type_id", "consumer"} & set(body):
                        return self._send(400, {"message": "cannot change rule type"})
                    fake.rules[rule_id].update(body)
                return self._send(200, {"id": rule_id, **fake.rules[rule_id]})

            def do_PUT(self) -> None:
                self._rule_write("PUT")

            def do_POST(self) -> None:
                if self.path.startswith("/api/alerting/rule/"):
                    return self._rule_write("POST")
                length = int(self.headers["Content-Length"])
                raw = self.rfile.read(length)
                message = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
                part = next(message.iter_parts())
                record = {"path": self.path, "xsrf": self.headers.get("kbn-xsrf"),
                          "auth": self.headers.get("Authorization"),
                          "filename": part.get_filename(), "field": part.get_param(
                              "name", header="content-disposition"),
                          "body": part.get_payload(decode=True).decode()}
                fake.imports.append(record)
                if fake.respond_with:
                    return self._send(*fake.respond_with)
                results = []
                for line in record["body"].splitlines():
                    obj = json.loads(line)
                    key = (obj["type"], obj["id"])
                    results.append({"type": obj["type"], "id": obj["id"],
                                    "overwrite": key in fake.objects})
                    fake.objects[key] = obj
                return self._send(200, {"success": True, "successCount": len(results),
                                        "successResults": results})

        self.serve(Handler)
