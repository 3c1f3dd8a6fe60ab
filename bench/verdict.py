"""Whether a goal is met, judged from per-round ratios measured on a noisy machine.

The median of a handful of per-round ratios moves by more than the margins the goals set
(three runs of the same code within 15 minutes gave CPU ratios of 1.13, 1.17 and 1.23), so a
median alone says "met" or "not met" by chance. What the rounds do support is an interval for
the median that needs no assumption about the noise's distribution: for n independent rounds
the true median lies between the k-th smallest and the k-th largest ratio with probability
1 - 2 * P(Binomial(n, 1/2) < k) (the sign-test interval). A goal is met when the whole
interval meets it, missed when none of it does, and otherwise the run cannot tell.

Rounds on a shared machine are not quite independent (load drifts), so the stated confidence
is a guide, not a guarantee; the benchmark rotates the variants' order every round for that
reason.
"""

from __future__ import annotations

from math import comb

CONFIDENCE = 0.90

MET, MISSED, CANNOT_TELL = "met", "not met", "cannot tell"


def coverage(n: int, k: int) -> float:
    """Probability that the k-th smallest and k-th largest of n samples enclose the median."""
    if not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"k={k} is not an order statistic pair of {n} samples")
    below = sum(comb(n, i) for i in range(k))
    return 1 - 2 * below / 2 ** n


def median_interval(values: list[float], confidence: float = CONFIDENCE
                    ) -> tuple[float, float, float] | None:
    """(low, high, its confidence): the narrowest sign-test interval for the median that
    reaches `confidence`, or None when there are too few values for any (fewer than 5 at
    90%)."""
    ordered = sorted(values)
    n = len(ordered)
    found = None
    for k in range(1, (n + 1) // 2 + 1):
        reached = coverage(n, k)
        if reached < confidence:
            break
        found = (ordered[k - 1], ordered[n - k], reached)
    return found


def judge(values: list[float], limit: float, strict: bool = False,
          confidence: float = CONFIDENCE) -> str:
    """MET when the interval lies within the limit (below it if `strict`, at or below it
    otherwise), MISSED when it lies wholly outside, CANNOT_TELL when it straddles the limit or
    there are too few rounds."""
    interval = median_interval(values, confidence)
    if interval is None:
        return CANNOT_TELL
    low, high, _ = interval

    def within(ratio: float) -> bool:
        return ratio < limit if strict else ratio <= limit

    if within(high):
        return MET
    if not within(low):
        return MISSED
    return CANNOT_TELL
