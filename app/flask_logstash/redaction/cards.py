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
_LO2, _HI2 = model.CARD_MASTERCARD_2_SERIES
_HEX_LETTERS = frozenset("abcdefABCDEF")
_HEX = frozenset("0123456789") | _HEX_LETTERS


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


def _issuer_ok(digits: str) -> bool:
    first = digits[0]
    if first in model.CARD_FIRST_DIGITS:
        return True
    return first == "2" and _LO2 <= int(digits[:4]) <= _HI2


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def contains_card(digits: str) -> bool:
    """True if any window of `digits` (a string of digits only) is a plausible card number.

    Luhn sums of every window come from two prefix sums (one per doubling parity), so a run
    of n digits costs O(n), not O(n) windows times their length.
    """
    count = len(digits)
    values = [ord(char) - 48 for char in digits]
    # even_doubled[i]: sum of digits before i, doubling those at odd positions; odd_doubled
    # doubles those at even positions.
    even_doubled, odd_doubled = [0], [0]
    for index, value in enumerate(values):
        plain, doubled = value, _DOUBLED[value]
        even_doubled.append(even_doubled[-1] + (doubled if index % 2 else plain))
        odd_doubled.append(odd_doubled[-1] + (plain if index % 2 else doubled))
    for start in range(count - model.CARD_MIN_DIGITS + 1):
        if not _issuer_ok(digits[start:start + 4]):
            continue
        longest = min(model.CARD_MAX_DIGITS, count - start)
        for length in range(longest, model.CARD_MIN_DIGITS - 1, -1):
            end = start + length
            # Luhn doubles every second digit counted from the right end of the window.
            sums = odd_doubled if (end - 1) % 2 else even_doubled
            if (sums[end] - sums[start]) % 10 == 0:
                return True
    return False


def _inside_hex_id(match: re.Match[str]) -> bool:
    """True if the run lies in a hex id or digest (request and trace ids, hashes): a run of
    at least HEX_ID_MIN_LENGTH hex digits with a letter in it. Random hex holds 13+ decimal
    digits in a row often enough to matter (one request id in a few hundred)."""
    text, start, end = match.string, match.start(), match.end()
    if not all(char in _HEX for char in match.group(0)):
        return False
    limit = model.HEX_ID_MIN_LENGTH
    left = start
    while left > 0 and text[left - 1] in _HEX and start - left < limit:
        left -= 1
    right = end
    while right < len(text) and text[right] in _HEX and right - end < limit:
        right += 1
    if right - left < limit:
        return False
    return any(char in _HEX_LETTERS for char in text[left:right])


def _mask(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = "".join(char for char in run.replace("%20", "") if "0" <= char <= "9")
    if not _inside_hex_id(match) and contains_card(digits):
        return model.REDACTED
    return run


# A whole string that is a hex id or digest (the commonest long-digit string in an event).
HEX_ID_TEXT = re.compile(rf"(?=[0-9]*[a-fA-F])[0-9a-fA-F]{{{model.HEX_ID_MIN_LENGTH},}}")


def redact_cards(text: str) -> str:
    if HEX_ID_TEXT.fullmatch(text):
        return text
    return DIGIT_RUN.sub(_mask, text)
