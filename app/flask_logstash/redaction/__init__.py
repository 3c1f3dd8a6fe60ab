"""Remove secrets from an event before it leaves the process.

One model (redaction/model.py) applied the same way everywhere:
- a name is sensitive by the rules of redaction/keys.py, whether it is a dict key, the name
  of a `name=value` or `"name": "value"` pair in text, a header in a list of pairs, or one of
  the configured LOG_REDACT_EXTRA_KEYS; the value of a sensitive name is replaced (a nested
  object keeps its shape, every leaf replaced);
- in every string, value shapes that are secrets whatever their name (URL credentials, cloud
  key ids, private key blocks, provider tokens, HTTP credentials, JWTs, card numbers) are
  replaced, in the raw and the URL-decoded text (redaction/text.py, redaction/cards.py).
Logstash applies a second pass; this one is the one that matters, because it runs before
anything is written to the local buffer, stdout or the network.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from flask_logstash.captured import CIRCULAR, TOO_DEEP
from flask_logstash.redaction.cards import contains_card
from flask_logstash.redaction.keys import KeyMatcher
from flask_logstash.redaction.model import REDACTED
from flask_logstash.redaction.text import TextRedactor

__all__ = ["REDACTED", "SHORTEST_MATCH", "Redactor"]

_SCALARS = frozenset({int, float, bool, type(None)})
# Values that cannot carry a secret are kept as they are, so an absent or empty secret stays
# visible as absent or empty.
# The capture layer's own markers (captured.py) say why a value is missing and carry nothing of
# the caller's: an operator should still see that a credentials dict was cut for depth.
_KEPT_UNDER_SENSITIVE_NAMES = (None, "", True, False, TOO_DEEP, CIRCULAR)
# Types the serialiser (orjson) writes natively and that carry no free text.
_NATIVE = (datetime.datetime, datetime.date, datetime.time, uuid.UUID)
# The shortest text a pattern can match ("pw=x", "a:b@"); shorter strings are skipped.
SHORTEST_MATCH = 4
_KEY_CACHE_SIZE = 4096
# Integers of 13 to 19 digits may be card numbers.
_CARD_SIZED, _BEYOND_CARDS = 10 ** 12, 10 ** 19


class Redactor:
    """Redacts JSON-like events; one instance per process, reused for every event."""

    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        self._keys = KeyMatcher(extra_keys)
        self._text = TextRedactor(self._keys)
        self.known_clean = self._text.known_clean  # texts a scan found nothing in
        self._key_texts: dict[str, str] = {}

    def is_sensitive_key(self, key: str) -> bool:
        return self._keys.is_sensitive(key)

    def redact_text(self, text: str) -> str:
        if len(text) < SHORTEST_MATCH:
            return text
        return self._text.redact(text)

    def redact(self, value: Any) -> Any:
        """The value with sensitive names masked and secret-shaped text replaced."""
        kind = type(value)
        if kind is str:
            return self.redact_text(value) if len(value) >= SHORTEST_MATCH else value
        if kind is int:
            return self._redact_int(value)
        if kind in _SCALARS:
            return value
        if isinstance(value, str):
            return self.redact_text(str(value))
        if isinstance(value, Mapping):
            return self.redact_into({}, value)
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._redact_item(item) for item in value]
        if isinstance(value, _NATIVE):
            return value
        items = getattr(value, "items", None)
        if callable(items):  # a multi-dict such as werkzeug's Headers: keep every pair
            try:
                pairs = list(items())
            except Exception:
                pairs = None
            if pairs is not None:
                return [self._redact_item(pair) for pair in pairs]
        try:
            text = str(value)
        except Exception:
            return value  # the serialiser reports what cannot be represented
        return self.redact_text(text)

    def redact_key(self, key: str) -> str:
        """A dict key with any secret-shaped text in it replaced: a form field named after
        its whole content (`postgres://app:pw@db`), a key that is a token."""
        cached = self._key_texts.get(key)
        if cached is None:
            cached = self.redact_text(key)
            if len(key) <= 64 and len(self._key_texts) < _KEY_CACHE_SIZE:
                self._key_texts[key] = cached
        return cached

    def _redact_item(self, item: Any) -> Any:
        # A (name, value) pair, as headers often come: the name decides, as for a dict key.
        if (
            type(item) in (tuple, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and self._keys.is_sensitive(item[0])
        ):
            return [self.redact_text(item[0]), _mask_all(item[1])]
        return self.redact(item)

    def _redact_int(self, value: int) -> Any:
        if _CARD_SIZED <= abs(value) < _BEYOND_CARDS and contains_card(str(abs(value))):
            return REDACTED
        return value

    def redact_into(self, target: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge `source` into `target`, redacting on the way; nothing of `source` is
        shared with `target` afterwards.

        One pass instead of copy, redact, merge: this walk runs for every event, so leaves
        are handled inline with exact type checks (a call per leaf was most of its cost).
        """
        for original_key, item in source.items():
            name = original_key if type(original_key) is str else str(original_key)
            key = self.redact_key(name)
            if key == name:
                key = original_key
            kind = type(item)
            if self._keys.is_sensitive(name):
                target[key] = _mask_all(item)
            elif kind is str:
                target[key] = item if len(item) < SHORTEST_MATCH else self.redact_text(item)
            elif kind is int:
                target[key] = item if -_CARD_SIZED < item < _CARD_SIZED else self._redact_int(
                    item
                )
            elif kind in _SCALARS:
                target[key] = item
            elif isinstance(item, Mapping):
                current = target.get(key)
                if not isinstance(current, dict):
                    current = target[key] = {}
                self.redact_into(current, item)
            else:
                target[key] = self.redact(item)
        return target


def _mask_all(value: Any) -> Any:
    """Everything under a sensitive name: the shape stays, every leaf with content goes."""
    if isinstance(value, Mapping):
        return {key: _mask_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_all(item) for item in value]
    # Compared with their types too: a caller's "[too deep]" is text, not the marker.
    if any(type(value) is type(kept) and value == kept for kept in _KEPT_UNDER_SENSITIVE_NAMES):
        return value
    return REDACTED
