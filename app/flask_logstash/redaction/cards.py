"""Payment card numbers in text: any 13-19 digit window of a digit run that passes Luhn.

A run is digits joined by at most one separator (or two spaces), so a card is found with its
expiry or CVV glued on, inside a longer number, or next to letters; the whole run is
replaced, which takes a CVV written after the number with it.
"""

from __future__ import annotations

import re
import string

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
# What continues a word past an id (ASCII only, as the Logstash side reads bytes).
_WORD_CHARS = frozenset(string.ascii_letters + string.digits)


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
    """True if the run lies in a hex id or digest (request and trace ids, hashes): the whole
    word around it is hex with a letter in it, HEX_ID_MIN_LENGTH to HEX_ID_MAX_LENGTH long,
    and dash-free or a UUID. Random hex holds 13+ decimal digits in a row often enough to
    matter (one request id in a few hundred)."""
    text, start, end = match.string, match.start(), match.end()
    if not all(char in _ID_CHARS for char in match.group(0)):
        return False
    limit = model.HEX_ID_MAX_LENGTH
    left = start
    while left > 0 and text[left - 1] in _ID_CHARS and end - left <= limit:
        left -= 1
    right = end
    while right < len(text) and text[right] in _ID_CHARS and right - left <= limit:
        right += 1
    # A dash at either end joins the id to a name ("req-<uuid>"); it is not part of the id.
    while left < start and text[left] == "-":
        left += 1
    while right > end and text[right - 1] == "-":
        right -= 1
    word = text[left:right]
    if (not model.HEX_ID_MIN_LENGTH <= len(word) <= limit
            or (left > 0 and text[left - 1] in _WORD_CHARS)
            or (right < len(text) and text[right] in _WORD_CHARS)):
        return False  # too short, too long, or glued to more of a word: not a whole id
    groups = tuple(len(group) for group in word.split("-"))
    if len(groups) > 1 and groups != model.UUID_GROUP_LENGTHS:
        return False
    return any(char in _HEX_LETTERS for char in word)


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
