"""Property-based tests: generated secrets of every class, placed into generated structures
and generated text, never survive; generated benign values always do."""

import base64
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_logstash.redaction import REDACTED, Redactor, model
from flask_logstash.redaction.cards import luhn_ok
from tests.corpus import LEAK_PIECE

R = Redactor(extra_keys=("mfa", "national_id"))
ALNUM = string.ascii_letters + string.digits
# Characters passwords really contain; blanks, quotes and '&' end an unquoted value in text
# (see docs/logging.md), so they are tested in the quoted forms only.
PASSWORD_CHARS = ALNUM + "!#$()*+-./:;<=>?@[]^_{|}~,%"
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def random_token(min_size=16, max_size=40):
    """Random credential material: always has a digit, an upper and a lower case letter,
    as a generated secret does (and as looks_random expects)."""
    return st.text(ALNUM, min_size=min_size, max_size=max_size).map(
        lambda body: "Zq7" + body)


# Words the model finds inside a glued name ("dbpassword", "githubtoken"); the others
# ("pwd", "pin") only as whole words of the name (docs/logging.md).
GLUABLE = {"password", "passwd", "passphrase", "secret", "credential", "credentials", "token",
           "signature", "authorization"}


def sensitive_names():
    word = st.sampled_from(sorted(model.SENSITIVE_WORDS | {"api_key", "private_key",
                                                           "access_token", "mfa"}))
    affix = st.sampled_from(["", "db", "user", "aws", "client", "x", "oauth", "admin"])
    separator = st.sampled_from(["_", "-", "."])

    @st.composite
    def build(draw):
        before, core, after = draw(affix), draw(word), draw(
            st.sampled_from(["", "value", "id", "str"]))
        if draw(st.booleans()):  # camelCase
            pieces = [p for p in (before, core, after) if p]
            return pieces[0] + "".join(p[:1].upper() + p[1:] for p in pieces[1:])
        first = draw(st.sampled_from(["", "_"])) if core in GLUABLE else draw(separator)
        name = core
        if before:
            name = before + first + name
        if after and (core not in GLUABLE | {"token"} or draw(st.booleans())):
            name = name + draw(separator) + after
        return name

    return build()


@st.composite
def card_numbers(draw):
    first, length = draw(st.sampled_from([
        ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("37", 15), ("34", 15),
        ("6011", 16), ("62", 19), ("35", 16), ("36", 14), ("2221", 16), ("2720", 16)]))
    body = first + "".join(draw(st.lists(st.sampled_from(string.digits),
                                         min_size=length - len(first) - 1,
                                         max_size=length - len(first) - 1)))
    check = next(d for d in string.digits if luhn_ok(body + d))
    return body + check


@st.composite
def written_cards(draw):
    digits = draw(card_numbers())
    separator = draw(st.sampled_from((*model.CARD_SEPARATORS, "")))
    groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    written = separator.join(groups)
    after = draw(st.sampled_from(["", " 12/28", " 123", "1228", "exp", " cvv 123"]))
    before = draw(st.sampled_from(["", "card ", "pan=", "x", "no."]))
    return written, before + written + after, [digits[-10:], written]


