"""bench/verdict.py judges a goal from per-round ratios by the sign-test interval of their
median: a median alone said "met" or "not met" by chance on this noisy machine."""

import importlib.util
import json
import random
import sys
from math import comb
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[3]


def _load(name: str):
    saved = list(sys.path)
    try:
        sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "app")]
        spec = importlib.util.spec_from_file_location(f"{name}_under_test",
                                                      ROOT / f"bench/{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while exec runs
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


verdict = _load("verdict")


def test_coverage_is_the_binomial_tail_of_the_sign_test():
    assert verdict.coverage(7, 1) == pytest.approx(1 - 2 / 128)
    assert verdict.coverage(7, 2) == pytest.approx(1 - 2 * (1 + 7) / 128)
    assert verdict.coverage(25, 8) == pytest.approx(
        1 - 2 * sum(comb(25, i) for i in range(8)) / 2 ** 25)
    with pytest.raises(ValueError, match="not an order statistic pair"):
        verdict.coverage(7, 5)


def test_seven_rounds_give_their_range_and_four_give_nothing():
    rounds = [1.2, 0.9, 1.1, 1.3, 1.0, 1.05, 1.15]
    low, high, reached = verdict.median_interval(rounds)
    assert (low, high) == (0.9, 1.3)
    assert reached == pytest.approx(1 - 2 / 128)
    assert verdict.median_interval([1.0, 1.1, 1.2, 1.3]) is None  # 87.5% at best
    assert verdict.judge([1.0, 1.0, 1.0, 1.0], 1.05) == verdict.CANNOT_TELL


def test_more_rounds_narrow_the_interval_to_inner_order_statistics():
    rounds = [float(i) for i in range(1, 26)]
    low, high, reached = verdict.median_interval(rounds)
    assert reached >= verdict.CONFIDENCE
    k = int(low)
    assert high == 26 - k
    assert k > 1
    # One step narrower would fall below the confidence asked for.
    assert verdict.coverage(25, k + 1) < verdict.CONFIDENCE


def test_judge_says_met_missed_or_cannot_tell():
    assert verdict.judge([1.01, 1.02, 1.03, 1.04, 1.05], 1.05) == verdict.MET
    assert verdict.judge([1.06, 1.2, 1.3, 1.1, 1.07], 1.05) == verdict.MISSED
    assert verdict.judge([0.9, 1.2, 1.0, 1.1, 1.07], 1.05) == verdict.CANNOT_TELL
    # "ahead of an alternative" is strict: equal is not ahead.
    assert verdict.judge([0.9, 0.95, 1.0, 0.8, 0.7], 1.0, strict=True) == verdict.CANNOT_TELL
    assert verdict.judge([1.0] * 5, 1.0, strict=True) == verdict.MISSED
    assert verdict.judge([1.0] * 5, 1.0) == verdict.MET


@given(st.lists(st.floats(0.1, 10, allow_nan=False), min_size=5, max_size=40),
       st.floats(0.1, 10, allow_nan=False))
def test_a_verdict_never_contradicts_every_round(rounds, limit):
    said = verdict.judge(rounds, limit)
    if all(r <= limit for r in rounds):
        assert said == verdict.MET
    if all(r > limit for r in rounds):
        assert said == verdict.MISSED
    if said == verdict.MET:
        assert sorted(rounds)[len(rounds) // 2] <= limit
    if said == verdict.MISSED:
        assert sorted(rounds)[(len(rounds) - 1) // 2] > limit


@pytest.mark.parametrize("rounds", [7, 15, 31])
def test_the_interval_holds_the_true_median_as_often_as_it_says(rounds):
    # Skewed noise around a known median, as a loaded machine's rounds are (long right tail).
    rng = random.Random(rounds)
    median = 1.12
    trials, held = 4000, 0
    reached = None
    for _ in range(trials):
        sample = [median * rng.lognormvariate(0, 0.15) for _ in range(rounds)]
        low, high, reached = verdict.median_interval(sample)
        held += low <= median <= high
    assert abs(held / trials - reached) < 0.02
    assert reached >= verdict.CONFIDENCE


def test_compare_variants_writes_a_verdict_for_every_goal(tmp_path):
    bench = _load("compare_variants")
    runs = []
    for rnd, (off_cpu, ours_cpu) in enumerate([(500, 560), (520, 590), (480, 540), (510, 580),
                                               (495, 555), (530, 600), (505, 570)]):
        for variant, cpu, p99 in (("off", off_cpu, 10.0), ("flask_logstash", ours_cpu, 10.2)):
            runs.append(bench.ServedRun(variant=variant, round=rnd, requests=100, p50_ms=3.0,
                                        p90_ms=6.0, p99_ms=p99 + rnd / 10, max_ms=20.0,
                                        cpu_us_per_request=cpu, events_per_request=2.0,
                                        drain_s=0.0, load_1m=1.0))
    summary = bench.summarise(runs, {})
    goals = {g["goal"]: g for g in summary["goals"]}
    cpu = goals["CPU/request flask_logstash/off"]
    assert cpu["verdict"] == verdict.MISSED  # every round 1.12-1.14 against 1.10
    p99 = goals["p99 flask_logstash/off"]
    assert p99["verdict"] == verdict.MET  # every round 1.02 or below against 1.05
    json.dumps(summary)  # the JSON result carries the intervals
    table = bench.table(summary, 7, ("off", "flask_logstash"))
    assert "| not met |" in table
    assert "| met |" in table


def _runs(bench, cpu_by_variant: dict[str, list[float | None]]):
    # p99 is a different figure from CPU (ten times CPU's ratio to 500 above 1), so a ladder
    # that read one for the other would not pass; None leaves a variant out of that round.
    return [bench.ServedRun(variant=v, round=rnd, requests=100, p50_ms=3.0, p90_ms=6.0,
                            p99_ms=10.0 + (cpu - 500) / 5, max_ms=20.0,
                            cpu_us_per_request=cpu, events_per_request=2.0, drain_s=0.0,
                            load_1m=1.0)
            for v, cpus in cpu_by_variant.items() for rnd, cpu in enumerate(cpus)
            if cpu is not None]


def test_the_cost_ladder_judges_each_rung_against_off_and_the_rung_below():
    bench = _load("compare_variants")
    off = [500, 500, 500, 500, 500, 500, 500]
    null = [520] * 7
    capture = [530] * 7
    handoff = [560] * 7
    ours = [600] * 7
    ours[3] = 780  # one odd round: the per-round ratio, not a ratio of medians, is judged
    # Given out of order: the ladder's order is LADDER's, not the run's.
    summary = bench.summarise(_runs(bench, {"flask_logstash": ours, "handoff_only": handoff,
                                            "off": off, "capture_only": capture,
                                            "null": null}), {})
    steps = {s["step"]: s for s in summary["ladder"]}
    assert list(steps) == ["null/off", "capture_only/off", "capture_only/null",
                           "handoff_only/off", "handoff_only/capture_only",
                           "flask_logstash/off", "flask_logstash/handoff_only"]
    assert steps["null/off"]["cpu"]["median"] == pytest.approx(1.04)
    assert steps["null/off"]["p99"]["median"] == pytest.approx(14 / 10)
    assert steps["handoff_only/capture_only"]["cpu"]["median"] == pytest.approx(560 / 530)
    assert steps["handoff_only/capture_only"]["p99"]["median"] == pytest.approx(22 / 16)
    low, high, _ = steps["flask_logstash/handoff_only"]["cpu"]["median_interval"]  # 7: the range
    assert (low, high) == (pytest.approx(600 / 560), pytest.approx(780 / 560))
    assert {s["rounds"] for s in summary["ladder"]} == {7}
    table = bench.table(summary, 7, ("off", "null", "capture_only", "handoff_only",
                                     "flask_logstash"))
    assert "| flask_logstash/handoff_only | 7 | 1.071 (1.071-1.393, 98.4%) | " in table
    json.dumps(summary)


def test_a_ladder_step_is_judged_over_the_rounds_that_have_both_rungs():
    bench = _load("compare_variants")
    summary = bench.summarise(_runs(bench, {
        "off": [500] * 7,
        "null": [520, 520, None, None, 520, 520, 520],  # missing from two rounds
        "flask_logstash": [600] * 7,
        "handoff_only": [None] * 6 + [560],  # in one round only: too few for an interval
    }), {})
    steps = {s["step"]: s for s in summary["ladder"]}
    assert steps["null/off"]["rounds"] == 5
    assert steps["handoff_only/null"]["rounds"] == 1
    assert steps["handoff_only/null"]["cpu"]["median_interval"] is None
    assert steps["flask_logstash/handoff_only"]["rounds"] == 1
    table = bench.table(summary, 7, ("off", "null", "handoff_only", "flask_logstash"))
    assert "| handoff_only/null | 1 | 1.077 (too few rounds) |" in table


def test_a_run_of_ours_and_off_alone_has_no_ladder_table():
    bench = _load("compare_variants")
    summary = bench.summarise(_runs(bench, {"off": [500] * 5, "flask_logstash": [560] * 5}), {})
    assert [s["step"] for s in summary["ladder"]] == ["flask_logstash/off"]
    assert "Where the cost goes" not in bench.table(summary, 5, ("off", "flask_logstash"))


def test_a_ladder_step_without_a_shared_round_is_left_out():
    bench = _load("compare_variants")
    summary = bench.summarise(_runs(bench, {
        "off": [500] * 5,
        "null": [None, 520, 520, 520, 520],
        "capture_only": [530, None, None, None, None],  # never in a round with null
        "flask_logstash": [600] * 5,
    }), {})
    steps = [s["step"] for s in summary["ladder"]]
    assert "capture_only/null" not in steps
    assert "capture_only/off" in steps
    bench.table(summary, 5, ("off", "null", "capture_only", "flask_logstash"))


def test_a_run_of_the_floor_alone_prints_its_ladder_and_no_empty_goals_table():
    bench = _load("compare_variants")
    summary = bench.summarise(_runs(bench, {"off": [500] * 5, "null": [520] * 5,
                                            "handoff_only": [560] * 5}), {})
    assert summary["goals"] == []
    table = bench.table(summary, 5, ("off", "null", "handoff_only"))
    assert "| goal |" not in table
    assert "| handoff_only/null | 5 | 1.077 (1.077-1.077, 93.8%) |" in table
