"""Run the sample app against a real listener and hand back what it sent.

Used by the integration tests and by the contract tests, which check every field of these
real events against the Elasticsearch templates.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

import flask_logstash
from flask_logstash import LoggingSettings
from sample_service import create_app
from tests.support.ndjson_listener import NdjsonListener


@contextmanager
def running_app(listener: NdjsonListener, **overrides: Any) -> Iterator[Flask]:
    """The sample app logging to `listener`; logging is torn down afterwards."""
    settings = LoggingSettings(
        logstash_port=listener.port, service_name="contract-app", service_version="1.2.3",
        service_environment="test", **overrides,
    )
    flask_logstash.shutdown_logging()
    app = create_app({"LOGGING": settings, "SLOW_MAX_MS": 50, "TESTING": False})
    try:
        yield app
    finally:
        flask_logstash.shutdown_logging()


@dataclass
class SampleRun:
    events: list[dict[str, Any]]
    raw: str
    password: str
    token: str
    request_ids: dict[str, str] = field(default_factory=dict)


def exercise_every_endpoint(app: Flask, password: str, token: str) -> dict[str, str]:
    """One request of each kind the service has; returns request ids by kind."""
    client = app.test_client()
    agent = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
    }
    calls = {
        "read": client.get("/api/items", headers=agent),
        "write": client.post("/api/items", json={"name": "lamp", "price_cents": 990}),
        "not_found": client.get("/api/items/999"),
        "invalid": client.post("/api/items", json={"name": "", "price_cents": -1}),
        "slow": client.get("/api/slow?ms=20"),
        "error": client.get("/api/fail"),
        "login": client.post(
            "/api/login?token=" + token,
            json={"username": "demo", "password": password, "token": token},
            headers={"Authorization": f"Bearer {token}"},
        ),
        "health": client.get("/healthz"),
    }
    return {kind: resp.headers["X-Request-ID"] for kind, resp in calls.items()}


def capture_sample_events(timeout: float = 10.0) -> SampleRun:
    password, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    with NdjsonListener() as listener, running_app(listener) as app:
        ids = exercise_every_endpoint(app, password, token)
        access = lambda evs: sum(e["event"]["dataset"] == "flask.access" for e in evs)  # noqa: E731
        listener.wait_for(lambda evs: access(evs) >= len(ids), timeout)
        return SampleRun(list(listener.events), listener.raw_text(), password, token, ids)
