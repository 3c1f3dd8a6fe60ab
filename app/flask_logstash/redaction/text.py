"""Secrets in free text: `name=value` pairs judged by the key model, and value shapes.

Every pattern here is linear in the text's length: each one starts only at a literal or at
the start of a run (a look-behind refuses starts inside the run), no quantified group holds
another unbounded quantifier, and the alternatives of a repeated group begin with disjoint
characters. tests/unit/app/test_redaction_linear.py checks these rules on the compiled
patterns. On top of that no string is scanned beyond model.MAX_SCANNED_CHARS.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask_logstash.redaction import cards, model
from flask_logstash.redaction.cards import redact_cards
from flask_logstash.redaction.keys import KeyMatcher

R = model.REDACTED
# `name=value`, `name: value`, `"name": "value"`, `\"name\":\"value\"`, `('name', 'value')`.
# The separators are found first (a plain character search, and most text has few of them);
# the name is read backwards from each one and judged by the key model, and only a sensitive
# name's value is read. Names end at a separator, so no character is read as part of two
# names: linear in the text's length.
SEPARATOR = re.compile(r"=>?|:|,")
_NAME_PUNCTUATION = frozenset("_.[]-")
_BLANKS = " \t"
_MAX_BLANKS = 4
_MAX_BACKSLASHES = 3
_COMMA_VALUE = re.compile(r"[ \t]{0,4}\\{0,3}[\"']")
# An unquoted value runs to a blank, '&', a quote or a backslash; punctuation that closes
# the surrounding text (`{password=x}`, `password=x, next`) is then trimmed off its end.
_UNQUOTED = re.compile(r"[^\s&\"'\\]+")
_CLOSING_PUNCTUATION = ",;)}]>."
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SINGLE_QUOTED = re.compile(r"'[^'\n]*'")
_SPACES = re.compile(r"[ \t]+")
_ESCAPED_QUOTE = re.compile(r"\\{1,3}[\"']")

# scheme://user:password@host; the password runs to the last '@' of the authority.
URL_CREDENTIALS = re.compile(r"(?<=://)(?P<user>[^\s/@:?#\"'<>]{0,256}):[^\s/?#\"'<>]{1,256}@")
# The patterns below begin with a literal or a set of literals, so the engine's fast search
# for that first character does most of the work; the look-behind that makes a start valid
# comes right after it.
AWS_KEY_ID = re.compile(
    r"A(?<![A-Z0-9]A)(?:" + "|".join(p[1:] for p in model.AWS_KEY_ID_PREFIXES)
    + r")[A-Z0-9]{16}(?![A-Z0-9])"
)


def _prefix_alternatives(prefixes: tuple[str, ...]) -> str:
    """`g(?<![A-Za-z0-9]g)(?:hp_|ho_|...)|x(?<!...)...`: grouped by first character, each group
    refusing a start glued to a letter or digit ("task-..." holds "sk-")."""
    groups: dict[str, list[str]] = {}
    for prefix in prefixes:
        groups.setdefault(prefix[0], []).append(re.escape(prefix[1:]))
    return "|".join(
        f"{re.escape(first)}(?<![A-Za-z0-9]{re.escape(first)})(?:{'|'.join(rests)})"
        for first, rests in groups.items()
    )


PREFIXED_TOKEN = re.compile(
    r"(?P<prefix>" + _prefix_alternatives(model.TOKEN_PREFIXES)
    + rf")(?P<body>[A-Za-z0-9_\-.=]{{{model.TOKEN_MIN_BODY},}})"
)
_AUTH = r"(?P<scheme>" + _prefix_alternatives(model.AUTH_SCHEMES) + r")[ \t]+(?P<credential>{})"
AUTH_CREDENTIAL = re.compile("(?i)" + _AUTH.format("[A-Za-z0-9._~+/=-]{8,}"))
# The same on lower-cased ASCII text (where positions do not move), without the slower
# case-insensitive matching; it only finds where a credential is.
AUTH_CREDENTIAL_LOWERED = re.compile(_AUTH.format("[a-z0-9._~+/=-]{8,}"))
JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"
)
PRIVATE_KEY_FOOTER = "PRIVATE KEY-----"
PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----")
_TRUNCATION_DELIMITERS = re.compile(r"[\s&;,\"'<>]")

# Every pattern searched through a whole text (tests/unit/app/test_redaction_linear.py checks
# their structure), and those only matched at one position of it, once.
SCANNING_PATTERNS = {
    "pair_separator": SEPARATOR, "url_credentials": URL_CREDENTIALS, "aws_key_id": AWS_KEY_ID,
    "prefixed_token": PREFIXED_TOKEN, "auth_credential": AUTH_CREDENTIAL,
    "auth_credential_lowered": AUTH_CREDENTIAL_LOWERED, "card_candidate": cards.CANDIDATE,
    "jwt": JWT,
    "private_key_begin": PRIVATE_KEY_BEGIN, "card_digit_run": cards.DIGIT_RUN,
    "truncation_delimiters": _TRUNCATION_DELIMITERS,
}
ANCHORED_PATTERNS = {
    "unquoted_value": _UNQUOTED, "double_quoted_value": _DOUBLE_QUOTED,
    "single_quoted_value": _SINGLE_QUOTED, "escaped_quote": _ESCAPED_QUOTE,
    "spaces": _SPACES, "comma_value": _COMMA_VALUE, "hex_id_text": cards.HEX_ID_TEXT,
}


def looks_random(token: str, symbols: str = "") -> bool:
    """A credential has a digit, a capital after its first letter, or one of `symbols`; a
    word has none of them. Keeps "Basic information" and "sk-learn-classifier-notes" intact.
    """
    if any(char.isdigit() or char in symbols for char in token):
        return True
    tail = token[1:]
    return any(char.isupper() for char in tail) and any(char.islower() for char in tail)


def split_at_cap(text: str) -> tuple[str, str, str]:
    """(head, marker, tail): the parts of `text` that are scanned and the marker for what is
    dropped between them; for text under the cap, (text, "", "").

    The head and the tail each get half the cap: a stack trace's last lines (the exception
    and its message) matter as much as its first. Cuts fall on a delimiter, so no token is
    cut in half and left with a shape the patterns no longer recognise.
    """
    limit = model.MAX_SCANNED_CHARS
    if len(text) <= limit:
        return text, "", ""
    half = limit // 2
    head_end = half
    for match in _TRUNCATION_DELIMITERS.finditer(text, half - 512, half):
        head_end = match.start()
    tail_start = len(text) - half
    first = _TRUNCATION_DELIMITERS.search(text, tail_start, tail_start + 512)
    if first is not None:
        tail_start = first.start()
    marker = model.TRUNCATION_MARKER.format(dropped=tail_start - head_end)
    return text[:head_end], marker, text[tail_start:]


# Short strings that hold no secret are remembered: events repeat them (paths, routes,
# user agents, messages without arguments), and a lookup is far cheaper than the scan.
# Strings that did hold one are never kept, so no secret lives on in the cache.
_CLEAN_CACHE_SIZE = 8192
_CLEAN_CACHE_MAX_CHARS = 256


class TextRedactor:
    def __init__(self, keys: KeyMatcher) -> None:
        self._keys = keys
        # Read by the formatter too, to skip a call per known text; only this class adds.
        self.known_clean: set[str] = set()

    def redact(self, text: str) -> str:
        if text in self.known_clean:
            return text
        head, marker, tail = split_at_cap(text)
        redacted = self._redact_views(head)
        if marker:
            redacted += marker + self._redact_views(tail)
        if redacted == text and len(text) <= _CLEAN_CACHE_MAX_CHARS:
            if len(self.known_clean) >= _CLEAN_CACHE_SIZE:
                self.known_clean.clear()  # cheaper than tracking use; refills with what recurs
            self.known_clean.add(text)
        return redacted

    def _redact_views(self, text: str) -> str:
        result = self._scan(text)
        source = text
        # A URL-encoded name or separator (`pass%77ord=`, `password%3Dx`) is a secret in the
        # decoded view only; if that view shows one, the decoded, redacted text is what gets
        # logged. Decoded from the original (a raw-view replacement can break a shape the
        # decoded view would see), and again for a double- or triple-encoded value.
        for _ in range(3):
            if "%" not in source:
                break
            decoded = unquote(source)
            if decoded == source:
                break
            redacted = self._scan(decoded)
            if redacted != decoded:
                result = redacted
            source = redacted
        return result

    def _scan(self, text: str) -> str:
        if "PRIVATE KEY-----" in text:
            text = _redact_private_keys(text)
        if "=" in text or ":" in text or "," in text:
            text = self._redact_pairs(text)
        if "://" in text:
            text = URL_CREDENTIALS.sub(lambda m: f"{m.group('user')}:{R}@", text)
        if "A" in text:
            text = AWS_KEY_ID.sub(R, text)
        text = PREFIXED_TOKEN.sub(_mask_prefixed_token, text)
        if " " in text or "\t" in text:  # a scheme and its credential are two words
            text = _redact_auth_credentials(text)
        if "eyJ" in text:
            text = JWT.sub(R, text)
        return redact_cards(text)

    def _redact_pairs(self, text: str) -> str:
        pieces: list[str] = []
        done = 0
        for match in SEPARATOR.finditer(text):
            sep_start = match.start()
            if sep_start < done:
                continue
            found = _name_before(text, sep_start, done)
            if found is None:
                continue
            name, quoted = found
            sep = match.group(0)
            if sep == "," and not (quoted and _COMMA_VALUE.match(text, match.end())):
                continue  # a comma separates a pair only in ('name', 'value')
            if not self._keys.is_sensitive(name):
                continue
            start = match.end()
            while start < len(text) and text[start] in _BLANKS and start - match.end() < 4:
                start += 1
            end, replacement = self._value_span(text, start, name, sep)
            if end == start:
                continue
            pieces += (text[done:start], replacement)
            done = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _value_span(self, text: str, start: int, name: str, sep: str) -> tuple[int, str]:
        """Where the value after `start` ends, and what replaces it."""
        if text.startswith(R, start) or text.startswith(f'"{R}"', start):
            return start, ""
        first = text[start:start + 1]
        if first == '"' or first == "'":
            quoted = (_DOUBLE_QUOTED if first == '"' else _SINGLE_QUOTED).match(text, start)
            if quoted is None:  # unterminated: everything to the end of the line
                return _line_end(text, start), f"{first}{R}"
            return quoted.end(), f"{first}{R}{first}"
        escaped = _ESCAPED_QUOTE.match(text, start)
        if escaped:  # JSON inside a JSON string (\"value\"), or inside its repr (\\"value\\")
            opener = escaped.group(0)
            line_end = _line_end(text, start)
            close = text.find(opener, start + len(opener), line_end)
            if close == -1:
                return line_end, f"{opener}{R}"
            return close + len(opener), f"{opener}{R}{opener}"
        if sep == ":" and self._keys.compact(name) in model.LINE_VALUED_NAMES:
            return _line_end(text, start), R
        value = _UNQUOTED.match(text, start)
        if value is None:
            return start, ""
        word = value.group(0).rstrip(_CLOSING_PUNCTUATION) or value.group(0)
        end = start + len(word)
        if word.lower() in model.AUTH_SCHEMES:
            # `Authorization=Basic dXNl...`: the credential is the word after the scheme.
            gap = _SPACES.match(text, end)
            credential = _UNQUOTED.match(text, gap.end()) if gap else None
            if credential is not None:
                return credential.end(), f"{word} {R}"
        return end, R


def _name_before(text: str, end: int, floor: int) -> tuple[str, bool] | None:
    """The name a separator at `end` belongs to, and whether it was quoted: read backwards
    over up to four blanks, a closing quote with up to three backslashes, then the name
    (letters, digits, `_.[]-`, any non-ASCII character). None if there is no name, or it is
    glued to `%` or `$` (the middle of an encoded or templated name)."""
    index = end
    while index > floor and text[index - 1] in _BLANKS and end - index < _MAX_BLANKS:
        index -= 1
    quoted = False
    if index > floor and text[index - 1] in "\"'":
        quoted = True
        index -= 1
        quote_at = index
        while (index > floor and text[index - 1] == "\\"
               and quote_at - index < _MAX_BACKSLASHES):
            index -= 1
    name_end = index
    # Any non-ASCII character counts as part of a name, as it does on the Logstash side
    # (which reads bytes): a decoded "token%b3" is the name "token\ufffd", not no name.
    while index > floor and (text[index - 1] >= "\x80" or text[index - 1].isalnum()
                             or text[index - 1] in _NAME_PUNCTUATION):
        index -= 1
    if index == name_end or (index > 0 and text[index - 1] in "%$"):
        return None
    return text[index:name_end], quoted


def _line_end(text: str, start: int) -> int:
    # '\r' is looked for only up to the next '\n': searching the whole rest of the text for
    # each of many header lines would be quadratic.
    newline = text.find("\n", start)
    stop = newline if newline != -1 else len(text)
    carriage = text.find("\r", start, stop)
    return carriage if carriage != -1 else stop


def _redact_private_keys(text: str) -> str:
    pieces: list[str] = []
    done = 0
    begin = PRIVATE_KEY_BEGIN.search(text)
    orphan_footer = text.find(PRIVATE_KEY_FOOTER, 0, begin.start() if begin else len(text))
    if orphan_footer != -1:
        # The end of a key whose header is not in this text (cut off, or in an earlier
        # line of the log): everything before the footer goes.
        footer = text.rfind("-----END", 0, orphan_footer)
        pieces += (R,)
        done = footer if footer != -1 else orphan_footer
    while begin is not None:
        footer = text.find("-----END", begin.end())
        close = text.find("-----", footer + 8) if footer != -1 else -1
        end = close + 5 if close != -1 else len(text)
        pieces += (text[done:begin.end()], R, text[footer:end] if footer != -1 else "")
        done = end
        begin = PRIVATE_KEY_BEGIN.search(text, done)
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _mask_prefixed_token(match: re.Match[str]) -> str:
    return R if looks_random(match.group("body")) else match.group(0)


def _redact_auth_credentials(text: str) -> str:
    if not text.isascii():
        return AUTH_CREDENTIAL.sub(_mask_auth_credential, text)
    found = AUTH_CREDENTIAL_LOWERED.search(text.lower())
    if found is None:
        return text
    # Rare: redo the whole text with the exact pattern, from where the first one starts.
    start = found.start()
    return text[:start] + AUTH_CREDENTIAL.sub(_mask_auth_credential, text[start:])


def _mask_auth_credential(match: re.Match[str]) -> str:
    # After "Bearer" any token-shaped word is a credential; after the other schemes a plain
    # word is more likely prose ("Basic authentication", "token expiration").
    scheme = match.group("scheme").lower()
    if scheme == "bearer" or looks_random(match.group("credential"), symbols="+/=._~"):
        return f"{match.group('scheme')} {R}"
    return match.group(0)
