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
_NAME_CHARS = r"\w.\[\]\-"

# `name=value`, `name: value`, `"name": "value"`, `\"name\":\"value\"`, `('name', 'value')`.
# Only the name and the separator are matched; the value is read in Python, and only for
# sensitive names, so a value is never scanned twice.
PAIR = re.compile(
    rf"(?<![{_NAME_CHARS}%$])(?P<name>[{_NAME_CHARS}]+)(?P<close>\\{{0,3}}[\"'])?"
    r"[ \t]{0,4}(?P<sep>=>?|:|,(?=[ \t]{0,4}\\{0,3}[\"']))[ \t]{0,4}"
)
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
AWS_KEY_ID = re.compile(
    r"(?<![A-Z0-9])(?:" + "|".join(model.AWS_KEY_ID_PREFIXES) + r")[A-Z0-9]{16}(?![A-Z0-9])"
)
PREFIXED_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?P<prefix>" + "|".join(re.escape(p) for p in model.TOKEN_PREFIXES)
    + rf")(?P<body>[A-Za-z0-9_\-.=]{{{model.TOKEN_MIN_BODY},}})"
)
AUTH_CREDENTIAL = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?P<scheme>" + "|".join(model.AUTH_SCHEMES)
    + r")[ \t]+(?P<credential>[A-Za-z0-9._~+/=-]{8,})"
)
JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"
)
PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----")
_TRUNCATION_DELIMITERS = re.compile(r"[\s&;,\"'<>]")

# Every pattern searched through a whole text (tests/unit/app/test_redaction_linear.py checks
# their structure), and those only matched at one position of it, once.
SCANNING_PATTERNS = {
    "pair": PAIR, "url_credentials": URL_CREDENTIALS, "aws_key_id": AWS_KEY_ID,
    "prefixed_token": PREFIXED_TOKEN, "auth_credential": AUTH_CREDENTIAL, "jwt": JWT,
    "private_key_begin": PRIVATE_KEY_BEGIN, "card_digit_run": cards.DIGIT_RUN,
    "card_candidate": cards.CANDIDATE, "truncation_delimiters": _TRUNCATION_DELIMITERS,
}
ANCHORED_PATTERNS = {
    "unquoted_value": _UNQUOTED, "double_quoted_value": _DOUBLE_QUOTED,
    "single_quoted_value": _SINGLE_QUOTED, "escaped_quote": _ESCAPED_QUOTE,
    "spaces": _SPACES,
}


def looks_random(token: str, symbols: str = "") -> bool:
    """A credential has a digit, a capital after its first letter, or one of `symbols`; a
    word has none of them. Keeps "Basic information" and "sk-learn-classifier-notes" intact.
    """
    if any(char.isdigit() or char in symbols for char in token):
        return True
    tail = token[1:]
    return any(char.isupper() for char in tail) and any(char.islower() for char in tail)


def split_at_cap(text: str) -> tuple[str, str]:
    """The part of `text` that is scanned, and the marker that replaces the rest ("" if
    nothing is cut)."""
    limit = model.MAX_SCANNED_CHARS
    if len(text) <= limit:
        return text, ""
    # Cut at the last delimiter before the limit, so no token is cut in half and left with a
    # shape (a JWT's first two parts, most of a card) that the patterns no longer recognise.
    cut = limit
    for match in _TRUNCATION_DELIMITERS.finditer(text, limit - 512, limit):
        cut = match.start()
    return text[:cut], model.TRUNCATION_MARKER.format(dropped=len(text) - cut)


class TextRedactor:
    def __init__(self, keys: KeyMatcher) -> None:
        self._keys = keys

    def redact(self, text: str) -> str:
        head, marker = split_at_cap(text)
        return self._redact_views(head) + marker

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
        if "-----BEGIN" in text:
            text = _redact_private_keys(text)
        if "=" in text or ":" in text or "," in text:
            text = self._redact_pairs(text)
        if "://" in text:
            text = URL_CREDENTIALS.sub(lambda m: f"{m.group('user')}:{R}@", text)
        text = AWS_KEY_ID.sub(R, text)
        text = PREFIXED_TOKEN.sub(_mask_prefixed_token, text)
        text = AUTH_CREDENTIAL.sub(_mask_auth_credential, text)
        if "eyJ" in text:
            text = JWT.sub(R, text)
        return redact_cards(text)

    def _redact_pairs(self, text: str) -> str:
        pieces: list[str] = []
        done = 0
        for match in PAIR.finditer(text):
            start = match.end()
            if start <= done:
                continue
            if match.group("sep") == "," and not match.group("close"):
                continue
            name = match.group("name")
            if not self._keys.is_sensitive(name):
                continue
            end, replacement = self._value_span(text, start, name, match.group("sep"))
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
    while True:
        begin = PRIVATE_KEY_BEGIN.search(text, done)
        if begin is None:
            break
        footer = text.find("-----END", begin.end())
        close = text.find("-----", footer + 8) if footer != -1 else -1
        end = close + 5 if close != -1 else len(text)
        pieces += (text[done:begin.end()], R, text[footer:end] if footer != -1 else "")
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _mask_prefixed_token(match: re.Match[str]) -> str:
    return R if looks_random(match.group("body")) else match.group(0)


def _mask_auth_credential(match: re.Match[str]) -> str:
    # After "Bearer" any token-shaped word is a credential; after the other schemes a plain
    # word is more likely prose ("Basic authentication", "token expiration").
    scheme = match.group("scheme").lower()
    if scheme == "bearer" or looks_random(match.group("credential"), symbols="+/=._~"):
        return f"{match.group('scheme')} {R}"
    return match.group(0)
