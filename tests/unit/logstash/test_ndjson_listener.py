"""The NDJSON listener refuses what Logstash's tcp input, line codec and our parse step
would not turn into a parsed event (tests/support/ndjson_listener.py names each source)."""

import json
import socket

import pytest

from tests.support.ndjson_listener import MAX_NESTING_DEPTH, MAX_NUMBER_LENGTH, NdjsonListener

GOOD = b'{"message": "ok", "event": {"dataset": "flask.app"}}'


def send(payload: bytes, expect_events: int = 0) -> NdjsonListener:
    listener = NdjsonListener().start()
    try:
        with socket.create_connection(("127.0.0.1", listener.port)) as conn:
            conn.sendall(payload)
        # The sender closed: wait until the listener has read and flushed everything.
        listener.wait_for(lambda _: len(listener.raw) == len(payload)
                          and not listener._partial, timeout=30)
        listener.wait_for_count(expect_events, timeout=30)
    finally:
        listener.stop()
    return listener


def reasons(listener: NdjsonListener) -> list[str]:
    return [reason for reason, _ in listener.refusals]


def test_good_lines_are_events():
    listener = send(GOOD + b"\n" + GOOD + b"\r\n", expect_events=2)
    assert len(listener.events) == 2
    assert listener.refusals == []


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\n", "empty line"),
    (b"not json\n", "not JSON"),
    (b'[{"a": 1}]\n', "not a JSON object"),  # json_lines would have split it; we do not
    (b'"text"\n', "not a JSON object"),
    (b'{"a": NaN}\n', "not JSON"),
    (b'{"a": "\xff\xfe"}\n', "not UTF-8"),
    (b'{"n": ' + b"1" * (MAX_NUMBER_LENGTH + 1) + b"}\n", "number too long"),
    (json.dumps({"a": [[]] }).replace("[[]]", "[" * 1100 + "]" * 1100).encode() + b"\n",
     "nested too deep"),
])
def test_lines_logstash_would_not_parse_are_refused(payload, reason):
    listener = send(payload)
    assert listener.events == []
    assert reasons(listener) == [reason]


def test_nesting_beyond_jacksons_limit_is_refused_at_the_limit():
    from tests.support.ndjson_listener import _nesting_depth, refusal
    ok = {"a": 1}
    for _ in range(MAX_NESTING_DEPTH // 2 - 1):
        ok = {"a": ok}
    assert refusal(json.dumps(ok).encode()) is None
    too_deep = json.dumps({"a": [{"a": 1}]})
    deep = too_deep
    for _ in range(MAX_NESTING_DEPTH):
        deep = '{"a": ' + deep + "}"
    assert refusal(deep.encode()) == "nested too deep"
    # Jackson counts the outermost object as 1: 1,000 levels pass its check, 1,001 do not.
    assert _nesting_depth("[" * 1000 + "]" * 1000) == 1000
    assert refusal(("[" * 1001 + "]" * 1001).encode()) == "nested too deep"
    assert _nesting_depth('{"a": [{"b": "]]"}]}') == 3
    # An unterminated string ends the count: the parser fails there.
    assert _nesting_depth('{"a": "' + '\\"[' * 50_000) == 1
    # Brackets inside text do not nest.
    assert refusal(json.dumps({"a": "[" * 2000, "b": '\\"{' * 1500}).encode()) is None


def test_a_line_cut_off_at_close_is_flushed_as_a_bad_line_not_dropped():
    # The tcp input flushes the codec when the connection closes.
    listener = send(GOOD + b"\n" + b'{"message": "cut', expect_events=1)
    assert len(listener.events) == 1
    assert reasons(listener) == ["not JSON"]


def test_only_newline_delimits():
    listener = send(GOOD + b"\r" + GOOD + b"\n")
    assert listener.events == []
    assert reasons(listener) == ["not JSON"]
