"""Machine instructions per request of each logging variant: a figure that noise cannot move.

    .venv/bin/python bench/instructions.py [--requests 1000] [--variants off,flask_logstash]

Needs valgrind (Debian: `apt-get install valgrind`). Run by hand; asserts nothing.

Why: on a shared 2-core machine the served benchmark (compare_variants.py) moves by 10-30%
from round to round, which hides any change smaller than that. Valgrind's cachegrind counts
every instruction a process executes, all threads included, the same on a busy machine as on
an idle one (within about 0.5% here, from random ids and batch sizes).

How: each variant's sample app (bench/variants.py, so the same request hooks and the same two
events per `GET /api/items`) is called in-process through WSGI, without HTTP, `n` and `3n`
times, each run in its own process under `valgrind --tool=cachegrind`, and then closed, so
every event is formatted and sent (to a counting receiver outside valgrind) before the count
ends. The difference of the two counts divided by 2n is one request's instructions: start-up,
imports and shutdown cancel out.

What it does not see: time. A cache miss, a GIL hand-off or a context switch costs no
instruction here but costs time on a real server, and valgrind runs one thread at a time. So
this is the floor of what each variant costs; compare_variants.py says what it costs served.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "app")]

from load import LineCounter, count_lines, wait_for  # noqa: E402
from variants import VARIANTS  # noqa: E402

DEFAULT_VARIANTS = ("off", "null", "flask_logstash", "flask_logstash_memory", "handoff_only")
EVENTS_PER_REQUEST = 2  # the access event and "listed N items"
WARM_UP = 200  # requests before the counted ones: imports, first-call caches
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
# Variants whose events reach the counting receiver; the others write a file or nothing.
_TO_RECEIVER = frozenset({"flask_logstash", "flask_logstash_memory", "stock_async", "sidecar"})


def child(variant: str, requests: int, port: int, workdir: str) -> None:
    """Runs under valgrind: the variant's app, WARM_UP + `requests` requests, then close."""
    from variants import Sinks, create_variant_app
    from werkzeug.test import EnvironBuilder

    sinks = Sinks(logstash_port=port, buffer_dir=workdir,
                  log_file=str(Path(workdir) / "queue.ndjson"))
    app, close = create_variant_app(variant, sinks)
    environ = EnvironBuilder(path="/api/items", headers={"User-Agent": "bench"}).get_environ()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None
                       ) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"the sample app answered {status}")

    for _ in range(WARM_UP + requests):
        body = app(dict(environ), start_response)
        for _chunk in body:
            pass
        getattr(body, "close", lambda: None)()
    close()  # formats and sends what is queued: it counts


def count_run(variant: str, requests: int, counter: LineCounter) -> int:
    """Instructions of one child process serving `requests` (plus warm-up)."""
    with tempfile.TemporaryDirectory(prefix="bench-ir-") as workdir:
        stdout_path = Path(workdir) / "stdout.ndjson"
        before = counter.count
        env = dict(os.environ, PYTHONHASHSEED="0")  # the same dict layouts in every run
        with stdout_path.open("wb") as stdout:
            done = subprocess.run(
                ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                 "--cachegrind-out-file=/dev/null", sys.executable, __file__, "--child",
                 variant, str(requests), str(counter.port), workdir],
                stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, check=False)
        found = _REFS.search(done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"{variant}: valgrind run failed:\n{done.stderr[-2000:]}")
        expected = EVENTS_PER_REQUEST * (WARM_UP + requests)
        if variant in _TO_RECEIVER:
            delivered = wait_for(lambda: counter.count - before, expected, 30)
        elif variant == "queue_file":
            delivered = count_lines(Path(workdir) / "queue.ndjson")
        elif variant == "ecs_stdout":
            delivered = count_lines(stdout_path)
        else:
            delivered = expected  # records made or dropped, nothing delivered by design
        if delivered < expected:
            raise RuntimeError(f"{variant}: {delivered} of {expected} events delivered")
        return int(found.group(1).replace(",", ""))


def per_request(variant: str, requests: int, counter: LineCounter) -> float:
    small = count_run(variant, requests, counter)
    large = count_run(variant, 3 * requests, counter)
    return (large - small) / (2 * requests)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, variant, requests, port, workdir = sys.argv
        child(variant, int(requests), int(port), workdir)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="n: runs of n and 3n requests per variant (default 1000)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant: {', '.join(unknown)}")
    if "off" not in variants:
        variants.insert(0, "off")
    figures: dict[str, float] = {}
    with LineCounter() as counter:
        for variant in variants:
            figures[variant] = per_request(variant, args.requests, counter)
            print(f"{variant:<22} {figures[variant]:>12,.0f} instructions/request",
                  file=sys.stderr, flush=True)
    off = figures["off"]
    print("| variant | instructions/request | over off | / off |")
    print("| --- | ---: | ---: | ---: |")
    for variant, value in figures.items():
        print(f"| {variant} | {value:,.0f} | {value - off:+,.0f} | {value / off:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(
            {"requests": args.requests, "instructions_per_request": figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
