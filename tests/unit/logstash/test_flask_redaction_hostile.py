"""The Logstash filter under hostile input and generated structures, run for real under Ruby.

No clock is read: the cap is shown by what the filter scanned (its scan step is wrapped to
record each text it is handed), and the answers are compared with the app's redactor."""

import json
import random
import re

import pytest

from flask_logstash.redaction import Redactor, model
from tests.corpus import EXTRA_KEYS, benign_values, secret_shapes
from tests.unit.app.test_redaction_linear import HOSTILE
from tests.unit.logstash.redaction_probe import EXTRA_KEYS_ENV, probe, redact_texts
from tests.unit.logstash.ruby_filters import run_ruby
from tests.unit.logstash.test_flask_redaction import REDACT, received

LIMIT = model.MAX_SCANNED_CHARS
APP = Redactor(extra_keys=EXTRA_KEYS)
ENV = {EXTRA_KEYS_ENV: ",".join(EXTRA_KEYS)}
MARKER = re.compile(r"…\[TRUNCATED [0-9]+ chars\]")

RECORDING_SCAN = """
  scanned = []
  scan = @scan
  @scan = lambda { |t| scanned << t.bytesize; scan.call(t) }
  begin
    out = @redact_text.call(event.get("in"))
  ensure
    @scan = scan
  end
  event.set("out", { "text" => out, "scanned" => scanned })
"""
# Hostile shapes of the app's linearity test, and two in multi-byte UTF-8 (where a character
# index would cost a walk from the start).
SHAPES = {**HOSTILE, "accented_pairs": lambda n: "é=" * (n // 2),
          "accented_quotes": lambda n: '"pässword": "' * (n // 13)}


@pytest.fixture(scope="module")
def hostile_results():
    texts = {name: make(LIMIT * 8) for name, make in sorted(SHAPES.items())}
    outs = probe(RECORDING_SCAN, list(texts.values()))
    return {name: (texts[name], out) for name, out in zip(texts, outs, strict=True)}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_hostile_input_is_cut_at_the_cap_before_it_is_scanned(hostile_results, shape):
    text, out = hostile_results[shape]
    assert len(text) > LIMIT * 7
    widest = max(len(char.encode()) for char in set(text))
    assert out["scanned"]
    # Each scanned view is one half of the cap at most, in characters.
    assert max(out["scanned"]) <= (LIMIT // 2) * widest
    assert sum(out["scanned"]) <= 4 * LIMIT * widest  # raw and decoded views of both halves
    assert MARKER.search(out["text"])
    # Bounded whatever the input's length ("x" becoming "[REDACTED]" may grow the halves).
    assert len(out["text"]) <= 3 * LIMIT
    assert out["text"] == APP.redact_text(text)


def test_a_hostile_json_line_passes_the_whole_filter_cut_and_redacted():
    secret = "Hx7Cap9SecretQq"
    message = f"password={secret} " + HOSTILE["jwt_like"](LIMIT * 8) + f" token={secret}"
    (outcome,) = run_ruby(REDACT, [received(json.dumps({"message": message}))])
    assert outcome.exception is None
    kept = json.loads(outcome.metadata["line"])["message"]
    assert secret not in json.dumps(outcome.event)
    assert MARKER.search(kept)
    assert kept == APP.redact_text(message)


def test_text_under_the_cap_is_scanned_whole():
    text = "password=Ab3Short9Val " + "x" * (LIMIT - 100)
    (out,) = probe(RECORDING_SCAN, [text])
    assert out["scanned"] == [len(text)]
    assert not MARKER.search(out["text"])


# -- generated structures: the same answer as the app --------------------------------------

SECRET_SHAPES = secret_shapes()
NAMES = ([s.name for s in SECRET_SHAPES if s.name]
         + ["a", "items", "data", "", " ", "b]", "x[y", "ünï", "passport", "tokenizer"])
LEAVES = ([s.text for s in SECRET_SHAPES] + benign_values()
          + [None, True, False, "", 0, 42, 4539148803436467, 1234567890123, 3.5])


def generated(rng: random.Random, depth: int):
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice(LEAVES)
    if roll < 0.5:  # a (name, value) pair, as header lists come
        return [rng.choice(NAMES), generated(rng, depth + 1)]
    if roll < 0.7:
        return [generated(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(NAMES): generated(rng, depth + 1) for _ in range(rng.randrange(1, 5))}


@pytest.mark.parametrize("seed", range(3))
def test_generated_structures_are_redacted_exactly_as_the_app_redacts_them(seed):
    rng = random.Random(seed)
    values = [generated(rng, 0) for _ in range(200)]
    ours = probe('event.set("out", @redact.call(event.get("in")))', values, env=ENV)
    theirs = [json.loads(json.dumps(APP.redact(value))) for value in values]
    differ = [(v, o, t) for v, o, t in zip(values, ours, theirs, strict=True) if o != t]
    assert not differ, differ[:2]


# Texts assembled from corpus values, separators, quotes, encodings and shape fragments: the
# places where two implementations of the same rules part (a name cut at a quote, a value
# ending at a percent sign, a card split by a separator) come up far more often than in
# hand-written cases.
ATOMS = ([s.text for s in SECRET_SHAPES] + benign_values()
         + ["=", ":", ", ", "'", '"', "\\", "%3D", "%25", "%", "&", " ", "\n", "\t", "password",
            "pw", "Bearer", "Basic", "Token", "eyJ", "4539", "1488", "0343", "6467", "-",
            "AKIA", "ghp_", "://", "@", "é", "Ж", "[", "]", "XyZ12", "(", ")", "{", "}",
            "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"])


@pytest.mark.parametrize("seed", range(2))
def test_generated_texts_are_redacted_exactly_as_the_app_redacts_them(seed):
    rng = random.Random(seed)
    texts = ["".join(rng.choice(ATOMS) for _ in range(rng.randrange(1, 12)))
             for _ in range(2000)]
    ours = redact_texts(texts, env=ENV)
    differ = [(t, o) for t, o in zip(texts, ours, strict=True) if o != APP.redact_text(t)]
    assert not differ, differ[:2]
