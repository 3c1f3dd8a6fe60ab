"""Payment card numbers in text: any 13-19 digit window of a digit run that passes Luhn.

A run is digits joined by at most one separator (or two spaces), so a card is found with its
expiry or CVV glued on, inside a longer number, or next to letters; the whole run is
replaced, which takes a CVV written after the number with it.
"""

from __future__ import annotations

import itertools
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
_ID_STRETCH = re.compile(r"[0-9a-fA-F-]*")
# What glues a hex stretch to a longer word (ASCII only, as the Logstash side reads bytes).
_NON_HEX_LETTERS = frozenset(string.ascii_letters) - _HEX_LETTERS


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


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit's Luhn value where it is doubled


class _WindowLuhn:
    """The Luhn check of any window of one digit string in constant time, from prefix sums
    made on first use: a long run of short groups has thousands of windows."""

    def __init__(self, digits: str) -> None:
        self._digits = digits
        self._sums: tuple[list[int], list[int]] | None = None

    def ok(self, start: int, end: int) -> bool:
        if self._sums is None:
            values = [ord(char) - 48 for char in self._digits]
            # sums[q][k]: positions before k, doubled where the position's parity is q.
            self._sums = tuple(  # type: ignore[assignment]
                list(itertools.accumulate(
                    (_DOUBLED[value] if index % 2 == parity else value
                     for index, value in enumerate(values)), initial=0))
                for parity in (0, 1))
        # Counted from the window's right end, every second digit is doubled: those whose
        # position has the parity of `end`.
        sums = self._sums[end % 2]  # type: ignore[index]
        return (sums[end] - sums[start]) % 10 == 0


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
    high = model.CARD_MAX_DIGITS
    luhn = _WindowLuhn(digits)
    for i, start in enumerate(starts):
        # Every window from here shares its first digits, so the scheme's lengths are looked
        # up once: a run of thousands of one-digit groups ("1-1-1-…") otherwise cost a table
        # walk per window, 200 ms for one 32 KiB string.
        lengths = card_lengths(digits[start:start + 4])
        if not lengths:
            continue
        for j in range(i, len(ends)):
            if ends[j] - start - 4 > high:
                break
            for glued in (0, 3, 4):
                end = ends[j] - glued
                if end > starts[j] and end - start in lengths and luhn.ok(start, end):
                    return True
    for start, end in zip(starts, ends, strict=True):
        if end - start > high:
            windows = [(start, start + n) for n in _ANY_LENGTH] + [
                (end - n, end) for n in _ANY_LENGTH]
            if any(_is_card(digits[a:b]) for a, b in windows):
                return True
    return False


def _hex_ids_around(match: re.Match[str]) -> list[tuple[int, int]]:
    """Where hex ids or digests (request and trace ids, hashes) overlap the run, as (start,
    end) spans of the text. An id is one dash-free hex word of HEX_ID_MIN_LENGTH or more, or
    dash-joined hex words shaped as a UUID or a W3C traceparent (model.HEX_ID_SHAPES), with
    a hex letter and not glued to further letters. Random hex holds 13+ decimal digits in a
    row often enough to matter (one id in a few hundred)."""
    text, start, end = match.string, match.start(), match.end()
    if not all(char in _ID_CHARS for char in match.group(0)):
        return []
    # Scanned in C (a reversed slice for the left side): this runs for every digit run.
    reach = model.HEX_ID_REACH
    left = start - _ID_STRETCH.match(text[max(0, start - reach):start][::-1]).end()
    right = _ID_STRETCH.match(text, end, end + reach).end()
    # In URL-encoded text ("id%3D<uuid>", "%22<uuid>") an escape's two hex digits are not
    # the id's, even where the digit run begins with them.
    if left and text[left - 1] == "%" and left + 2 < end:
        left += 2
    # A non-hex letter right next to the stretch glues it to a longer word (an id ends at a
    # word's end), except the x of a "0x" prefix; hex or a dash there only means the scan's
    # reach ended.
    open_left = (left > 0 and text[left - 1] in _NON_HEX_LETTERS
                 and not (text[left - 1] in "xX" and left > 1 and text[left - 2] == "0"))
    open_right = right < len(text) and text[right] in _NON_HEX_LETTERS
    words, position = [], left  # (start, end) of each dash-separated word
    for word in text[left:right].split("-"):
        words.append((position, position + len(word)))
        position += len(word) + 1
    first = next(i for i, (_, b) in enumerate(words) if b > max(start, left))
    last = next(i for i, (a, b) in enumerate(words) if a < end <= b)

    def is_id(i: int, j: int, lengths_fit: bool) -> bool:
        if not lengths_fit or (i == 0 and open_left) or (j == len(words) - 1 and open_right):
            return False
        return any(char in _HEX_LETTERS for char in text[words[i][0]:words[j][1]])

    spans = [words[k] for k in range(first, last + 1)
             if is_id(k, k, words[k][1] - words[k][0] >= model.HEX_ID_MIN_LENGTH)]
    lengths = [b - a for a, b in words]
    for shape in model.HEX_ID_SHAPES:
        for i in range(max(0, first - len(shape) + 1), min(last, len(words) - len(shape)) + 1):
            j = i + len(shape) - 1
            if lengths[i] == shape[0] and is_id(i, j, tuple(lengths[i:j + 1]) == shape):
                spans.append((words[i][0], words[j][1]))
    return spans


def _outside(match: re.Match[str], spans: list[tuple[int, int]]) -> list[str]:
    """The parts of the run that no span covers."""
    start = match.start()
    covered = [False] * (match.end() - start)
    for a, b in spans:
        for position in range(max(a, start), min(b, match.end())):
            covered[position - start] = True
    run = match.group(0)
    pieces, piece = [], []
    for char, inside in zip(run, covered, strict=True):
        if inside:
            if piece:
                pieces.append("".join(piece))
            piece = []
        else:
            piece.append(char)
    if piece:
        pieces.append("".join(piece))
    return pieces


def _holds_card(run: str) -> bool:
    groups = _GROUPS.findall(run.replace("%20", " "))
    group_ends, total = [], 0
    for group in groups:
        total += len(group)
        group_ends.append(total)
    return bool(groups) and contains_card("".join(groups), group_ends)


def _mask(match: re.Match[str]) -> str:
    # Digits inside an id are the id's: only what lies outside every id can be a card.
    ids = _hex_ids_around(match)
    pieces = _outside(match, ids) if ids else [match.group(0)]
    if any(_holds_card(piece) for piece in pieces):
        return model.REDACTED
    return match.group(0)


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
