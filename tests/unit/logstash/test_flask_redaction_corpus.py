"""The secret corpus (tests/corpus) through the Logstash filter, run for real under Ruby, in
the places a line reaches it: a JSON line with the secret in message, url.query, extras, an
array, a list of header pairs, and a line that is not JSON. Zero secrets out; the benign
corpus unchanged. Configured extra keys come from LOG_REDACT_EXTRA_KEYS, as in the app."""

import json

import pytest

from flask_logstash.redaction import Redactor
from tests.corpus import EXTRA_KEYS, benign_values, leaks, secret_shapes
from tests.unit.logstash.redaction_probe import EXTRA_KEYS_ENV, redact_texts
from tests.unit.logstash.ruby_filters import run_ruby
from tests.unit.logstash.test_flask_redaction import REDACT, received

ENV = {EXTRA_KEYS_ENV: ",".join(EXTRA_KEYS)}
SHAPES = secret_shapes()
APP = Redactor(extra_keys=EXTRA_KEYS)


def app_event(**fields):
    return json.dumps({"event": {"dataset": "flask.app"}, **fields})


def positions(shape):
    """(position, raw line) pairs: what the tcp input hands the filter."""
    text = shape.text
    yield "message", app_event(message=text)
    yield "message_sentence", app_event(message=f"while handling it: {text} (retrying)")
    yield "url_query", app_event(url={"query": shape.raw_query, "path": "/api/items"})
    yield "extra", app_event(flask={"extra": {"note": text}})
    yield "array", app_event(labels={"list": ["first", [text], {"deep": [text]}]})
    yield "error_stack", app_event(error={"stack_trace": f"Traceback:\n  raise X({text!r})\n"})
    if "\n" not in text:
        # The line codec splits at "\n": a multi-line secret never arrives as one plain line.
        yield "plain_line", f"2026-11-29 10:00:00 ERROR foreign sender: {text}"
    if shape.name:
        value = shape.dict_value
        yield "extra_key", app_event(flask={"extra": {shape.name: value}})
        yield "object_under_key", app_event(flask={"extra": {shape.name: {"inner": value}}})
        yield "header_pairs", app_event(http={"request": {"headers": [[shape.name, value],
                                                                       ["Host", "api"]]}})


def everything(outcome) -> str:
    """All the filter hands on. The line and the id source are JSON text already: taken as
    they are, not escaped a second time inside the event (the corpus counts a secret's
    JSON-escaped form as a leak, and `"cvv2":"` escaped twice looks like one)."""
    metadata = dict(outcome.metadata)
    inner = [metadata.pop("line", ""), metadata.pop("id_source", "")]
    rest = {**outcome.event, "@metadata": metadata}
    return "\n".join([json.dumps(rest, ensure_ascii=False), *inner])


CASES = [(shape, where, line) for shape in SHAPES for where, line in positions(shape)]


@pytest.fixture(scope="module")
def outcomes():
    return run_ruby(REDACT, [received(line) for _, _, line in CASES], env=ENV)


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{s.id}-{w}" for s, w, _ in CASES])
def test_no_piece_of_a_secret_leaves_the_filter(outcomes, index):
    shape, _, _ = CASES[index]
    outcome = outcomes[index]
    assert outcome.exception is None
    assert "_redaction_failure" not in outcome.tags
    out = everything(outcome)
    assert not leaks(shape, out), out
    assert "[REDACTED]" in out
    assert outcome.metadata.get("redacted") is True


def test_the_corpus_counts(outcomes):
    # The counts the issue asks for, kept true by this test: every shape in every position.
    secret_values = sum(len(shape.secrets) for shape, _, _ in CASES)
    assert len(outcomes) == len(CASES) >= 7 * len(SHAPES)
    assert secret_values >= 7 * len(SHAPES)


def benign_lines(value):
    yield "message", app_event(message=value), ("message",)
    yield "url_query", app_event(url={"query": value}), ("url", "query")
    yield "array", app_event(labels={"list": [value, [value]]}), ("labels", "list", 0)
    yield "plain_line", f"plain {value}", None


BENIGN = [(value, where, line, path) for value in benign_values()
          for where, line, path in benign_lines(value)]


def test_benign_values_come_out_exactly_as_they_went_in():
    results = run_ruby(REDACT, [received(line) for _, _, line, _ in BENIGN], env=ENV)
    altered = []
    for (value, where, line, path), outcome in zip(BENIGN, results, strict=True):
        if path is None:
            got = outcome.get("event.original")
            expected = line
        else:
            got = json.loads(outcome.metadata["line"])
            for key in path:
                got = got[key]
            expected = value
        if got != expected:
            altered.append((where, value, got))
    assert not altered


# -- the same answers as the app ----------------------------------------------------------

def texts_for_parity():
    for shape in SHAPES:
        yield shape.text
        yield f"while handling it: {shape.text} (retrying)"
        yield f"first line\n{shape.text}\nlast line"
        yield shape.raw_query
        if shape.name:
            yield f"connect(host='db', {shape.name}={shape.dict_value!r})"
    for value in benign_values():
        yield value
        yield f"request done: {value} (ok)"


PARITY = list(dict.fromkeys(texts_for_parity()))


def test_text_is_redacted_exactly_as_the_app_redacts_it():
    ours = redact_texts(PARITY, env=ENV)
    differ = [(text, mine, APP.redact_text(text))
              for text, mine in zip(PARITY, ours, strict=True) if mine != APP.redact_text(text)]
    assert not differ


def test_extra_keys_come_from_the_environment_and_join_every_net():
    texts = ["user_mfa=Mf4Code88Kz", "national_id: NI9x8Y7zW6", '{"nationalId": "NI9x8Y7zW6"}']
    assert redact_texts(texts) == texts  # not sensitive by the model alone
    redacted = redact_texts(texts, env=ENV)
    assert redacted == [APP.redact_text(text) for text in texts]
    assert not any(secret in out for out in redacted for secret in ("Mf4Code88Kz", "NI9x8Y7zW6"))


def test_extra_keys_are_split_at_commas_as_the_app_splits_them():
    setting = " national id ,mfa,, "
    app = Redactor(extra_keys=[k.strip() for k in setting.split(",") if k.strip()])
    texts = ["national_id=NI9x8Y7zW6", "user_id=42 ok", "mfa: 123456", "id=7 national=x"]
    ours = redact_texts(texts, env={EXTRA_KEYS_ENV: setting})
    assert ours == [app.redact_text(text) for text in texts]
    assert ours[1] == "user_id=42 ok"
