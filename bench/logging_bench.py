"""Benchmarks of the app's logging path. Run by hand; prints a table; asserts nothing.

    .venv/bin/python bench/logging_bench.py [--quick]

Measures, on this machine, against a loopback NDJSON receiver:
  1. cost of one logger.info on the calling thread (NullHandler, stock
     AsynchronousLogstashHandler with FlaskLogstashEcsFormatter, ours);
  2. delivery throughput from one process, memory queue and durable SQLite buffer;
  3. drain time of a durable backlog after the receiver returns;
  4. p50/p99 request latency of the sample API under gunicorn, logging on vs. off.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "app"), str(ROOT)]

from load import (  # noqa: E402
    closed_loop,
    free_port,
    server_cpu_seconds,
    wait_until_serving,
)
from logstash_async.formatter import FlaskLogstashEcsFormatter  # noqa: E402
from logstash_async.handler import AsynchronousLogstashHandler  # noqa: E402

from flask_logstash.delivery import (  # noqa: E402
    build_logstash_handler,
    flush_and_close,
    limits,
)
from flask_logstash.ecs_formatter import EcsEventFormatter  # noqa: E402
from flask_logstash.request_context import RequestContextFilter  # noqa: E402
from flask_logstash.settings import LoggingSettings  # noqa: E402
from tests.support.ndjson_listener import NdjsonListener  # noqa: E402


class CountingReceiver(NdjsonListener):
    """Counts newlines instead of decoding: the receiver must not be the bottleneck."""

    def _feed(self, key: int, chunk: bytes) -> None:
        with self._lock:
            self.count = getattr(self, "count", 0) + chunk.count(b"\n")
            self._lock.notify_all()

    def wait_count(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while getattr(self, "count", 0) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"received {getattr(self, 'count', 0)} of {n}")
                self._lock.wait(left)


def fresh_logger(handler: logging.Handler | None, name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.INFO)
    if handler is not None:
        log.addHandler(handler)
    return log


def per_call_us(log: logging.Logger, n: int) -> float:
    """Median over runs of the mean cost of n calls, in microseconds."""
    samples = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for i in range(n):
            log.info("order %d created", i, extra={"order_id": i})
        samples.append((time.perf_counter_ns() - start) / n / 1000)
    return statistics.median(samples)


def paced_call_us(log: logging.Logger, twin: logging.Logger, n: int,
                  rate: float) -> tuple[float, float]:
    """Median cost of one call when events come at `rate`/s, as in a real service, and of
    the same call on `twin` (a NullHandler), the two called in turns so both see the same
    machine: a paced figure alone moved by 2x between runs on this shared VM."""
    costs: dict[str, list[int]] = {"log": [], "twin": []}
    gap = 1.0 / rate
    for i in range(n):
        pair = [("log", log), ("twin", twin)]
        for name, logger in pair if i % 2 else reversed(pair):
            start = time.perf_counter_ns()
            logger.info("order %d created", i, extra={"order_id": i})
            costs[name].append(time.perf_counter_ns() - start)
            time.sleep(gap)
    return statistics.median(costs["log"]) / 1000, statistics.median(costs["twin"]) / 1000


def bench_calling_thread(n: int) -> list[tuple[str, str]]:
    settings = LoggingSettings(logstash_port=1)
    rows = [("NullHandler", f"{per_call_us(fresh_logger(logging.NullHandler(), 'b0'), n):.1f} us")]
    with CountingReceiver() as rx:
        stock = AsynchronousLogstashHandler("127.0.0.1", rx.port, database_path=None)
        stock.setFormatter(FlaskLogstashEcsFormatter())
        rows.append(("stock AsynchronousLogstashHandler + FlaskLogstashEcsFormatter",
                     f"{per_call_us(fresh_logger(stock, 'b1'), n):.1f} us"))
        stock.close()
        ours = build_logstash_handler(host="127.0.0.1", port=rx.port,
                                      formatter=EcsEventFormatter(settings), buffer_dir=None)
        ours.addFilter(RequestContextFilter())
        rows.append(("flask_logstash (filter + enqueue), tight loop",
                     f"{per_call_us(fresh_logger(ours, 'b2'), n):.1f} us"))
        paced, twin = paced_call_us(fresh_logger(ours, 'b2'),
                                    fresh_logger(logging.NullHandler(), 'b3'), 4000, 2000)
        rows.append(("flask_logstash (filter + enqueue), paced 2,000 events/s",
                     f"{paced:.1f} us (NullHandler in turns with it: {twin:.1f} us, "
                     f"ratio {paced / twin:.2f})"))
        flush_and_close(ours)
    return rows


def bench_throughput(n: int, durable: bool) -> tuple[float, int]:
    settings = LoggingSettings(logstash_port=1)
    with CountingReceiver() as rx, tempfile.TemporaryDirectory() as tmp:
        handler = build_logstash_handler(host="127.0.0.1", port=rx.port,
                                         formatter=EcsEventFormatter(settings),
                                         buffer_dir=tmp if durable else None)
        log = fresh_logger(handler, f"tp-{durable}")
        handler.worker  # start the thread before timing  # noqa: B018
        start = time.perf_counter()
        for i in range(n):
            log.info("order %d created", i)
        # The hand-off queue is bounded: a producer that outruns the worker loses the excess
        # (counted), it never blocks. Measure what was accepted.
        dropped = handler.worker.dropped
        rx.wait_count(n - dropped, timeout=300)
        elapsed = time.perf_counter() - start
        flush_and_close(handler)
    return (n - dropped) / elapsed, dropped


def bench_drain(n: int) -> float:
    settings = LoggingSettings(logstash_port=1)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        handler = build_logstash_handler(host="127.0.0.1", port=port,
                                         formatter=EcsEventFormatter(settings), buffer_dir=tmp)
        log = fresh_logger(handler, "drain")
        for i in range(n):
            log.info("order %d created", i)
        while handler.worker.pending() != n or not handler.worker._records.empty():
            time.sleep(0.01)
        time.sleep(limits.RETRY_MAX)  # let the back-off reach its longest delay
        rx = CountingReceiver(port=port).start()
        start = time.perf_counter()
        rx.wait_count(n, timeout=120)
        elapsed = time.perf_counter() - start
        rx.stop()
        flush_and_close(handler)
    return elapsed


def latency_run(enabled: bool, requests: int, concurrency: int) -> tuple[float, float, float]:
    port = free_port()
    with CountingReceiver() as rx, tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "app"), PORT=str(port),
                   GUNICORN_WORKERS="2", GUNICORN_THREADS="4", LOGSTASH_PORT=str(rx.port),
                   LOGSTASH_HOST="127.0.0.1", LOG_BUFFER_DIR=tmp,
                   LOGSTASH_ENABLED="true" if enabled else "false",
                   LOG_LEVEL="INFO" if enabled else "CRITICAL")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "sample_service.wsgi:app"], cwd=ROOT / "app", env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/api/items"
            wait_until_serving(url, 30)
            for _ in range(200):  # warm-up
                urllib.request.urlopen(url, timeout=5).close()
            cpu_before = server_cpu_seconds(proc.pid)
            latencies = closed_loop(url, requests, concurrency, timeout=5)
            cpu_us = (server_cpu_seconds(proc.pid) - cpu_before) / len(latencies) * 1e6
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    latencies.sort()
    return (latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000,
            cpu_us)


def crash_child(port: int, directory: str) -> None:
    """Log as fast as possible into a durable buffer, printing how many calls returned."""
    handler = build_logstash_handler(host="127.0.0.1", port=port, buffer_dir=directory,
                                     formatter=EcsEventFormatter(LoggingSettings()))
    log = fresh_logger(handler, "crash")
    handler.worker  # noqa: B018 - started before the burst
    i = 0
    while True:
        log.info("burst %d", i)
        i += 1
        if i % 500 == 0:
            print(i, flush=True)


def buffered_event_count(directory: str) -> int:
    import sqlite3

    total = 0
    for path in Path(directory).glob("logstash-buffer-*.sqlite"):
        db = sqlite3.connect(path)
        try:
            total += db.execute("SELECT coalesce(sum(event_count), 0) FROM batch").fetchone()[0]
        finally:
            db.close()
    return total


def bench_crash_window(receiver_up: bool, burst_s: float = 1.0) -> str:
    """SIGKILL a process `burst_s` into a logging burst; count what was neither on disk nor
    received. The count of returned calls is known to within 500 (printed every 500)."""
    with tempfile.TemporaryDirectory() as tmp, CountingReceiver() as rx:
        port = rx.port if receiver_up else free_port()
        child = subprocess.Popen(
            [sys.executable, __file__, "--crash-child", str(port), tmp],
            stdout=subprocess.PIPE, text=True,
        )
        logged = 0
        deadline = time.monotonic() + burst_s
        while time.monotonic() < deadline:
            logged = int(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        for line in child.stdout:  # calls that returned before the kill
            logged = int(line)
        time.sleep(0.5)
        kept = buffered_event_count(tmp) + getattr(rx, "count", 0)
    lost = max(0, logged - kept)
    rate = logged / burst_s
    return (f"{logged:,} logged, {lost:,} lost (~{lost / rate * 1000:.0f} ms of the burst)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--crash-child", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.crash_child:
        crash_child(int(args.crash_child[0]), args.crash_child[1])
        return
    scale = 0.1 if args.quick else 1.0
    rows = bench_calling_thread(int(20_000 * scale))
    for receiver_up in (True, False):
        state = "receiver up" if receiver_up else "receiver down"
        rows.append((f"SIGKILL 1 s into a burst, durable buffer, {state}",
                     bench_crash_window(receiver_up)))
    for durable, label in ((False, "memory queue"), (True, "durable SQLite buffer")):
        results = [bench_throughput(int(40_000 * scale), durable) for _ in range(3)]
        rate = statistics.median(r[0] for r in results)
        drops = sum(r[1] for r in results)
        rows.append((f"delivery, {label} (40k burst, median of 3)",
                     f"{rate:,.0f} events/s, {drops} dropped"))
    rows.append(("drain 20k buffered events after receiver returns",
                 f"{bench_drain(int(20_000 * scale)):.2f} s"))
    runs: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    pairs = 2 if args.quick else 7
    for _ in range(pairs):  # alternate, so drift on a shared machine hits both sides
        for enabled in (False, True):
            runs[enabled].append(latency_run(enabled, int(3000 * scale), 8))
    for enabled in (False, True):
        p50, p99, cpu = (statistics.median(r[i] for r in runs[enabled]) for i in range(3))
        label = "logging on" if enabled else "logging off"
        rows.append((f"sample API /api/items, 8 clients, {label} (median of {pairs})",
                     f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, server CPU {cpu:.0f} us/request"))
    ratios = sorted(on[1] / off[1] for off, on in zip(runs[False], runs[True], strict=True))
    rows.append(("p99 on/off, per alternating pair",
                 ", ".join(f"{r:.2f}" for r in ratios)
                 + f" (median {statistics.median(ratios):.2f})"))
    width = max(len(r[0]) for r in rows)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
