"""The formatter redacts everything a caller or a request supplied, and always emits JSON."""

import json
import logging
import sys
import threading

from flask_logstash.captured import capture_fields
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.redaction import REDACTED
from flask_logstash.settings import LoggingSettings

FORMATTER = EcsEventFormatter(LoggingSettings(service_name="orders", host_name="web-1"))


def make_record(msg="hello", *, exc_info=None, **attrs):
    record = logging.LogRecord("orders.api", logging.INFO, __file__, 10, msg, None, exc_info)
    for key, value in attrs.items():
        setattr(record, key, value)
    return record


def test_secrets_in_every_supplied_part_are_redacted():
    try:
        raise ValueError("login failed for password=hunter2")
    except ValueError:
        exc_info = sys.exc_info()
    record = make_record(
        "called back with token=abc123456",
        exc_info=exc_info,
        request_context={
            "http": {"request": {"id": "r1", "method": "GET"}},
            "user_agent": {"original": "curl Bearer abcdefghijklmnop"},
            "url": {"path": "/cb", "query": "api_key=k-999999"},
        },
        ecs={"labels": {"session_id": "s-42"}, "event": {"dataset": "flask.access"}},
        customer={"cardNumber": "4111111111111111", "note": "card 4111 1111 1111 1111"},
    )
    line = FORMATTER.format_line(record)
    for secret in ("hunter2", "abc123456", "abcdefghijklmnop", "k-999999", "s-42",
                   "4111111111111111", "4111 1111 1111 1111"):
        assert secret.encode() not in line, secret
    event = json.loads(line)
    assert event["message"] == f"called back with token={REDACTED}"
    assert event["labels"]["session_id"] == REDACTED
    assert event["error"]["type"] == "ValueError"
    assert "hunter2" not in event["error"]["stack_trace"]


def test_supplied_fields_merge_over_the_formatters_own():
    event = json.loads(FORMATTER.format_line(make_record(
        event_id="e" * 32, ecs={"event": {"dataset": "flask.access", "duration": 5}})))
    sequence = event["event"].pop("sequence")
    assert isinstance(sequence, int)
    assert event["event"] == {"id": "e" * 32, "dataset": "flask.access", "kind": "event",
                              "module": "flask", "duration": 5}
    assert event["service"]["name"] == "orders"
    assert event["host"]["name"] == "web-1"
    assert event["log"]["logger"] == "orders.api"


def test_wire_line_is_the_same_event_as_the_text_form():
    record = make_record("plain", event_id="f" * 32)
    line = FORMATTER.format_line(record)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == json.loads(FORMATTER.format(record))


def test_values_the_fast_encoder_refuses_still_make_valid_json():
    record = make_record("broken \ud800 text", big=2**70, odd=object())
    event = json.loads(FORMATTER.format_line(record))
    assert event["message"] == "broken \ud800 text"
    assert event["flask"]["extra"]["big"] == 2**70
    assert event["flask"]["extra"]["odd"].startswith("<object object")


def test_records_of_one_request_never_leak_fields_into_each_other():
    context = {"http": {"request": {"id": "r1", "method": "POST"}},
               "url": {"path": "/api/items", "query": "token=abcdefgh"}}
    snapshot = json.dumps(context, sort_keys=True)
    first = json.loads(FORMATTER.format_line(make_record(
        "first", request_context=context,
        ecs={"http": {"request": {"body": {"bytes": 5}}}, "url": {"fragment": "x"}})))
    second = json.loads(FORMATTER.format_line(make_record("second", request_context=context)))
    assert first["http"]["request"] == {"id": "r1", "method": "POST", "body": {"bytes": 5}}
    assert second["http"]["request"] == {"id": "r1", "method": "POST"}
    assert second["url"] == {"path": "/api/items", "query": f"token={REDACTED}"}
    assert json.dumps(context, sort_keys=True) == snapshot  # the request's own dict untouched


