"""What the benchmarks need to load an app and read its cost: a free loopback port,
closed-loop HTTP clients, the server's CPU time from /proc (Linux), and a Logstash stand-in
that only counts the lines it receives."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cpu_seconds(master: int) -> float:
    """User+system CPU time, all threads, of gunicorn's master and every process below it
    (workers, and a sidecar a worker forks), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0, [str(master)]
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # exited between the listing and the read
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5))
    return total / tick


def wait_until_serving(url: str, seconds: float, timeout: float = 1.0) -> None:
    """Return once one GET of `url` succeeds (it counts as a served request); raise
    RuntimeError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=timeout).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing served {url} within {seconds:.0f} s") from None
            time.sleep(0.05)


def closed_loop(url: str, requests: int, clients: int, timeout: float) -> list[float]:
    """`clients` threads each send requests // clients GETs one after another; the seconds
    each took, in no particular order."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(count: int) -> None:
        mine = []
        for _ in range(count):
            t0 = time.perf_counter()
            urllib.request.urlopen(url, timeout=timeout).close()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(requests // clients,))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


# -- a Logstash stand-in that only counts lines, in its own process -------------------------
def _count_lines(port_out: Any, count: Any, ready: Any) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    port_out.value = server.getsockname()[1]
    ready.set()

    def read(conn: socket.socket) -> None:
        with conn:
            while chunk := conn.recv(1 << 16):
                n = chunk.count(b"\n")
                if n:
                    with count.get_lock():
                        count.value += n

    while True:
        conn, _ = server.accept()
        threading.Thread(target=read, args=(conn,), daemon=True).start()


class LineCounter:
    """Counts newline-terminated events sent to it; runs in a child process, so its work
    does not compete with the benchmark's clients for their GIL."""

    def __enter__(self) -> LineCounter:
        ctx = multiprocessing.get_context("fork")
        self._port, self._count, ready = ctx.Value("i", 0), ctx.Value("q", 0), ctx.Event()
        self._proc = ctx.Process(target=_count_lines, args=(self._port, self._count, ready),
                                 daemon=True)
        self._proc.start()
        ready.wait(10)
        return self

    @property
    def port(self) -> int:
        return self._port.value

    @property
    def count(self) -> int:
        return self._count.value

    def __exit__(self, *exc: object) -> None:
        self._proc.kill()
        self._proc.join(5)


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def wait_for(get: Callable[[], int], target: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    value = get()
    while value < target and time.monotonic() < deadline:
        time.sleep(0.02)
        value = get()
    return value
