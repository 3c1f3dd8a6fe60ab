"""The sample app's events, as Logstash's tcp input with the line codec would receive them."""

import secrets

import pytest

from tests.support.app_events import capture_sample_events, running_app
from tests.support.ndjson_listener import NdjsonListener


@pytest.fixture(scope="module")
def run():
    return capture_sample_events()


def by_request(run, kind):
    rid = run.request_ids[kind]
    return [e for e in run.events if e.get("http", {}).get("request", {}).get("id") == rid]


def access_event(run, kind):
    (event,) = [e for e in by_request(run, kind) if e["event"]["dataset"] == "flask.access"]
    return event


def test_every_event_is_ecs_shaped(run):
    for event in run.events:
        assert event["@timestamp"].endswith("Z")
        assert event["ecs"]["version"]
        assert event["service"] == {
            "name": "contract-app", "version": "1.2.3", "environment": "test", "type": "flask",
        }
        assert isinstance(event["host"], dict)
        assert event["host"]["name"]
        assert event["log"]["level"] in {"debug", "info", "warning", "error", "critical"}
        assert event["log"]["logger"]
        assert isinstance(event["process"]["pid"], int)
        assert len(event["event"]["id"]) == 32
        assert not [key for key in event if "." in key and key != "@timestamp"]


def test_one_access_event_per_request_with_duration_in_nanoseconds(run):
    for kind in run.request_ids:
        event = access_event(run, kind)
        assert isinstance(event["event"]["duration"], int)
        assert event["event"]["duration"] > 0
        assert event["http"]["request"]["method"] in {"GET", "POST"}
        assert isinstance(event["http"]["response"]["status_code"], int)
        assert event["url"]["path"].startswith("/")
        assert event["client"]["ip"] == "127.0.0.1"
    slow = access_event(run, "slow")
    assert slow["event"]["duration"] >= 20_000_000  # the endpoint slept 20 ms
    assert access_event(run, "read")["user_agent"]["original"].startswith("Mozilla/5.0")


def test_access_level_follows_status_class(run):
    expected = {"read": ("info", 200), "write": ("info", 201), "not_found": ("warning", 404),
                "invalid": ("warning", 422), "error": ("error", 500)}
    for kind, (level, status) in expected.items():
        event = access_event(run, kind)
        assert (event["log"]["level"], event["http"]["response"]["status_code"]) == (level, status)


def test_route_template_is_recorded(run):
    assert access_event(run, "not_found")["flask"]["route"] == "/api/items/<int:item_id>"


def test_exception_event_carries_stack_trace(run):
    (error,) = [e for e in by_request(run, "error") if e["event"]["dataset"] == "flask.app"
                and e["log"]["level"] == "error"]
    assert error["error"]["type"] == "ZeroDivisionError"
    assert "division by zero" in error["error"]["message"]
    assert "Traceback (most recent call last)" in error["error"]["stack_trace"]
    assert "settle_invoice" in error["error"]["stack_trace"]


def test_password_and_token_never_leave_the_process(run):
    assert run.password not in run.raw
    assert run.token not in run.raw
    login = [e for e in by_request(run, "login") if e["event"]["dataset"] == "flask.app"]
    assert login
    assert login[0]["flask"]["extra"]["credentials"]["password"] == "[REDACTED]"


def test_request_id_is_taken_from_header_and_echoed():
    with NdjsonListener() as listener, running_app(listener) as app:
        resp = app.test_client().get("/api/items", headers={"X-Request-ID": "req-42.abc"})
        assert resp.headers["X-Request-ID"] == "req-42.abc"
        events = listener.wait_for(lambda evs: any(e["event"]["dataset"] == "flask.access"
                                                   for e in evs))
        assert {e["http"]["request"]["id"] for e in events} == {"req-42.abc"}


def test_malformed_request_id_is_replaced():
    with NdjsonListener() as listener, running_app(listener) as app:
        resp = app.test_client().get("/healthz", headers={"X-Request-ID": "bad id <script>"})
        assert resp.headers["X-Request-ID"] != "bad id <script>"
        assert len(resp.headers["X-Request-ID"]) == 32


def test_traceparent_becomes_trace_id():
    trace = secrets.token_hex(16)
    with NdjsonListener() as listener, running_app(listener) as app:
        app.test_client().get("/healthz", headers={"traceparent": f"00-{trace}-{'1' * 16}-01"})
        (event,) = listener.wait_for_count(1)
        assert event["trace"]["id"] == trace


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    import ipaddress

    spoof = {"X-Forwarded-For": "203.0.113.9"}
    with NdjsonListener() as listener, running_app(listener) as app:
        app.test_client().get("/healthz", headers=spoof)
        (untrusted,) = listener.wait_for_count(1)
    with NdjsonListener() as listener, running_app(
        listener, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),)
    ) as app:
        app.test_client().get("/healthz", headers=spoof)
        (trusted,) = listener.wait_for_count(1)
    assert untrusted["client"]["ip"] == "127.0.0.1"
    assert trusted["client"]["ip"] == "203.0.113.9"


def test_json_stdout_is_redacted_too(capfd):
    password = secrets.token_urlsafe(16)
    with NdjsonListener() as listener, running_app(listener, json_stdout=True) as app:
        app.test_client().post("/api/login", json={"username": "x", "password": password})
        listener.wait_for_count(2)
    out = capfd.readouterr().out
    assert '"flask.access"' in out
    assert password not in out