def test_exception_and_stack_fields_follow_the_callers_own_error_fields():
    try:
        raise KeyError("missing")
    except KeyError:
        exc_info = sys.exc_info()
    event = json.loads(FORMATTER.format_line(make_record(
        "boom", exc_info=exc_info, ecs={"error": {"code": "E42", "stack_trace": "given"}})))
    assert event["error"]["code"] == "E42"
    assert event["error"]["type"] == "KeyError"
    assert "raise KeyError" in event["error"]["stack_trace"]  # the real trace wins
    kept = json.loads(FORMATTER.format_line(make_record(
        "where", stack_info="Stack (most recent call last): ...",
        ecs={"error": {"stack_trace": "given"}})))
    assert kept["error"]["stack_trace"] == "given"  # stack_info only fills a gap
    filled = json.loads(FORMATTER.format_line(make_record(
        "where", stack_info="Stack (most recent call last): ...")))
    assert filled["error"]["stack_trace"].startswith("Stack")


def test_timestamps_keep_microseconds():
    record = make_record("m")
    record.created = 1767225600.123456
    event = json.loads(FORMATTER.format_line(record))
    assert event["@timestamp"] == "2026-01-01T00:00:00.123456Z"


def test_an_oversized_event_is_truncated_with_a_marker_and_keeps_its_identity():
    from flask_logstash.ecs_formatter import MAX_EVENT_BYTES, TRUNCATED_MARKER

    record = make_record("m" * (2 * MAX_EVENT_BYTES), event_id="e" * 32,
                         blob=["x" * 1000] * 900)
    line = FORMATTER.format_line(record)
    assert len(line) <= MAX_EVENT_BYTES
    event = json.loads(line)
    assert event["event"]["id"] == "e" * 32
    assert event["message"].endswith(TRUNCATED_MARKER)
    assert "event_truncated" in event["tags"]
    assert event["flask"]["extra"]["event_original_bytes"] > 2 * MAX_EVENT_BYTES


