"""Secrets and personal data are removed before an event is serialised."""

import pytest

from flask_logstash.redaction import REDACTED, Redactor

R = Redactor(extra_keys=("iban",))


@pytest.mark.parametrize(
    "key",
    ["password", "Password", "db_password", "X-Api-Key", "api_key", "apiKey", "Authorization",
     "Cookie", "set-cookie", "refresh_token", "githubToken", "client_secret", "IBAN", "cvv"],
)
def test_sensitive_keys_are_masked_at_any_depth(key):
    event = {"a": {"b": [{"c": {key: "s3cr3t-value"}}]}}
    assert R.redact(event) == {"a": {"b": [{"c": {key: REDACTED}}]}}


@pytest.mark.parametrize(
    "key", ["username", "item_id", "author", "description", "path", "session_count"]
)
def test_ordinary_keys_are_kept(key):
    assert R.redact({key: "value"}) == {key: "value"}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdefghijklmnop.qrs", "abcdefghijklmnop"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl here", "eyJhbGci"),
        ("/api/login?user=a&password=hunter2&x=1", "hunter2"),
        ("card 4111 1111 1111 1111 charged", "4111 1111 1111 1111"),
        ("card 4111111111111111", "4111111111111111"),
        ("4111-1111-1111-1111", "4111-1111-1111-1111"),
        ("pan 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
        ("token=x", "token=x"),  # the shortest text a pattern matches is still checked
    ],
)
def test_credential_patterns_are_replaced_in_text(text, secret):
    out = R.redact_text(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    ["order 1234567890123 shipped",  # 13 digits failing the Luhn check: not a card
     "GET /api/items 200 0.5ms", "basically fine", "duration 1500000 ns"],
)
def test_ordinary_text_is_untouched(text):
    assert R.redact_text(text) == text


def test_empty_sensitive_values_stay_empty_so_absence_is_visible():
    assert R.redact({"password": "", "token": None}) == {"password": "", "token": None}
