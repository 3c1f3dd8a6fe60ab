"""Remove secrets and personal data from an event before it leaves the process.

Two nets: keys whose name says "secret" (at any depth, case and separator insensitive), and
values that look like credentials wherever they appear (bearer tokens, JWTs, card numbers).
Logstash applies a second pass; this one is the one that matters, because it runs before
anything is written to the local buffer or the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
_SCALARS = frozenset({int, float, bool, type(None)})

# Compared after lower-casing and dropping '-', '_' and spaces, so "X-Api-Key", "api_key"
# and "apiKey" all match "apikey".
DEFAULT_SENSITIVE_KEYS = frozenset(
    {
        "password", "passwd", "pwd", "secret", "clientsecret", "token", "accesstoken",
        "refreshtoken", "idtoken", "authorization", "proxyauthorization", "cookie",
        "setcookie", "apikey", "xapikey", "privatekey", "sessionid", "session", "csrftoken",
        "xcsrftoken", "creditcard", "cardnumber", "ccnumber", "cvv", "cvc", "ssn", "pin",
    }
)
# Substrings that make any key sensitive ("db_password", "githubToken", "my-secret-x").
_SENSITIVE_FRAGMENTS = ("password", "passwd", "secret", "token", "apikey", "authorization")

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[a-zA-Z0-9_-]{5,}\.[a-zA-Z0-9_-]{5,}\.[a-zA-Z0-9_-]{5,}")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[_-]?key|access[_-]?token)=([^&\s]+)"
)
# The shortest text any pattern above can match ("token=x"); shorter strings are skipped.
_SHORTEST_MATCH = 7
# Every match of _CARD starts with four digits, each pair at most one separator apart; most
# strings have no such run, and searching for it is much cheaper than _CARD.sub.
_CARD_CANDIDATE = re.compile(r"\d[ -]?\d[ -]?\d[ -]?\d")


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "").replace(" ", "")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return REDACTED
    return match.group(0)


class Redactor:
    """Redacts a JSON-like event in place; one instance per process, reused for every event."""

    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        self._keys = DEFAULT_SENSITIVE_KEYS | {_normalise_key(k) for k in extra_keys}
        self._fragments = _SENSITIVE_FRAGMENTS + tuple(
            _normalise_key(k) for k in extra_keys if len(k) >= 5
        )
        self._key_cache: dict[str, bool] = {}

    def is_sensitive_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is None:
            norm = _normalise_key(key)
            cached = norm in self._keys or any(f in norm for f in self._fragments)
            if len(self._key_cache) < 4096:
                self._key_cache[key] = cached
        return cached

    def redact_text(self, text: str) -> str:
        # Cheap pre-checks keep the common case (no secret) fast: this runs for every string
        # of every event.
        if len(text) < _SHORTEST_MATCH:
            return text
        if "=" in text:
            text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        lowered = text.lower()
        if "bearer" in lowered or "basic" in lowered:
            text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        if "eyJ" in text:
            text = _JWT.sub(REDACTED, text)
        if _CARD_CANDIDATE.search(text):
            text = _CARD.sub(_mask_card, text)
        return text

    def redact(self, value: Any) -> Any:
        """Return the value with sensitive keys masked and credential-like strings replaced."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is str or isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, (dict, Mapping)):
            return self.redact_into({}, value)
        if isinstance(value, (list, tuple)):
            return [self.redact(item) for item in value]
        return value

    def redact_into(self, target: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge `source` into `target`, redacting on the way; nothing of `source` is
        shared with `target` afterwards.

        One pass instead of copy, redact, merge: this walk runs for every event, so leaves
        are handled inline with exact type checks (a call per leaf was most of its cost).
        """
        for key, item in source.items():
            if self.is_sensitive_key(str(key)) and item not in (None, ""):
                target[key] = REDACTED
            elif type(item) is str:
                target[key] = item if len(item) < _SHORTEST_MATCH else self.redact_text(item)
            elif type(item) in _SCALARS:
                target[key] = item
            elif isinstance(item, (dict, Mapping)):
                current = target.get(key)
                if not isinstance(current, dict):
                    current = target[key] = {}
                self.redact_into(current, item)
            else:
                target[key] = self.redact(item)
        return target