def test_event_sequence_follows_the_calls_across_threads():
    # Kibana orders events of one process by event.sequence where @timestamp ties; each call
    # gets its own number, in the order the calls were made on each thread.
    formatter = FORMATTER
    per_thread: dict[int, list[int]] = {}

    def log_some(n: int) -> None:
        seen = per_thread.setdefault(n, [])
        for i in range(500):
            record = make_record(f"t{n} {i}")
            capture_fields(record)  # what the handler's emit does on the calling thread
            seen.append(json.loads(formatter.format(record))["event"]["sequence"])

    threads = [threading.Thread(target=log_some, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = [s for seen in per_thread.values() for s in seen]
    assert len(set(numbers)) == len(numbers) == 8 * 500
    assert all(seen == sorted(seen) for seen in per_thread.values())


def test_parts_shared_between_events_are_copied_before_an_event_changes_them():
    # The static parts and a request's redacted context go into every event by reference;
    # whatever one record adds to them (its ECS fields, extras, error) must stay its own.
    context = {"http": {"request": {"id": "r2", "method": "GET"}},
               "flask": {"route": "/api/items"}, "error": {"code": "from-context"}}
    try:
        raise RuntimeError("first only")
    except RuntimeError:
        exc_info = sys.exc_info()
    first = json.loads(FORMATTER.format_line(make_record(
        "first", request_context=context, exc_info=exc_info, note="first only",
        ecs={"service": {"name": "billing"}, "host": {"ip": ["10.0.0.1"]},
             "ecs": {"version": "0"}, "http": {"request": {"bytes": 9}}})))
    second = json.loads(FORMATTER.format_line(make_record("second", request_context=context)))
    assert first["service"]["name"] == "billing"
    assert first["flask"] == {"route": "/api/items", "extra": {"note": "first only"}}
    assert first["error"]["type"] == "RuntimeError"
    assert second["service"]["name"] == "orders"
    assert "ip" not in second["host"]
    assert second["ecs"] == {"version": "8.11.0"}
    assert second["http"]["request"] == {"id": "r2", "method": "GET"}
    assert second["flask"] == {"route": "/api/items"}
    assert second["error"] == {"code": "from-context"}


def test_one_record_gets_one_event_id_whichever_thread_formats_it_first():
    # The stdout handler formats on the calling thread while the delivery thread may format
    # the same record: both copies must carry one id.
    record = make_record("twice")
    start = threading.Barrier(8)
    ids: list[str] = []

    def format_it() -> None:
        start.wait()
        ids.append(json.loads(FORMATTER.format_line(record))["event"]["id"])

    threads = [threading.Thread(target=format_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8
    assert len(set(ids)) == 1
    other = json.loads(FORMATTER.format_line(make_record("twice")))["event"]["id"]
    assert other != ids[0]
    given = json.loads(FORMATTER.format_line(make_record("m", event_id="a" * 32)))
    assert given["event"]["id"] == "a" * 32


def test_the_packages_own_access_fields_skip_redaction_and_callers_fields_do_not():
    from flask_logstash.captured import Internal

    luhn_valid = 4111111111111111  # a card number, as a caller's integer would be
    ours = json.loads(FORMATTER.format_line(make_record(
        "GET / 200", ecs=Internal({"event": {"duration": luhn_valid}}))))
    callers = json.loads(FORMATTER.format_line(make_record(
        "m", ecs={"event": {"duration": luhn_valid}})))
    assert ours["event"]["duration"] == luhn_valid
    assert callers["event"]["duration"] == REDACTED


def _access_record(settings):
    from flask import Flask

    from flask_logstash.request_context import access_logger, install_request_hooks
    from tests.support.records import KeepRecords

    app = Flask(__name__)
    install_request_hooks(app, settings)
    app.add_url_rule("/ok", "ok", lambda: "fine")
    keep = KeepRecords()
    access_logger.addHandler(keep)
    old_level = access_logger.level
    access_logger.setLevel(logging.INFO)
    try:
        assert app.test_client().get("/ok?a=b").status_code == 200
    finally:
        access_logger.removeHandler(keep)
        access_logger.setLevel(old_level)
    (record,) = keep.records
    return record


def test_configured_names_are_masked_in_access_events_too():
    # LOG_REDACT_EXTRA_KEYS applies to a key at any depth (docs/logging.md), the access
    # event's own keys included.
    settings = LoggingSettings(redact_extra_keys=("status",))
    event = json.loads(EcsEventFormatter(settings).format_line(_access_record(settings)))
    assert event["http"]["response"]["status_code"] == REDACTED


def test_skipping_the_walk_for_access_fields_changes_nothing_under_the_built_in_rules():
    from flask_logstash.redaction import Redactor

    record = _access_record(LoggingSettings())
    (ecs, _extra) = capture_fields(record)
    assert ecs, "the access event carries its ECS fields"
    assert Redactor().redact(dict(ecs)) == json.loads(json.dumps(ecs))


def test_an_oversized_event_whose_flask_field_is_not_an_object_is_still_formatted():
    from flask_logstash.ecs_formatter import MAX_EVENT_BYTES

    for flask_value in ("x", "extra", 7):
        record = make_record("m", ecs={"flask": flask_value,
                                       "labels": {str(i): "a b" * 10000 for i in range(20)}})
        line = FORMATTER.format_line(record)
        assert len(line) <= MAX_EVENT_BYTES + 1
        assert "event_truncated" in json.loads(line)["tags"]


def test_keys_that_are_not_text_still_serialise_with_orjson():
    # Only a caller's own request_context extra reaches the serialiser uncaptured; orjson's
    # mode for such keys is taken only when needed, and the text stays UTF-8, not escaped.
    line = FORMATTER.format_line(make_record(
        "café", request_context={"labels": {1: "un", 2.5: "deux", None: "rien"}}))
    assert "café".encode() in line
    event = json.loads(line)
    assert event["labels"] == {"1": "un", "2.5": "deux", "null": "rien"}
    assert "tags" not in event  # not the fallback event


class _ComparingType(type):
    def __eq__(cls, other):  # makes the type itself unhashable
        return cls is other

    __hash__ = None


class _Fields(dict, metaclass=_ComparingType):
    pass


def test_merge_copies_a_dict_subclass_whose_type_cannot_be_hashed():
    from flask_logstash.ecs_formatter import merge

    merged = merge({"labels": {"b": "2"}}, {"labels": _Fields(a="1")})
    assert merged == {"labels": {"b": "2", "a": "1"}}
