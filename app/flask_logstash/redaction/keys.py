"""Is a name sensitive? The same answer for a dict key, a `key=value` pair in text, a header."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from flask_logstash.redaction import model

# Words of a name: runs of upper-case letters not followed by lower case ("API" in
# "APIKey"), capitalised or lower-case words, digit runs. One character class per
# alternative and no nesting, so the scan is linear in the name's length.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Names longer than this are judged by their last characters (where `…_password` is).
_MAX_NAME = 256
_CACHE_SIZE = 4096


def name_words(name: str) -> list[str]:
    if len(name) > _MAX_NAME:
        name = name[-_MAX_NAME:]
    if "%" in name:
        name = unquote(name)
    return [word.lower() for word in _WORDS.findall(name)]


class KeyMatcher:
    """Decides whether a name marks its value as a secret; built once per process."""

    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        words = set(model.SENSITIVE_WORDS)
        fragments = list(model.SENSITIVE_FRAGMENTS)
        names = set(model.SENSITIVE_NAMES)
        for extra in extra_keys:
            compact = "".join(name_words(extra))
            if not compact:
                continue
            names.add(compact)
            if len(compact) >= model.FRAGMENT_MIN_LENGTH:
                fragments.append(compact)
            else:
                words.add(compact)
        self._words = frozenset(words)
        self._fragments = tuple(fragments)
        self._names = frozenset(names)
        self._cache: dict[str, bool] = {}

    def is_sensitive(self, name: str) -> bool:
        cached = self._cache.get(name)
        if cached is None:
            cached = self._judge(name)
            if len(self._cache) < _CACHE_SIZE and len(name) <= 64:
                self._cache[name] = cached
        return cached

    def _judge(self, name: str) -> bool:
        words = name_words(name)
        if not words:
            return False
        compact = "".join(words)
        return (
            compact in self._names
            or compact.endswith(model.SENSITIVE_SUFFIXES)
            or any(word.endswith(model.SENSITIVE_SUFFIXES) for word in words)
            or not self._words.isdisjoint(words)
            or any(fragment in compact for fragment in self._fragments)
        )

    def compact(self, name: str) -> str:
        return "".join(name_words(name))
