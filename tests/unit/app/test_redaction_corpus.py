"""Every secret shape of tests/corpus, in every position the redactor sees, is removed; every
benign value is left exactly as it was."""

import json

import pytest

from flask_logstash.redaction import REDACTED, Redactor
from tests.corpus import EXTRA_KEYS, benign_values, leaks, secret_shapes

CONFIGURED = Redactor(extra_keys=EXTRA_KEYS)
SHAPES = secret_shapes()


def positions(shape):
    """The same secret as each kind of value the formatter hands to the redactor."""
    text = shape.text
    yield "text", text
    yield "sentence", f"while handling it: {text} (retrying)"
    yield "line_of_many", f"first line\n{text}\nlast line"
    yield "nested_text", {"a": [{"b": text}], "t": (text,)}
    yield "query", {"url": {"query": shape.raw_query}}
    if shape.name:
        value = shape.dict_value
        yield "dict_key", {shape.name: value}
        yield "nested_dict_key", {"outer": {"list": [{shape.name: value}]}}
        yield "object_under_key", {shape.name: {"inner": value}}
        yield "header_pairs", {"headers": [(shape.name, value), ("Host", "api")]}
        yield "kwargs_text", f"connect(host='db', {shape.name}={value!r})"


CASES = [(shape, where, value) for shape in SHAPES for where, value in positions(shape)]


@pytest.mark.parametrize(
    ("shape", "where", "value"), CASES, ids=[f"{s.id}-{w}" for s, w, _ in CASES]
)
def test_no_piece_of_a_secret_survives(shape, where, value):
    out = json.dumps(CONFIGURED.redact(value), ensure_ascii=False)
    assert not leaks(shape, out), out
    assert REDACTED in out


@pytest.mark.parametrize("value", benign_values())
def test_benign_values_are_left_exactly_as_they_were(value):
    assert CONFIGURED.redact_text(value) == value
    assert CONFIGURED.redact({"note": value, "list": [value]}) == {"note": value, "list": [value]}
    sentence = f"request done: {value} (ok)"
    assert CONFIGURED.redact_text(sentence) == sentence


def test_every_leak_class_of_the_issue_is_in_the_corpus():
    classes = {shape.leak_class for shape in SHAPES}
    assert classes >= {
        "kv_name", "kv_short_name", "colon_or_json_text", "encoded", "bracket",
        "url_credentials", "cloud_key_id", "private_key", "provider_token", "authorization",
        "jwt", "card", "dict_key", "header_pairs", "extra_keys",
    }