@st.composite
def secrets_in_text(draw):
    """(secret pieces that must not appear, how the secret is written in text)."""
    kind = draw(st.sampled_from([
        "pair", "colon", "json", "url", "aws", "prefixed", "basic", "bearer", "jwt", "card",
        "private_key", "encoded_pair", "header_line",
    ]))
    if kind in ("pair", "colon", "encoded_pair", "header_line"):
        name = draw(sensitive_names())
        value = draw(st.text(PASSWORD_CHARS, min_size=12, max_size=30).map(
            lambda v: "Q9" + v + "x"))
        if kind == "pair":
            return [value], f"{name}={value}"
        if kind == "colon":
            return [value], f"{name}: {value}"
        if kind == "header_line":
            return [value], f"{name}: {value} and more\nnext: line"
        encoded = "".join(f"%{ord(c):02X}" if c.isalpha() and draw(st.booleans()) else c
                          for c in name)
        return [value], f"{encoded}%3D{value}"
    if kind == "json":
        name = draw(sensitive_names())
        value = draw(st.text(min_size=12, max_size=30).map(lambda v: "Q9" + v + "x"))
        text = json.dumps({"user": "bob", name: value})
        return [json.dumps(value)[1:-1]], text
    token = draw(random_token())
    if kind == "url":
        scheme = draw(st.sampled_from(["postgres", "redis", "https", "amqp", "mongodb+srv"]))
        return [token], f"{scheme}://app:{token}@db.example.internal:5432/x"
    if kind == "aws":
        body = draw(st.text(string.ascii_uppercase + string.digits, min_size=16,
                            max_size=16))
        prefix = draw(st.sampled_from(model.AWS_KEY_ID_PREFIXES))
        return [prefix + body], f"key {prefix}{body}"
    if kind == "prefixed":
        prefix = draw(st.sampled_from(model.TOKEN_PREFIXES))
        return [token], f"{prefix}{token}"
    if kind == "basic":
        raw = f"user{draw(st.integers(0, 999))}:{token}".encode()
        encoded = base64.b64encode(raw).decode()
        return [encoded.rstrip("=")], f"Basic {encoded}"
    if kind == "bearer":
        return [token], f"Bearer {token}"
    if kind == "jwt":
        segments = [draw(random_token(8, 60)).replace("+", "-") for _ in range(2)]
        jwt = "eyJhbGciOiJIUzI1NiJ9." + "eyJ" + segments[0] + "." + segments[1]
        return [segments[0], segments[1]], jwt
    if kind == "card":
        _, written, pieces = draw(written_cards())
        return pieces, written
    body = draw(st.lists(random_token(40, 64), min_size=1, max_size=3))
    block = "\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----"])
    return body, block


def leaked(pieces, output):
    found = []
    for piece in pieces:
        windows = ([piece] if len(piece) <= LEAK_PIECE else
                   [piece[i:i + LEAK_PIECE] for i in range(len(piece) - LEAK_PIECE + 1)])
        found += [w for w in windows if w in output]
    return found


benign_words = st.text(string.ascii_lowercase, min_size=1, max_size=8)
benign_keys = st.sampled_from(["note", "message", "detail", "path", "items", "user", "id",
                               "data", "context", "value", "list"])
filler = st.lists(benign_words, max_size=4).map(" ".join)


def structures(leaf):
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.dictionaries(benign_keys, children, min_size=1, max_size=3),
        ),
        max_leaves=6,
    )


@SETTINGS
@given(secret=secrets_in_text(), before=filler, after=filler, data=st.data())
def test_a_generated_secret_in_generated_text_and_structure_never_survives(
    secret, before, after, data
):
    pieces, written = secret
    text = f"{before} {written} {after}".strip()
    placed = data.draw(structures(st.just(text)))
    out = json.dumps(R.redact({"root": placed}), ensure_ascii=False)
    assert not leaked(pieces, out), (text, out)
    assert REDACTED in out


@SETTINGS
@given(name=sensitive_names(), value=st.one_of(
    st.text(min_size=1), st.integers().filter(lambda n: n not in (0, 1)),
    st.floats(allow_nan=False), st.lists(st.text(min_size=12), min_size=1)))
def test_a_value_under_a_generated_sensitive_name_never_survives(name, value):
    out = R.redact({"outer": [{name: value}], "pairs": [(name, value)]})
    for item in (out["outer"][0][name], out["pairs"][0][1]):
        if isinstance(value, list):
            assert item == [REDACTED] * len(value)
        elif value == "":
            assert item == ""
        else:
            assert item == REDACTED


@SETTINGS
@given(digits=card_numbers())
def test_a_card_number_logged_as_an_integer_never_survives(digits):
    assert R.redact({"n": int(digits)}) == {"n": REDACTED}


@SETTINGS
@given(value=st.one_of(
    st.uuids().map(str),
    st.binary(min_size=16, max_size=16).map(bytes.hex),
    st.binary(min_size=20, max_size=32).map(bytes.hex),
    st.lists(benign_words, min_size=1, max_size=6).map(" ".join),
    st.tuples(benign_words, st.integers(0, 10**9)).map(lambda p: f"/api/{p[0]}/{p[1]}"),
    st.integers(0, 10**12).map(lambda n: f"took {n} ns"),
))
def test_generated_benign_values_are_left_alone(value):
    assert R.redact_text(value) == value
    assert R.redact({"note": value}) == {"note": value}


@SETTINGS
@given(structures(st.one_of(st.text(), st.integers(), st.none(), st.booleans())))
def test_redaction_of_any_structure_is_stable(value):
    once = R.redact({"v": value})
    assert R.redact(once) == once
