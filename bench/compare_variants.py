"""Side-by-side cost of the logging set-ups a Flask user would pick (bench/variants.py).

    .venv/bin/python bench/compare_variants.py [--quick]      # needs the [bench] extras

Run by hand; asserts nothing. On this machine, in one run:
  1. the sample API `GET /api/items` under gunicorn (2 workers x 4 threads, 8 clients), each
     served variant once per round, the order rotated every round so drift on a shared machine
     spreads over all of them: p50/p99 latency, server CPU per request (user+system time of
     the gunicorn processes from /proc, up to the moment the sink has every event of the run,
     so asynchronous work is counted), and events that reached the sink per request;
  2. one `logger.info` of the sample's on the calling thread, inside a request, against a
     NullHandler twin called in turns with it: mean of a tight loop, and median when paced
     at 2,000 calls/s.
Ratios are taken within a round (a variant against logging off of the same round), then the
median over rounds; each goal is judged by that median's 90% interval (bench/verdict.py), so a
run too noisy to decide says so. Writes a JSON result, a table (stdout, Markdown) and two
plots. `--table-from JSON` judges a saved result again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "app")]

from load import (  # noqa: E402
    LineCounter,
    closed_loop,
    count_lines,
    free_port,
    server_cpu_seconds,
    wait_for,
    wait_until_serving,
)
from variants import PROBES, SERVED, VARIANTS, Sinks, create_variant_app  # noqa: E402
from verdict import CONFIDENCE, judge, median_interval  # noqa: E402

ALTERNATIVES = ("stock_async", "ecs_stdout", "queue_file")
WORKERS, THREADS, CLIENTS = 2, 4, 8
EVENTS_PER_REQUEST = 2  # the access event and "listed N items"

GOAL_P99 = 1.05
GOAL_CPU = 1.10
GOAL_CALL = 2.0
# Where ours' cost over `off` goes, cheapest first: the records alone (`null`), plus our
# request-thread capture (`capture_only`), plus the put and a second thread (`handoff_only`),
# plus formatting, buffering and sending (ours). Each rung present in a run is judged against
# `off` and against the rung below it.
LADDER = ("off", "null", "capture_only", "handoff_only", "flask_logstash")


# -- the sample API under gunicorn ----------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


@dataclass
class ServedRun:
    variant: str
    round: int
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_us_per_request: float
    events_per_request: float
    drain_s: float  # from the last response until the sink had every event
    load_1m: float  # the machine's load average at the end: other work shows up here
    latencies_ms: list[float] = field(repr=False, default_factory=list)


def served_run(variant: str, round_no: int, requests: int, counter: LineCounter) -> ServedRun:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        log_file, stdout_file = Path(tmp) / "queue.ndjson", Path(tmp) / "stdout.ndjson"
        env = dict(os.environ, PYTHONPATH=f"{BENCH}{os.pathsep}{ROOT / 'app'}", PORT=str(port),
                   GUNICORN_WORKERS=str(WORKERS), GUNICORN_THREADS=str(THREADS),
                   GUNICORN_LOG_LEVEL="warning", BENCH_VARIANT=variant,
                   LOGSTASH_HOST="127.0.0.1", LOGSTASH_PORT=str(counter.port),
                   LOG_BUFFER_DIR=tmp, BENCH_LOG_FILE=str(log_file))
        sink: Callable[[], int] = {
            "off": lambda: 0,
            "handoff_only": lambda: 0,
            "capture_only": lambda: 0,
            "null": lambda: 0,
            "ecs_stdout": lambda: count_lines(stdout_file),
            "queue_file": lambda: count_lines(log_file),
        }.get(variant, lambda: counter.count)
        base = sink()
        with stdout_file.open("ab") as stdout:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(BENCH / "gunicorn_bench.conf.py"),
                 "variants_wsgi:app"], cwd=ROOT / "app", env=env, stdout=stdout,
                stderr=subprocess.DEVNULL)
            try:
                return _load(variant, round_no, requests, proc.pid, port,
                             lambda: sink() - base)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)


def _load(variant: str, round_no: int, requests: int, master: int, port: int,
          delivered: Callable[[], int]) -> ServedRun:
    url = f"http://127.0.0.1:{port}/api/items"
    wait_until_serving(url, 30)
    served = 1
    for _ in range(200):  # warm-up: imports, connections, caches
        urllib.request.urlopen(url, timeout=5).close()
        served += 1
    per_event = 0 if variant in ("off", "null", "capture_only", "handoff_only") else 1
    # Each worker logs one lifecycle event at start (gunicorn.conf.py); a worker that has
    # not served a request yet may still be starting, so count it once it is there.
    wait_for(delivered, per_event * (EVENTS_PER_REQUEST * served + 1), 30)
    before_events = delivered()
    cpu_before = server_cpu_seconds(master)
    latencies = closed_loop(url, requests, CLIENTS, timeout=10)
    done = time.perf_counter()
    n = len(latencies)
    # Asynchronous variants still have work queued; it counts (stock_async may wait for its
    # 10 s flush interval), so CPU is read once the sink has every event or after a minute.
    after_events = wait_for(delivered, before_events + per_event * EVENTS_PER_REQUEST * n, 60)
    drain = time.perf_counter() - done
    cpu = server_cpu_seconds(master) - cpu_before
    ms = sorted(x * 1000 for x in latencies)
    return ServedRun(variant, round_no, n, percentile(ms, 0.5), percentile(ms, 0.9),
                     percentile(ms, 0.99), ms[-1], cpu / n * 1e6,
                     (after_events - before_events) / n, drain, os.getloadavg()[0], ms)


# -- one call on the request thread ---------------------------------------------------------
def per_call_costs(variant: str, tight_n: int, paced_n: int, rate: float,
                   counter: LineCounter) -> dict[str, float]:
    """One call's cost in µs, with its NullHandler twin measured interleaved in the same
    request: a tight loop's mean (median of 5 loops) and the median of paced calls.

    The twin is a logger with only a NullHandler, called in turns with the variant's (loop
    by loop, call by call, the order swapped each time), so both see the same machine: on 2
    shared cores the paced figure of one variant moved by 2x between runs minutes apart,
    which made a ratio of two separately measured medians meaningless.
    """
    twin = logging.getLogger("bench.null_twin")
    twin.handlers[:] = [logging.NullHandler()]
    twin.propagate = False
    twin.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="bench-call-") as tmp, \
            open(Path(tmp) / "stdout.ndjson", "w", encoding="utf-8") as stream:
        sinks = Sinks(logstash_port=counter.port, buffer_dir=tmp,
                      log_file=str(Path(tmp) / "queue.ndjson"), stream=stream)
        app, close = create_variant_app(variant, sinks)
        log = logging.getLogger("sample_service.api")  # the sample's own logger and call
        tight: dict[str, list[float]] = {"variant": [], "twin": []}
        paced: dict[str, list[int]] = {"variant": [], "twin": []}
        try:
            with app.test_request_context("/api/items"):
                app.preprocess_request()  # our before_request hook: the request's context
                for loop in range(6):
                    pair = [("variant", log), ("twin", twin)]
                    for name, logger in pair if loop % 2 else reversed(pair):
                        start = time.perf_counter_ns()
                        for i in range(tight_n):
                            logger.info("listed %d items", i)
                        tight[name].append((time.perf_counter_ns() - start) / tight_n / 1000)
                    time.sleep(0.2)  # let asynchronous variants catch up between loops
                gap = 1.0 / rate
                for i in range(paced_n):
                    pair = [("variant", log), ("twin", twin)]
                    for name, logger in pair if i % 2 else reversed(pair):
                        start = time.perf_counter_ns()
                        logger.info("listed %d items", i)
                        paced[name].append(time.perf_counter_ns() - start)
                        time.sleep(gap)
        finally:
            close()
    return {"tight_us": statistics.median(tight["variant"]),
            "paced_us": statistics.median(paced["variant"]) / 1000,
            "twin_tight_us": statistics.median(tight["twin"]),
            "twin_paced_us": statistics.median(paced["twin"]) / 1000}


# -- summary ---------------------------------------------------------------------------------
def median_of(runs: list[ServedRun], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def round_ratios(by_round: dict[int, dict[str, ServedRun]], num: str, den: str,
                 attr: str) -> list[float]:
    return [rnd[num].__dict__[attr] / rnd[den].__dict__[attr]
            for rnd in by_round.values() if num in rnd and den in rnd]


def summarise(runs: list[ServedRun], calls: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    by_variant: dict[str, list[ServedRun]] = {}
    by_round: dict[int, dict[str, ServedRun]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
        by_round.setdefault(run.round, {})[run.variant] = run
    served = {v: {a: median_of(rs, a) for a in ("p50_ms", "p99_ms", "cpu_us_per_request",
                                                  "events_per_request", "drain_s")}
              for v, rs in by_variant.items()}
    ratios: dict[str, Any] = {}
    for v in by_variant:
        if v == "off":
            continue
        p99 = round_ratios(by_round, v, "off", "p99_ms")
        cpu = round_ratios(by_round, v, "off", "cpu_us_per_request")
        ratios[f"{v}/off"] = {"p99_per_round": p99, "p99": statistics.median(p99),
                              "cpu_per_round": cpu, "cpu": statistics.median(cpu)}
    for alt in ALTERNATIVES:
        if alt in by_variant and "flask_logstash" in by_variant:
            p99 = round_ratios(by_round, "flask_logstash", alt, "p99_ms")
            cpu = round_ratios(by_round, "flask_logstash", alt, "cpu_us_per_request")
            ratios[f"flask_logstash/{alt}"] = {
                "p99_per_round": p99, "p99": statistics.median(p99),
                "cpu_per_round": cpu, "cpu": statistics.median(cpu)}
    call = {v: {key: statistics.median(values) for key, values in c.items()}
            for v, c in calls.items()}
    goals = []
    ours = ratios.get("flask_logstash/off")
    if ours:
        goals.append(("p99 flask_logstash/off", ours["p99"], GOAL_P99, ours["p99_per_round"]))
        goals.append(("CPU/request flask_logstash/off", ours["cpu"], GOAL_CPU,
                      ours["cpu_per_round"]))
    if "flask_logstash" in calls:
        ours_calls = calls["flask_logstash"]
        for mode in ("tight", "paced"):
            per_round = [v / t for v, t in zip(ours_calls[f"{mode}_us"],
                                               ours_calls[f"twin_{mode}_us"], strict=True)]
            goals.append((f"one call flask_logstash/NullHandler twin, {mode}",
                          statistics.median(per_round), GOAL_CALL, per_round))
    for alt in ALTERNATIVES:
        r = ratios.get(f"flask_logstash/{alt}")
        if r:
            goals.append((f"p99 flask_logstash/{alt}", r["p99"], 1.0, r["p99_per_round"]))
            goals.append((f"CPU/request flask_logstash/{alt}", r["cpu"], 1.0,
                          r["cpu_per_round"]))
    return {
        "served": served,
        "ratios": ratios,
        "ladder": ladder(by_round),
        "per_call": call,
        "goals": [{"goal": g, "ratio": r, "limit": lim, "per_round": per_round,
                   "met": r <= lim if lim != 1.0 else r < 1,
                   "median_interval": median_interval(per_round),
                   "verdict": judge(per_round, lim, strict=lim == 1.0)}
                  for g, r, lim, per_round in goals],
        "confidence": CONFIDENCE,
    }


def ladder(by_round: dict[int, dict[str, ServedRun]]) -> list[dict[str, Any]]:
    """Each rung of LADDER present in the run, against `off` and against the rung below it:
    medians and 90% intervals of the per-round ratios, p99 and CPU, over the rounds that
    have both (a step with none is left out)."""
    present = {v for rnd in by_round.values() for v in rnd}
    rungs = [v for v in LADDER if v in present]
    steps = []
    for i, upper in enumerate(rungs[1:], start=1):
        for lower in dict.fromkeys(("off", rungs[i - 1])):
            step: dict[str, Any] = {"step": f"{upper}/{lower}"}
            for name, attr in (("p99", "p99_ms"), ("cpu", "cpu_us_per_request")):
                per_round = round_ratios(by_round, upper, lower, attr)
                step["rounds"] = len(per_round)
                if per_round:
                    step[name] = {"median": statistics.median(per_round),
                                  "median_interval": median_interval(per_round)}
            if step["rounds"]:
                steps.append(step)
    return steps


def spread(median: float, per_round: list[float]) -> str:
    return f"{median:.2f} ({min(per_round):.2f}-{max(per_round):.2f})"


def table(summary: dict[str, Any], rounds: int, served: tuple[str, ...]) -> str:
    lines = ["| variant | p50 ms | p99 ms | p99 / off | server CPU µs/request | CPU / off "
             "| events/request | one call µs, tight / paced (its NullHandler twin) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = list(served) + [v for v in summary["per_call"] if v not in served]
    for v in names:
        s = summary["served"].get(v)
        r = summary["ratios"].get(f"{v}/off")
        c = summary["per_call"].get(v)
        cells = [v]
        cells += [f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}"] if s else ["—", "—"]
        cells.append(spread(r["p99"], r["p99_per_round"]) if r else ("1" if v == "off" else "—"))
        cells.append(f"{s['cpu_us_per_request']:.0f}" if s else "—")
        cells.append(spread(r["cpu"], r["cpu_per_round"]) if r else ("1" if v == "off" else "—"))
        cells.append(f"{s['events_per_request']:.2f}" if s else "—")
        cells.append(f"{c['tight_us']:.1f} / {c['paced_us']:.1f} "
                     f"({c['twin_tight_us']:.1f} / {c['twin_paced_us']:.1f})" if c else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Medians over {rounds} rounds; ratios are medians of per-round ratios "
                 "(their range in brackets).")
    confidence = f"{summary['confidence']:.0%}"
    if summary["goals"]:  # none in a run without ours (the floor alone)
        lines.append("")
        lines.append(f"| goal | ratio | limit | met by the median | median's {confidence} "
                     "interval | verdict |")
        lines.append("| --- | ---: | ---: | --- | ---: | --- |")
    for g in summary["goals"]:
        limit = f"< {g['limit']:.2f}" if g["limit"] == 1.0 else f"≤ {g['limit']:.2f}"
        ratio = (spread(g["ratio"], g["per_round"]) if g["per_round"]
                 else f"{g['ratio']:.2f}")
        interval = g["median_interval"]
        within = (f"{interval[0]:.2f}-{interval[1]:.2f} ({interval[2]:.1%})" if interval
                  else "too few rounds")
        lines.append(f"| {g['goal']} | {ratio} | {limit} | "
                     f"{'yes' if g['met'] else '**no**'} | {within} | {g['verdict']} |")
    steps = summary.get("ladder") or []
    if any(not s["step"].endswith("/off") for s in steps):  # a run with more than ours and off
        lines.append("")
        lines.append("Where the cost goes (per-round ratios: median, and the interval the "
                     "goals use with its confidence)")
        lines.append("")
        lines.append("| step | rounds | CPU/request | p99 |")
        lines.append("| --- | ---: | ---: | ---: |")
        for s in steps:
            cells = []
            for name in ("cpu", "p99"):
                m, interval = s[name]["median"], s[name]["median_interval"]
                cells.append(f"{m:.3f} ({interval[0]:.3f}-{interval[1]:.3f}, {interval[2]:.1%})"
                             if interval else f"{m:.3f} (too few rounds)")
            lines.append(f"| {s['step']} | {s['rounds']} | {cells[0]} | {cells[1]} |")
    lines.append("")
    lines.append("Verdict: met when the median's interval (sign test over rounds, "
                 "bench/verdict.py) lies within the limit, not met when it lies outside, "
                 "otherwise this run cannot tell.")
    return "\n".join(lines)


# -- plots -------------------------------------------------------------------------------------
def plot(runs: list[ServedRun], summary: dict[str, Any], out_dir: Path, stamp: str,
         served: tuple[str, ...]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    variants = [v for v in served if any(r.variant == v for r in runs)]
    fig, ax = plt.subplots(figsize=(8, 5))
    for v in variants:
        pooled = sorted(x for r in runs if r.variant == v for x in r.latencies_ms)
        n = len(pooled)
        slower = [1 - i / n for i in range(n)]  # fraction of requests at least this slow
        ax.step(pooled, slower, where="post",
                label=f"{v} (p99 {summary['served'][v]['p99_ms']:.1f} ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1 / max(1, min(sum(r.requests for r in runs if r.variant == v)
                               for v in variants)), 1)
    ax.axhline(0.01, color="grey", lw=0.8, ls=":")
    ax.text(ax.get_xlim()[0], 0.011, " p99", color="grey", fontsize=8)
    ax.set_xlabel("latency of GET /api/items (ms, log scale)")
    ax.set_ylabel("fraction of requests at least this slow")
    ax.set_title(f"Sample API latency by logging variant, all rounds pooled ({stamp})",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    latency_png = out_dir / "perf-latency.png"
    fig.tight_layout()
    fig.savefig(latency_png, dpi=110)
    plt.close(fig)

    cpu_png = plot_cpu({v: [r.cpu_us_per_request for r in runs if r.variant == v]
                        for v in variants}, summary, out_dir, stamp)
    return [latency_png, cpu_png]


def plot_cpu(per_round: dict[str, list[float]], summary: dict[str, Any], out_dir: Path,
             stamp: str) -> Path:
    """CPU per request: a bar per variant (median), a dot per round; probes hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for i, (v, values) in enumerate(per_round.items()):
        ax.bar(i, summary["served"][v]["cpu_us_per_request"], color=f"C{i}", alpha=0.6,
               hatch="//" if v not in SERVED else None)
        ax.plot([i] * len(values), values, "k.", ms=4)
    if "off" in summary["served"]:
        limit = summary["served"]["off"]["cpu_us_per_request"] * GOAL_CPU
        ax.axhline(limit, color="red", ls="--", lw=1, label="goal: 1.10 x off")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(per_round)), list(per_round), rotation=25, ha="right")
    ax.set_ylabel("server CPU per request (µs)\nbar: median; dots: rounds")
    ax.set_title(f"gunicorn CPU per request by logging variant; hatched: design probes "
                 f"({stamp})", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    cpu_png = out_dir / "perf-cpu.png"
    fig.tight_layout()
    fig.savefig(cpu_png, dpi=110)
    plt.close(fig)
    return cpu_png


def replot_cpu(result_json: Path, out_dir: Path) -> Path:
    """Redraw the CPU plot from a saved result (the latency plot needs the raw samples)."""
    result = json.loads(result_json.read_text())
    per_round: dict[str, list[float]] = {}
    for run in result["runs"]:
        per_round.setdefault(run["variant"], []).append(run["cpu_us_per_request"])
    order = [v for v in result["setup"].get("served", SERVED) if v in per_round]
    return plot_cpu({v: per_round[v] for v in order}, result, out_dir, result["when"])


def table_from(result_json: Path) -> str:
    """The table of a saved result, judged again (latencies are not saved: not needed)."""
    result = json.loads(result_json.read_text())
    runs = [ServedRun(**run) for run in result["runs"]]
    setup = result["setup"]
    return table(summarise(runs, result["per_call_rounds"]), setup["rounds"],
                 tuple(setup.get("served", SERVED)))


# -- main ------------------------------------------------------------------------------------
def _interpreter() -> str:
    """The Python that ran the bench, as its command would name it (.venv or the image's
    Python in .venv-py3.12, both under the checkout)."""
    here = Path(sys.executable)
    return str(here.relative_to(ROOT)) if here.is_relative_to(ROOT) else str(here)


def git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds of 600 requests and short per-call loops (a smoke run)")
    parser.add_argument("--rounds", type=int,
                        help="rounds of every served variant (default 25: with 7, one bad "
                        "round leaves every goal undecided)")
    parser.add_argument("--requests", type=int, help="requests per run (default 3000)")
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "compare_variants.json")
    parser.add_argument("--plots", type=Path, default=ROOT / "docs",
                        help="directory for perf-latency.png and perf-cpu.png")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--variants", help=f"comma-separated, from {', '.join(VARIANTS)} "
                        f"(default: {','.join(SERVED)})")
    parser.add_argument("--probes", action="store_true",
                        help=f"add null (records made, nothing done) and the design probes "
                        f"({', '.join(PROBES)})")
    parser.add_argument("--no-per-call", action="store_true", help="skip the per-call part")
    parser.add_argument("--call-rounds", type=int,
                        help="rounds of the per-call part (default 9: one bad round still "
                        "leaves a 90%% interval, the 2nd to the 8th; 5 is the fewest with one)")
    parser.add_argument("--replot-cpu", type=Path, metavar="JSON",
                        help="only redraw perf-cpu.png from a saved result, measure nothing")
    parser.add_argument("--table-from", type=Path, metavar="JSON",
                        help="only print the table of a saved result, judged again")
    args = parser.parse_args()
    if args.table_from:
        print(table_from(args.table_from))
        return
    if args.replot_cpu:
        print(f"plot: {replot_cpu(args.replot_cpu, args.plots)}")
        return
    served = tuple(args.variants.split(",")) if args.variants else SERVED
    served += ("null", *PROBES) if args.probes else ()
    unknown = [v for v in served if v not in VARIANTS]
    if unknown:
        parser.error(f"not a served variant: {', '.join(unknown)}")
    per_call = () if args.no_per_call else (
        "null", *(v for v in served if v not in ("off", "null")))
    rounds = args.rounds or (2 if args.quick else 25)
    requests = args.requests or (600 if args.quick else 3000)
    tight_n, paced_n = (500, 400) if args.quick else (2000, 2000)
    call_rounds = args.call_rounds or (1 if args.quick else 9)
    started = time.time()
    load_at_start = os.getloadavg()

    with LineCounter() as counter:
        calls: dict[str, dict[str, list[float]]] = {v: {} for v in per_call}
        for rnd in range(call_rounds if per_call else 0):
            for v in per_call[rnd % len(per_call):] + per_call[:rnd % len(per_call)]:
                costs = per_call_costs(v, tight_n, paced_n, 2000, counter)
                for key, value in costs.items():
                    calls[v].setdefault(key, []).append(value)
                print(f"per call  round {rnd + 1}/{call_rounds}  {v:<15} "
                      f"tight {costs['tight_us']:6.1f} µs (twin {costs['twin_tight_us']:.1f})"
                      f"  paced {costs['paced_us']:6.1f} µs (twin {costs['twin_paced_us']:.1f})",
                      file=sys.stderr, flush=True)
        runs: list[ServedRun] = []
        for rnd in range(rounds):
            order = served[rnd % len(served):] + served[:rnd % len(served)]
            for v in order:
                run = served_run(v, rnd, requests, counter)
                runs.append(run)
                print(f"served    round {rnd + 1}/{rounds}  {v:<15} p50 {run.p50_ms:5.2f} ms  "
                      f"p99 {run.p99_ms:6.2f} ms  CPU {run.cpu_us_per_request:5.0f} µs/req  "
                      f"events/req {run.events_per_request:.2f}  drain {run.drain_s:.1f} s",
                      file=sys.stderr, flush=True)

    summary = summarise(runs, calls)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result = {
        "command": " ".join([_interpreter(), "bench/compare_variants.py", *sys.argv[1:]]),
        "when": stamp,
        "duration_s": round(time.time() - started),
        "commit": git_head(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_avg_at_start": load_at_start, "load_avg_at_end": os.getloadavg()},
        "setup": {"gunicorn_workers": WORKERS, "gunicorn_threads": THREADS, "clients": CLIENTS,
                  "requests_per_run": requests, "rounds": rounds, "served": served,
                  "per_call": {"tight_n": tight_n, "paced_n": paced_n, "paced_rate": 2000,
                               "rounds": call_rounds}},
        **summary,
        "per_call_rounds": calls,
        "runs": [{k: v for k, v in asdict(r).items() if k != "latencies_ms"} for r in runs],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {stamp}, "
          f"commit {result['commit']}, load average {load_at_start[0]:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")
    print(table(summary, rounds, served))
    print(f"\nJSON: {args.json}")
    if not args.no_plots:
        for png in plot(runs, summary, args.plots, stamp, served):
            print(f"plot: {png}")


if __name__ == "__main__":
    main()
