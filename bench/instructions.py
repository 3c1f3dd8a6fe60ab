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

With `--served`, the same for the app under gunicorn (1 worker x 4 threads, as the sample
configures its threads), served over loopback HTTP to 4 clients: every instruction of the
gunicorn master and worker, valgrind following the fork. HTTP parsing and the socket work are
in the denominator there, as in compare_variants.py; the kernel's share of the socket work
is not (valgrind counts instructions in user space only), so a ratio here is somewhat above
the CPU ratio of the same code.

What it does not see: time. A cache miss, a GIL hand-off or a context switch costs no
instruction here but costs time on a real server, and valgrind runs one thread at a time. So
this is the floor of what each variant costs; compare_variants.py says what it costs served.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "app")]

from load import (  # noqa: E402
    LineCounter,
    closed_loop,
    count_lines,
    free_port,
    wait_for,
    wait_until_serving,
)
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


def served_count_run(variant: str, requests: int, counter: LineCounter) -> int:
    """Instructions of gunicorn's master and worker serving `requests` (plus warm-up)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-ir-") as workdir:
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=f"{BENCH}{os.pathsep}{ROOT / 'app'}",
                   PORT=str(port), GUNICORN_WORKERS="1", GUNICORN_THREADS="4",
                   GUNICORN_TIMEOUT="600",  # valgrind is ~50x slower than the heartbeat expects
                   GUNICORN_LOG_LEVEL="warning", BENCH_VARIANT=variant,
                   LOGSTASH_HOST="127.0.0.1", LOGSTASH_PORT=str(counter.port),
                   LOG_BUFFER_DIR=workdir, BENCH_LOG_FILE=str(Path(workdir) / "queue.ndjson"))
        before = counter.count
        proc = subprocess.Popen(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
             "--cachegrind-out-file=/dev/null", f"--log-file={workdir}/valgrind.%p",
             sys.executable, "-m", "gunicorn", "-c", str(BENCH / "gunicorn_bench.conf.py"),
             "variants_wsgi:app"],
            cwd=ROOT / "app", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/api/items"
        try:
            wait_until_serving(url, 120, timeout=5)  # valgrind starts it ~50x slower
            closed_loop(url, WARM_UP, 4, timeout=60)
            closed_loop(url, requests, 4, timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(300)
        if variant in _TO_RECEIVER:
            expected = EVENTS_PER_REQUEST * (1 + WARM_UP + requests)
            delivered = wait_for(lambda: counter.count - before, expected, 30)
            if delivered < expected:
                raise RuntimeError(f"{variant}: {delivered} of {expected} events delivered")
        total = 0
        for log in Path(workdir).glob("valgrind.*"):
            found = _REFS.search(log.read_text())
            if found:  # a process that exec'd something else leaves a log without a total
                total += int(found.group(1).replace(",", ""))
        return total


def per_request(variant: str, requests: int, counter: LineCounter, served: bool) -> float:
    run = served_count_run if served else count_run
    small = run(variant, requests, counter)
    large = run(variant, 3 * requests, counter)
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
    parser.add_argument("--served", action="store_true",
                        help="under gunicorn over HTTP instead of WSGI calls in one process")
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
            figures[variant] = per_request(variant, args.requests, counter, args.served)
            print(f"{variant:<22} {figures[variant]:>12,.0f} instructions/request",
                  file=sys.stderr, flush=True)
    off = figures["off"]
    print("| variant | instructions/request | over off | / off |")
    print("| --- | ---: | ---: | ---: |")
    for variant, value in figures.items():
        print(f"| {variant} | {value:,.0f} | {value - off:+,.0f} | {value / off:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(
            {"requests": args.requests, "served": args.served,
             "instructions_per_request": figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
