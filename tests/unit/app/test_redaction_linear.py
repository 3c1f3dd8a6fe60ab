"""Redaction takes time linear in its input, and never scans more than a fixed length.

No clock is read here (the machine is shared and noisy). Instead:
- the cap: whatever the input's length, what is scanned and returned is bounded;
- the patterns: every regular expression searched through a text is checked, on its parsed
  form, against the rules that make a backtracking engine linear: it starts at a literal or
  behind a look-behind (so a run of similar characters offers one start, not one per
  character), no quantified group holds another repeat, the alternatives of a repeated group
  and an optional item and what follows it begin with different characters.
bench/redaction_bench.py measures the time per character as hostile inputs grow.
"""

import re

import pytest

from flask_logstash.redaction import REDACTED, Redactor, model
from flask_logstash.redaction.text import ANCHORED_PATTERNS, SCANNING_PATTERNS, TextRedactor

try:  # Python 3.11+
    from re import _constants as sre
    from re import _parser as sre_parse
except ImportError:  # Python 3.10
    import sre_constants as sre
    import sre_parse

R = Redactor()
REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT}
UNBOUNDED = sre.MAXREPEAT
# Characters a first-character set is compared on: ASCII, Latin-1 and a sample beyond.
PROBE_CHARS = [chr(c) for c in range(0x250)] + ["\u2028", "\u3000", "\u00e9", "\U0001f600"]


def char_matches(op, av, ch):
    code = ord(ch)
    if op is sre.LITERAL:
        return code == av
    if op is sre.NOT_LITERAL:
        return code != av
    if op is sre.ANY:
        return ch != "\n"
    if op is sre.IN:
        negate = any(item_op is sre.NEGATE for item_op, _ in av)
        hit = any(class_item_matches(item_op, item_av, ch) for item_op, item_av in av
                  if item_op is not sre.NEGATE)
        return hit != negate
    raise AssertionError(f"no first-character rule for {op}")


def class_item_matches(op, av, ch):
    if op is sre.RANGE:
        return av[0] <= ord(ch) <= av[1]
    if op is sre.CATEGORY:
        probe = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D",
                 sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S",
                 sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W"}[av]
        return re.fullmatch(probe, ch) is not None
    return char_matches(op, av, ch)


def first_chars(items):
    """Characters (of PROBE_CHARS) a sequence of parsed items can start with; None means it
    can match empty."""
    chars = set()
    for op, av in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue
        if op is sre.SUBPATTERN:
            inner = first_chars(av[-1])
            if inner is None:
                continue
            return chars | inner
        if op is sre.BRANCH:
            alternatives = [first_chars(alt) for alt in av[1]]
            if any(alt is None for alt in alternatives):
                chars |= set().union(*(a for a in alternatives if a))
                continue
            return chars | set().union(*alternatives)
        if op in REPEATS:
            inner = first_chars(av[2])
            chars |= inner or set()
            if av[0] == 0 or inner is None:
                continue
            return chars
        return chars | {ch for ch in PROBE_CHARS if char_matches(op, av, ch)}
    return chars or None


def violations(items, inside_repeat="", path="pattern"):
    found = []
    for index, (op, av) in enumerate(items):
        rest = items[index + 1:]
        if op in REPEATS:
            low, high, body = av
            if (inside_repeat == "unbounded" and high > 1) or (
                inside_repeat and high == UNBOUNDED
            ):
                found.append(f"{path}: a repeat inside a repeat")
            if high == UNBOUNDED or (low == 0 and high == 1):
                mine, after = first_chars(body) or set(), first_chars(list(rest)) or set()
                if mine & after:
                    found.append(f"{path}: repeated or optional item and what follows it "
                                 f"share {sorted(mine & after)[:5]}")
            nesting = "unbounded" if high == UNBOUNDED else ("bounded" if high > 1 else "")
            found += violations(list(body), inside_repeat or nesting, path + ">repeat")
            if high > 1 and any(o is sre.BRANCH for o, _ in body):
                for _, branch in (item for item in body if item[0] is sre.BRANCH):
                    sets = [first_chars(alt) or set() for alt in branch[1]]
                    for i, left in enumerate(sets):
                        for right in sets[i + 1:]:
                            if left & right:
                                found.append(f"{path}: alternatives of a repeated group "
                                             f"share {sorted(left & right)[:5]}")
        elif op is sre.SUBPATTERN:
            found += violations(list(av[-1]), inside_repeat, path + ">group")
        elif op is sre.BRANCH:
            for alt in av[1]:
                found += violations(list(alt), inside_repeat, path + ">alt")
    return found


def parsed(pattern):
    return list(sre_parse.parse(pattern.pattern, pattern.flags))


@pytest.mark.parametrize("name", sorted(SCANNING_PATTERNS))
def test_scanning_patterns_follow_the_linear_rules(name):
    items = parsed(SCANNING_PATTERNS[name])
    assert not violations(items), violations(items)


def starts_safely(pattern):
    return items_start_safely(parsed(pattern))


