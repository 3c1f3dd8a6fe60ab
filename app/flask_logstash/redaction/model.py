"""The redaction model as data: which names are sensitive and which value shapes are secrets.

One place for every fact the Python redactor uses, so the Logstash second line can be
generated from it or checked against it: `python -m flask_logstash.redaction.model` prints it
as JSON (tests/corpus/redaction_model.json is that output, and a test keeps the two equal).

Key names are compared as words: a name is split on anything that is not a letter or digit and
at lower-to-upper case changes ("X-Api-Key", "api_key", "apiKey" and "user[api_key]" all give
the words api, key), then lower-cased. The joined words are the name's "compact" form.
"""

from __future__ import annotations

import json
import sys
from typing import Any

REDACTED = "[REDACTED]"

# A whole word of the name equals one of these ("db_pass", "user[pwd]", "sentry_dsn").
# Short words match only as whole words: "passport" and "bypass" are not "pass".
SENSITIVE_WORDS = frozenset({
    "pass", "pw", "pwd", "passwd", "password", "passphrase", "secret", "token", "pin", "cvv",
    "cvc", "cvn", "ssn", "dsn", "otp", "creds", "credential", "credentials", "cookie",
    "sig", "signature", "jwt", "auth", "authorization", "bearer",
})
# Found anywhere in the compact form ("dbpassword", "awssecretaccesskey", "sshprivatekey").
SENSITIVE_FRAGMENTS = (
    "password", "passwd", "passphrase", "secret", "credential", "apikey", "accesskey",
    "privatekey", "signingkey", "encryptionkey", "masterkey", "accountkey", "authorization",
    "cardnumber", "creditcard", "ccnumber", "cardno",
)
# The compact form or one of the words ends with one of these ("accesstoken",
# "githubtoken_value", "xcsrftoken"); a word merely starting like them is not one
# ("tokenizer", "max_tokens").
SENSITIVE_SUFFIXES = ("token", "signature")
# The compact form equals one of these (session cookies under their usual names).
SENSITIVE_NAMES = frozenset({
    "session", "sessionid", "sessid", "phpsessid", "jsessionid", "setcookie", "cvv2", "cvc2",
})
# Configured extra keys (LOG_REDACT_EXTRA_KEYS) shorter than this join SENSITIVE_WORDS,
# longer ones join SENSITIVE_FRAGMENTS.
FRAGMENT_MIN_LENGTH = 5

# In `name: value` text, the value of these names runs to the end of the line (a header).
LINE_VALUED_NAMES = frozenset({"authorization", "proxyauthorization", "cookie", "setcookie"})
# HTTP authentication schemes (RFC 9110 11.1 and the IANA registry) whose credential follows
# after a space: "Basic dXNlcjpwYXNz", "Bearer abc.def".
AUTH_SCHEMES = ("basic", "bearer", "digest", "token", "negotiate", "ntlm", "apikey")

# Token prefixes published by their providers (GitHub, GitLab, Slack, Stripe, OpenAI,
# Anthropic, Google, npm, PyPI, SendGrid, Hugging Face, DigitalOcean, Shopify, age).
TOKEN_PREFIXES = (
    "github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "glpat-", "glrt-", "gldt-",
    "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-", "sk_live_", "sk_test_",
    "rk_live_", "rk_test_", "whsec_", "sk-ant-", "sk-proj-", "sk-", "AIza", "ya29.", "npm_",
    "pypi-", "SG.", "hf_", "dop_v1_", "doo_v1_", "shpat_", "shpss_", "shpca_",
    "AGE-SECRET-KEY-1",
)
TOKEN_MIN_BODY = 16
# AWS access key ids: four-letter prefix plus 16 upper-case letters or digits (AWS IAM
# "Understanding unique ID prefixes").
AWS_KEY_ID_PREFIXES = (
    "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA",
)

