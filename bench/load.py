"""What both benchmarks need to load a served app and read its cost: a free loopback port,
closed-loop HTTP clients, and the server's CPU time from /proc (Linux)."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request
from pathlib import Path


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
