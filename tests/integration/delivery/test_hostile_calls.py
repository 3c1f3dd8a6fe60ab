"""What a caller passes can be wrong, hostile or changing; the call still returns, and the
event still arrives, over a real socket, with what was logged at the time of the call."""

import datetime
import json
import threading

import pytest

from flask_logstash.captured import CIRCULAR, TOO_DEEP
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.settings import LoggingSettings
from tests.support.app_events import running_app
from tests.support.ndjson_listener import NdjsonListener


class StrRaises:
    def __str__(self):
        raise RuntimeError("no text for you")

    def __repr__(self):
        return "<StrRaises>"


class ReprRaises:
    def __repr__(self):
        raise ValueError("no repr either")


@pytest.fixture
def ecs_log(logger):
    listener = NdjsonListener().start()
    log, _ = logger(listener.port, formatter=EcsEventFormatter(LoggingSettings()))
    yield log, listener
    listener.stop()


def by_marker(listener, count):
    events = listener.wait_for_count(count, timeout=10)
    return {e["flask"]["extra"]["marker"]: e for e in events}


def test_a_faulty_log_call_never_raises_and_keeps_raw_message_and_arguments(ecs_log, capfd):
    log, listener = ecs_log
    log.info("%d items", "x", extra={"marker": "wrong-type"})
    log.info("%(key)s", {"other": 1}, extra={"marker": "missing-key"})
    log.info("value %s", StrRaises(), extra={"marker": "str-raises"})
    log.info(StrRaises(), extra={"marker": "message-object-raises"})
    events = by_marker(listener, 4)
    assert events["wrong-type"]["message"] == "%d items"
    assert events["wrong-type"]["flask"]["extra"]["message_args"] == "('x',)"
    assert "TypeError" in events["wrong-type"]["flask"]["extra"]["message_error"]
    assert events["missing-key"]["message"] == "%(key)s"
    assert events["missing-key"]["flask"]["extra"]["message_args"] == "{'other': 1}"
    assert events["str-raises"]["flask"]["extra"]["message_args"] == "(<StrRaises>,)"
    assert events["message-object-raises"]["message"] == "<StrRaises>"
    # Handler.handleError's report, once per faulty call.
    assert capfd.readouterr().err.count("--- Logging error ---") == 4


def test_unformattable_extras_arrive_bounded_and_marked(ecs_log):
    log, listener = ecs_log
    circular: dict = {"name": "loop"}
    circular["self"] = circular
    deep: dict = {}
    node = deep
    for _ in range(600):
        node["child"] = {}
        node = node["child"]
    log.info("circular", extra={"marker": "circular", "data": circular})
    log.info("deep", extra={"marker": "deep", "data": deep})
    log.info("tuple key", extra={"marker": "tuple-key", "data": {("a", 1): "v", 2: "w"}})
    log.info("repr raises", extra={"marker": "repr", "data": [ReprRaises()]})
    log.info("ecs not a dict", extra={"marker": "ecs", "ecs": "not-a-dict"})
    events = by_marker(listener, 5)
    assert events["circular"]["flask"]["extra"]["data"] == {"name": "loop", "self": CIRCULAR}
    level, depth = events["deep"]["flask"]["extra"]["data"], 0
    while isinstance(level, dict):
        level, depth = level["child"], depth + 1
    assert level == TOO_DEEP
    assert 10 < depth < 600
    assert events["tuple-key"]["flask"]["extra"]["data"] == {"('a', 1)": "v", "2": "w"}
    assert events["repr"]["flask"]["extra"]["data"] == [
        "<unrepresentable ReprRaises: ValueError>"
    ]
    assert events["ecs"]["flask"]["extra"]["ecs"] == "not-a-dict"
    assert events["ecs"]["event"]["dataset"] == "flask.app"


def test_a_600_deep_login_body_with_stdout_on_is_logged_not_a_500(capfd):
    body: dict = {"username": "demo", "password": "pw-123456"}
    node = body
    for _ in range(600):
        node["x"] = {}
        node = node["x"]
    with NdjsonListener() as listener, running_app(listener, json_stdout=True) as app:
        response = app.test_client().post("/api/login", data=json.dumps(body),
                                          content_type="application/json")
        assert response.status_code < 500
        events = listener.wait_for(
            lambda evs: any(e["message"].startswith("login attempt") for e in evs), 10
        )
    (central,) = [e for e in events if e["message"].startswith("login attempt")]
    assert TOO_DEEP in json.dumps(central)
    out = capfd.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    logged = [e for e in lines if e["message"].startswith("login attempt")]
    assert len(logged) == 1
    assert logged[0]["flask"]["extra"]["credentials"]["password"] == "[REDACTED]"
    assert TOO_DEEP in json.dumps(logged[0])
    assert "Traceback" not in out.err


def test_extra_is_what_it_was_at_the_call(ecs_log):
    log, listener = ecs_log
    items: list[int] = []
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901,
                             tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    for i in range(200):
        items.append(i)
        log.info("step", extra={"marker": f"m{i}", "items": items, "state": {"i": i},
                                "when": when})
    items.clear()
    events = by_marker(listener, 200)
    wrong = [i for i in range(200) if events[f"m{i}"]["flask"]["extra"]["items"] != list(
        range(i + 1))]
    assert wrong == []
    assert events["m7"]["flask"]["extra"]["when"] == "2026-01-02T03:04:05.678901+05:30"


def test_concurrent_mutation_of_extra_loses_no_event(ecs_log, capfd):
    log, listener = ecs_log
    shared: dict = {}
    stop = threading.Event()

    def mutate():
        n = 0
        while not stop.is_set():
            shared[n % 500] = n
            if n % 500 == 499:
                shared.clear()
            n += 1

    mutator = threading.Thread(target=mutate)
    mutator.start()
    try:
        for i in range(2000):
            log.info("tick", extra={"marker": f"t{i}", "shared": shared})
    finally:
        stop.set()
        mutator.join()
    events = by_marker(listener, 2000)
    assert len(events) == 2000
    assert "changed size" not in capfd.readouterr().err
