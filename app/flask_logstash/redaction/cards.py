"""Payment card numbers in text: any 13-19 digit window of a digit run that passes Luhn.

A run is digits joined by at most one separator (or two spaces), so a card is found with its
expiry or CVV glued on, inside a longer number, or next to letters; the whole run is
replaced, which takes a CVV written after the number with it.
"""

from __future__ import annotations

import re

from flask_logstash.redaction import model

_SEPARATOR = "|".join(re.escape(sep) for sep in sorted(model.CARD_SEPARATORS, key=len,
                                                             reverse=True))
# A run starts at a digit with no digit before it (the look-behind right after the first
# digit keeps the engine's fast search for a digit), and each repetition begins with a
# separator or a digit (disjoint), so no digit is read twice: linear in the text's length.
DIGIT_RUN = re.compile(
    rf"[0-9](?<![0-9][0-9])(?:(?:{_SEPARATOR})?[0-9]){{{model.CARD_MIN_DIGITS - 1},}}"
)
_HEX_LETTERS = frozenset("abcdefABCDEF")
_HEX = frozenset("0123456789") | _HEX_LETTERS
_GROUPS = re.compile(r"[0-9]+")
# A UUID's dashes belong to the id around a digit run.
_ID_CHARS = _HEX | {"-"}


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


_ANY_LENGTH = range(model.CARD_MIN_DIGITS, model.CARD_MAX_DIGITS + 1)


def card_lengths(first_digits: str) -> tuple[int, ...]:
    """The lengths a card number starting with these digits can have (model.py)."""
    for low, high, lengths in model.CARD_LENGTHS_BY_PREFIX:
        if low <= first_digits[:len(low)] <= high:
            return lengths
    return ()


def _is_card(digits: str) -> bool:
    return len(digits) in card_lengths(digits[:4]) and luhn_ok(digits)


def contains_card(digits: str, group_ends: list[int] | None = None) -> bool:
    """True if `digits` (a run of digits, its separator-delimited groups ending at
    `group_ends`) holds a plausible card number. Tried: every sequence of whole groups of
    card length ("4111 1111 1111 1111 123"), also without 3 or 4 digits glued to its last
    group (a CVV or expiry: "4111 1111 1111 11111228"); inside a group longer than any
    card, every window that starts or ends with the group. Few windows, so a random number
    rarely passes by chance.
    """
    ends = group_ends or [len(digits)]
    starts = [0, *ends[:-1]]
    low, high = model.CARD_MIN_DIGITS, model.CARD_MAX_DIGITS
    for i, start in enumerate(starts):
        for j in range(i, len(ends)):
            if ends[j] - start - 4 > high:
                break
            for glued in (0, 3, 4):
                end = ends[j] - glued
                if (end > starts[j] and low <= end - start <= high
                        and _is_card(digits[start:end])):
                    return True
    for start, end in zip(starts, ends, strict=True):
        if end - start > high:
            windows = [(start, start + n) for n in _ANY_LENGTH] + [
                (end - n, end) for n in _ANY_LENGTH]
            if any(_is_card(digits[a:b]) for a, b in windows):
                return True
    return False


def _inside_hex_id(match: re.Match[str]) -> bool:
    """True if the run lies in a hex id or digest (request and trace ids, hashes): a run of
    at least HEX_ID_MIN_LENGTH hex digits with a letter in it. Random hex holds 13+ decimal
    digits in a row often enough to matter (one request id in a few hundred)."""
    text, start, end = match.string, match.start(), match.end()
    if not all(char in _ID_CHARS for char in match.group(0)):
        return False
    limit = model.HEX_ID_MIN_LENGTH
    left = start
    while left > 0 and text[left - 1] in _ID_CHARS and start - left < limit:
        left -= 1
    right = end
    while right < len(text) and text[right] in _ID_CHARS and right - end < limit:
        right += 1
    if right - left < limit:
        return False
    return any(char in _HEX_LETTERS for char in text[left:right])


def _mask(match: re.Match[str]) -> str:
    run = match.group(0)
    groups = _GROUPS.findall(run.replace("%20", " "))
    digits = "".join(groups)
    group_ends, total = [], 0
    for group in groups:
        total += len(group)
        group_ends.append(total)
    if not _inside_hex_id(match) and contains_card(digits, group_ends):
        return model.REDACTED
    return run


# A whole string that is a hex id or digest (the commonest long-digit string in an event).
HEX_ID_TEXT = re.compile(rf"(?=[0-9]*[a-fA-F])[0-9a-fA-F]{{{model.HEX_ID_MIN_LENGTH},}}")


# Thirteen digits, each at most two separator characters from the next: most text has no
# such stretch, and finding that out is cheaper than walking every digit run. Bounded work
# at each start.
CANDIDATE = re.compile(r"[0-9](?:[ .+\t%-]{0,2}[0-9]){12}")


def redact_cards(text: str) -> str:
    if HEX_ID_TEXT.fullmatch(text) or not CANDIDATE.search(text):
        return text
    return DIGIT_RUN.sub(_mask, text)