# Card numbers: 13 to 19 digits passing the Luhn check, with a length their first digits
# allow (ISO/IEC 7812 issuer ranges of Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay; redaction/cards.py). Digits may be separated by one of these (or two spaces).
CARD_MIN_DIGITS, CARD_MAX_DIGITS = 13, 19
# (lowest prefix, highest prefix, allowed lengths): the first digits, compared as strings of
# the prefix's length, pick the scheme and its lengths.
_DINERS_JCB = (14, 15, 16, 17, 18, 19)
CARD_LENGTHS_BY_PREFIX = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("34", "34", (15,)), ("37", "37", (15,)),  # American Express
    ("51", "55", (16,)), ("2221", "2720", (16,)),  # Mastercard
    ("30", "30", _DINERS_JCB), ("35", "36", _DINERS_JCB), ("38", "39", _DINERS_JCB),
    ("6", "6", (16, 17, 18, 19)),  # Discover, UnionPay
)
CARD_SEPARATORS = (" ", "  ", "-", ".", "+", "\t", "%20")
# A digit run is part of an id or a digest (request, trace and event ids are 32 hex digits),
# not a card, when it lies in one dash-free hex word of 24 or more characters, or in
# dash-joined hex words shaped as a UUID or a W3C traceparent, with a hex letter, not glued to
# further letters. A card with dashes or a word glued to it ("4000-0000-0000-0000-006exp")
# is none of those. The scan looks this far on each side of the run (a longer hex word counts
# as a long id: the whole string `HEX_ID_TEXT` is one too).
HEX_ID_MIN_LENGTH = 24
HEX_ID_REACH = 128
# Word lengths: UUID, W3C traceparent, a trace id with its span id (Sentry's sentry-trace,
# trace-span-sampled), and B3's single header (trace-span-sampled-parent span).
HEX_ID_SHAPES = ((8, 4, 4, 4, 12), (2, 32, 16, 2), (32, 16), (32, 16, 1, 16))

# How much of one string is scanned. Longer strings are cut there (at the last delimiter
# before the cut, so a secret is never left half-scanned) and end with TRUNCATION_MARKER.
MAX_SCANNED_CHARS = 32_768
TRUNCATION_MARKER = "…[TRUNCATED {dropped} chars]"


def as_dict() -> dict[str, Any]:
    """The model as plain JSON data, for the Logstash side and for tests."""
    # Imported here: the text module is built from this one.
    from flask_logstash.redaction.text import SCANNING_PATTERNS

    return {
        "redacted": REDACTED,
        "sensitive_words": sorted(SENSITIVE_WORDS),
        "sensitive_fragments": list(SENSITIVE_FRAGMENTS),
        "sensitive_suffixes": list(SENSITIVE_SUFFIXES),
        "sensitive_names": sorted(SENSITIVE_NAMES),
        "fragment_min_length": FRAGMENT_MIN_LENGTH,
        "line_valued_names": sorted(LINE_VALUED_NAMES),
        "auth_schemes": list(AUTH_SCHEMES),
        "token_prefixes": list(TOKEN_PREFIXES),
        "token_min_body": TOKEN_MIN_BODY,
        "aws_key_id_prefixes": list(AWS_KEY_ID_PREFIXES),
        "card": {
            "min_digits": CARD_MIN_DIGITS, "max_digits": CARD_MAX_DIGITS,
            "lengths_by_prefix": [[lo, hi, list(lengths)]
                                  for lo, hi, lengths in CARD_LENGTHS_BY_PREFIX],
            "separators": list(CARD_SEPARATORS),
            "hex_id_min_length": HEX_ID_MIN_LENGTH,
            "hex_id_reach": HEX_ID_REACH,
            "hex_id_shapes": [list(shape) for shape in HEX_ID_SHAPES],
        },
        "max_scanned_chars": MAX_SCANNED_CHARS,
        # Python `re` syntax; Ruby's Onigmo reads them too once `(?P<` is written `(?<`.
        "value_patterns": {
            name: pattern.pattern for name, pattern in sorted(SCANNING_PATTERNS.items())
        },
    }


if __name__ == "__main__":
    json.dump(as_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
