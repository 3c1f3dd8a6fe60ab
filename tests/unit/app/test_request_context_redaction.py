"""The request context's short redaction path (text only, the generated id unscanned) gives
exactly what the full walk gives, for whatever a client sends; names an operator configured
still apply to it."""

import string
from urllib.parse import quote

from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flask_logstash.captured import RequestContext
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.redaction import REDACTED, Redactor
from flask_logstash.request_context import _build_context
from flask_logstash.settings import LoggingSettings
from tests.corpus import benign_values, secret_shapes

SETTINGS = LoggingSettings()
APP = Flask(__name__)
APP.add_url_rule("/items/<path:rest>", "items", lambda rest: "")
SECRET_TEXTS = sorted({shape.text for shape in secret_shapes()})
ID_CHARS = string.ascii_letters + string.digits + "._:-"
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


def texts():
    """Generated text, the corpus's secrets and benign values, and pieces of both."""
    corpus = st.sampled_from(SECRET_TEXTS + benign_values())
    return st.one_of(HEADER_TEXT, corpus,
                     st.tuples(HEADER_TEXT, corpus, HEADER_TEXT).map("".join))


def context_for(path, query, headers):
    # A header value has no line breaks on the wire (RFC 9110, 5.5); werkzeug refuses them.
    headers = {name: " ".join(value.splitlines()) for name, value in headers.items()}
    with APP.test_request_context(path, query_string=query, headers=headers):
        return _build_context(SETTINGS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=texts(), query=texts(), agent=texts(),
    request_id=st.one_of(st.text(ID_CHARS, min_size=1, max_size=40), texts()),
    traceparent=st.one_of(texts(), st.from_regex(
        r"\A00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\Z")),
)
@example(path="x", query="", agent="", request_id="4111111111111111", traceparent="")
@example(path="x", query="", agent="", request_id="not valid!", traceparent="")
def test_the_short_path_gives_what_the_full_walk_gives(path, query, agent, request_id,
                                                        traceparent):
    formatter = EcsEventFormatter(SETTINGS)
    # The same request twice: the second finds its texts known clean (if the first scan
    # found them so) and may be used as it is.
    for _ in range(2):
        context = context_for(
            "/items/" + quote(path, safe="/"), quote(query, safe="=&%/:;+,@"),
            {"User-Agent": agent, "X-Request-ID": request_id, "traceparent": traceparent})
        assert type(context) is RequestContext  # else it would compare the full walk twice
        short, keys = formatter._redacted_context(context)
        assert short == Redactor().redact(dict(context))
        assert keys == set(context)


def test_a_context_of_known_clean_texts_is_used_as_it_is_and_a_new_text_is_scanned():
    formatter = EcsEventFormatter(SETTINGS)
    first = context_for("/items/a", "", {"User-Agent": "curl/8.0"})
    assert formatter._redacted_context(first)[0] is not first  # its texts were new
    again = context_for("/items/a", "", {"User-Agent": "curl/8.0"})
    assert formatter._redacted_context(again)[0] is again
    token = context_for("/items/a", "", {"User-Agent": "curl/8.0 token=abcdef123456"})
    short = formatter._redacted_context(token)[0]
    assert short["user_agent"]["original"] == f"curl/8.0 token={REDACTED}"
    assert token["user_agent"]["original"] == "curl/8.0 token=abcdef123456"


def test_a_client_request_id_is_scanned_and_a_generated_one_is_kept_as_made():
    card = context_for("/items/a", "", {"X-Request-ID": "4111111111111111"})
    assert card.generated_id is None
    short, _ = EcsEventFormatter(SETTINGS)._redacted_context(card)
    assert short["http"]["request"]["id"] == REDACTED
    made = context_for("/items/a", "", {"X-Request-ID": "bad id!"})
    assert made.generated_id == made["http"]["request"]["id"]
    short, _ = EcsEventFormatter(SETTINGS)._redacted_context(made)
    assert short["http"]["request"]["id"] is made.generated_id


def test_a_client_text_equal_to_the_generated_id_is_still_scanned():
    # The exemption is for the object this package made, not for text that reads the same.
    context = RequestContext(http={"request": {"id": "4111111111111111"}},
                             user_agent={"original": "4111111111111111"})
    context.generated_id = "".join(["4111", "111111111111"])  # equal, not the same object
    short, _ = EcsEventFormatter(SETTINGS)._redacted_context(context)
    assert short["user_agent"]["original"] == REDACTED
    assert short["http"]["request"]["id"] == REDACTED


def test_names_an_operator_configured_apply_to_the_context():
    context = context_for("/items/a", "", {"User-Agent": "curl/8.0"})
    configured = EcsEventFormatter(LoggingSettings(redact_extra_keys=("user_agent",)))
    short, _ = configured._redacted_context(context)
    assert short["user_agent"] == {"original": REDACTED}
    assert EcsEventFormatter(SETTINGS)._redacted_context(context)[0]["user_agent"] == {
        "original": "curl/8.0"}


def test_a_context_naming_a_static_part_merges_into_a_copy_of_it():
    import json
    import logging

    formatter = EcsEventFormatter(LoggingSettings(service_name="orders"))
    record = logging.LogRecord("a", logging.INFO, __file__, 1, "m", None, None)
    record.request_context = {"service": {"node": {"name": "n1"}}, "url": {"path": "/a"}}
    merged = json.loads(formatter.format_line(record))
    assert merged["service"]["name"] == "orders"
    assert merged["service"]["node"] == {"name": "n1"}
    assert merged["url"] == {"path": "/a"}
    plain = json.loads(formatter.format_line(
        logging.LogRecord("a", logging.INFO, __file__, 1, "m", None, None)))
    assert "node" not in plain["service"]  # the shared static part was not written into


def test_a_record_stamped_with_the_context_pickles_for_socket_handlers():
    # logging.handlers.SocketHandler and DatagramHandler pickle records with protocol 1.
    import logging
    import logging.handlers
    import pickle

    context = context_for("/items/a", "", {"User-Agent": "curl/8"})
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", None, None)
    record.request_context = context
    data = logging.handlers.SocketHandler("localhost", None).makePickle(record)
    assert pickle.loads(data[4:])["request_context"] == context


def test_a_request_context_that_is_not_a_mapping_gives_the_fallback_event():
    import json
    import logging

    record = logging.LogRecord("a", logging.INFO, __file__, 1, "m", None, None)
    record.request_context = ["ok", "hi"]  # a caller's extra; never spread into the event
    event = json.loads(EcsEventFormatter(SETTINGS).format_line(record))
    assert "o" not in event
    assert "h" not in event
    assert event["tags"] == ["event_format_failed"]