def items_start_safely(items):
    op, av = items[0]
    following = items[1][0] if len(items) > 1 else None
    if op is sre.SUBPATTERN:
        return items_start_safely(list(av[-1]) + items[1:])
    if op is sre.BRANCH:
        return all(items_start_safely(list(alt)) for alt in av[1])
    look_behind = op is sre.ASSERT_NOT or (op is sre.ASSERT and av[0] == -1)
    # A character set followed at once by a look-behind refusing starts inside a run, a
    # single character, or one followed by a bounded repeat: a bounded amount of work at
    # each start.
    one_char = op is sre.IN and (
        following is None
        or following is sre.ASSERT_NOT
        or (following in REPEATS and items[1][1][1] != UNBOUNDED)
    )
    return op is sre.LITERAL or look_behind or one_char


@pytest.mark.parametrize("name", sorted(SCANNING_PATTERNS))
def test_scanning_patterns_start_at_a_literal_a_look_behind_or_a_bounded_run(name):
    assert starts_safely(SCANNING_PATTERNS[name])


@pytest.mark.parametrize("name", sorted(ANCHORED_PATTERNS))
def test_anchored_patterns_follow_the_linear_rules(name):
    items = parsed(ANCHORED_PATTERNS[name])
    assert not violations(items), violations(items)


def test_the_rules_catch_the_shapes_that_backtrack():
    # The checker itself must fail on what it is meant to refuse.
    assert violations(parsed(re.compile(r"(a+)+b")))
    assert violations(parsed(re.compile(r"(?:a|\w)*c")))
    assert violations(parsed(re.compile(r"\w+\d+x")))
    # The old JWT pattern: a word boundary lets every "eyJ" of "eyJ-eyJ-eyJ-..." start a
    # scan to the end of the text (issue 13's frozen worker).
    assert not starts_safely(re.compile(r"\beyJ[a-zA-Z0-9_-]{5,}\.[a-zA-Z0-9_-]{5,}"))
    assert not violations(parsed(re.compile(r"(?:[^\"\\]|\\.)*\"")))


LIMIT = model.MAX_SCANNED_CHARS
HOSTILE = {
    "jwt_like": lambda n: ("eyJ" + "a" * 7 + "-") * (n // 11),
    "jwt_dots": lambda n: ("eyJabcdef." * (n // 10)),
    "digits": lambda n: "4" * n,
    "digits_spaced": lambda n: "41 " * (n // 3),
    "names": lambda n: "a" * n,
    "pairs": lambda n: "a=" * (n // 2),
    "password_pairs": lambda n: "password=" * (n // 9),
    "colons": lambda n: "password:" * (n // 9),
    "quotes": lambda n: '"password": "' * (n // 13),
    "headers": lambda n: "Cookie: x\n" * (n // 10),
    "percent": lambda n: "%25" * (n // 3),
    "url_at": lambda n: "://" + "a:" * (n // 2),
    "begin_keys": lambda n: "-----BEGIN RSA PRIVATE KEY-----" * (n // 31),
    "bearer": lambda n: "Bearer " * (n // 7),
    "prefixes": lambda n: "ghp_" * (n // 4),
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_hostile_input_is_cut_at_the_cap_before_scanning(shape, monkeypatch):
    scanned = []
    scan = TextRedactor._scan

    def recording_scan(self, text):
        scanned.append(len(text))
        return scan(self, text)

    monkeypatch.setattr(TextRedactor, "_scan", recording_scan)
    text = HOSTILE[shape](LIMIT * 8)
    assert len(text) > LIMIT * 7
    out = Redactor().redact_text(text)
    assert scanned
    assert max(scanned) <= LIMIT
    assert re.search(r"…\[TRUNCATED [0-9]+ chars\]", out)


def test_a_secret_beyond_the_cap_is_dropped_and_one_before_it_redacted():
    text = "password=Before1Cap2 " + "x " * LIMIT + "password=After3Cap4"
    out = R.redact_text(text)
    assert "Before1Cap2" not in out
    assert "After3Cap4" not in out
    assert f"password={REDACTED}" in out


def test_the_cuts_do_not_leave_half_a_token():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl"
    length = 3 * LIMIT
    for cut in (LIMIT // 2, length - LIMIT // 2):  # where the head ends, where the tail starts
        for shift in range(0, len(jwt) + 1, 5):
            at = cut - shift
            text = " " * at + jwt + " " * (length - at - len(jwt))
            out = R.redact_text(text)
            assert "eyJzdWIiOiIxMjM0NSJ9" not in out, (cut, shift)
            assert "c2lnbmF0dXJlLXZhbHVl" not in out, (cut, shift)


def test_a_stack_trace_keeps_its_first_and_last_lines():
    frames = "".join(f'  File "app.py", line {n}, in handler\n    step({n})\n'
                     for n in range(3000))
    trace = "Traceback (most recent call last):\n" + frames + "ValueError: bad input\n"
    out = R.redact_text(trace)
    assert out.startswith("Traceback (most recent call last):")
    assert out.endswith("ValueError: bad input\n")
    assert "TRUNCATED" in out


def test_a_key_block_cut_by_the_cap_is_redacted_on_both_sides():
    body = "".join(f"MIIE{n:06d}KeyMaterialLine\n" for n in range(3000))
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----"
    out = R.redact_text(text)
    assert "KeyMaterialLine" not in out


def test_text_under_the_cap_is_not_cut():
    text = "word " * (LIMIT // 5)
    assert R.redact_text(text) == text
