"""The package's own access fields (`Internal`) go into an event by reference, layered over
the request context and the static parts; the result must read exactly as the copying merge
that a caller's fields get, and nothing shared may change for the request's other events."""

import copy
import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_logstash.captured import Internal, RequestContext
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.settings import LoggingSettings

# Names that collide with what every event has (static parts, the formatter's own objects,
# the context's) and with each other; none is a sensitive name, and the leaves are values
# redaction keeps, so the copying path's redaction changes nothing and only merging differs.
NAMES = st.sampled_from(["http", "event", "service", "host", "ecs", "url", "response",
                         "request", "id", "name", "body", "bytes", "status_code", "a"])
LEAVES = st.one_of(st.integers(-999, 999), st.sampled_from(["ok", "GET", "", "x"]),
                   st.booleans(), st.none(), st.lists(st.sampled_from(["web", "ab"]),
                                                      max_size=2))
TREES = st.recursive(LEAVES, lambda inner: st.dictionaries(NAMES, inner, max_size=4),
                     max_leaves=12)
FIELDS = st.dictionaries(NAMES, TREES, max_size=5)


def _record(msg, fields, context):
    record = logging.LogRecord("flask_logstash.access", logging.INFO, __file__, 7, msg, None,
                               None)
    record.ecs = fields
    record.request_context = context
    return record


def _context():
    context = RequestContext(http={"request": {"id": "r-1", "method": "GET"}},
                             url={"path": "/api/items"}, event={"kind": "x"})
    context.generated_id = None
    return context


@settings(max_examples=300, deadline=None)
@given(FIELDS)
def test_layered_internal_fields_read_as_the_copying_merge(fields):
    formatter = EcsEventFormatter(LoggingSettings(service_name="orders", host_name="web-1"))
    context = _context()
    context_before = copy.deepcopy(dict(context))
    static_before = copy.deepcopy(formatter._static)
    layered = json.loads(formatter.format_line(_record("m", Internal(fields), context)))
    copied = json.loads(formatter.format_line(_record("m", copy.deepcopy(fields), context)))
    for event in (layered, copied):
        del event["@timestamp"]
        if isinstance(event.get("event"), dict):  # unless the fields replaced the object
            del event["event"]["id"], event["event"]["sequence"]
    assert layered == copied
    # Nothing the request's next records or the process's next events read has changed.
    assert dict(context) == context_before
    assert formatter._static == static_before
    later = json.loads(formatter.format_line(_record("later", None, context)))
    assert later["http"] == context_before["http"]
    assert later["service"] == static_before["service"]


def test_an_error_on_a_record_with_layered_fields_stays_its_own():
    formatter = EcsEventFormatter(LoggingSettings(service_name="orders", host_name="web-1"))
    context = _context()
    fields = Internal({"error": {"code": "E1"}, "http": {"response": {"status_code": 500}}})
    record = _record("failed", fields, context)
    record.stack_info = "Stack (most recent call last): here"
    record.note = "extra"
    first = json.loads(formatter.format_line(record))
    assert first["error"] == {"code": "E1", "stack_trace": "Stack (most recent call last): here"}
    assert first["http"] == {"request": {"id": "r-1", "method": "GET"},
                             "response": {"status_code": 500}}
    assert fields == {"error": {"code": "E1"}, "http": {"response": {"status_code": 500}}}
    again = json.loads(formatter.format_line(_record("again", fields, context)))
    assert again["error"] == {"code": "E1"}
