"""Whatever a caller passes as `extra`, the formatter makes one valid JSON line of it."""

import datetime
import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_logstash.captured import MAX_DEPTH, capture
from flask_logstash.ecs_formatter import MAX_EVENT_BYTES, EcsEventFormatter
from flask_logstash.settings import LoggingSettings

FORMATTER = EcsEventFormatter(LoggingSettings())


class Odd:
    def __repr__(self):
        raise RuntimeError("no")

    def _repr_pretty_(self, printer, cycle):  # how hypothesis shows an example
        printer.text("Odd()")


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=20),
    st.datetimes(timezones=st.none() | st.timezones()), st.just(Odd()),
)
keys = st.one_of(st.text(), st.integers(), st.tuples(st.integers(), st.text()), st.none())
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None)
@given(extra=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, max_size=4))
def test_any_extra_makes_one_valid_bounded_json_line(extra):
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m %s", ("a",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    record.event_id = "e" * 32
    line = FORMATTER.format_line(record)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert len(line) <= MAX_EVENT_BYTES + 1
    event = json.loads(line)
    assert event["event"]["id"] == "e" * 32
    assert event["message"] == "m a"


def test_depth_is_capped_and_aware_datetimes_keep_their_zone():
    nested: list = []
    node = nested
    for _ in range(MAX_DEPTH * 3):
        node.append([])
        node = node[0]
    text = json.dumps(capture(nested))
    assert text.count("[") <= MAX_DEPTH + 1
    zone = datetime.timezone(datetime.timedelta(hours=-3))
    when = datetime.datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=zone)
    assert capture({"at": when}) == {"at": "2026-03-01T12:00:00.000005-03:00"}
