"""`python -m demo_traffic --base-url http://app:8000 --rps 5 [--duration 60]`.

Sends a weighted mix of reads, writes, validation errors, slow calls, failures and logins,
from varied user agents and client addresses (documentation and well-known public ranges, so
the geo view has points), each with its own request id and W3C traceparent. Stops cleanly
on SIGTERM or after --duration seconds. With --rps 0 it sends nothing and idles until
SIGTERM, so the compose service stays up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "curl/8.11.0",
    "python-requests/2.32.3",
)
# Public addresses of large, stable networks in several countries, so geoip has something
# to place; plus documentation ranges (RFC 5737) that geoip will not find.
CLIENT_IPS = (
    "8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222", "185.199.108.153", "151.101.1.69",
    "81.2.69.160", "2.125.160.216", "89.160.20.112", "175.16.199.0", "216.160.83.56",
    "192.0.2.10", "198.51.100.7", "203.0.113.42",
)


def _request(base: str, method: str, path: str, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("User-Agent", random.choice(USER_AGENTS))
    req.add_header("X-Forwarded-For", random.choice(CLIENT_IPS))
    req.add_header("X-Request-ID", secrets.token_hex(8))
    req.add_header("traceparent", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def scenarios(base: str) -> list[tuple[int, Callable[[], int]]]:
    def create() -> int:
        body = {"name": random.choice(["desk", "lamp", "chair"]),
                "price_cents": random.randint(500, 50000), "quantity": random.randint(1, 9)}
        return _request(base, "POST", "/api/items", body)

    def login() -> int:
        # Random secrets on purpose: none of them may ever show up in a log.
        return _request(base, "POST", "/api/login", {
            "username": random.choice(["demo", "alice", "mallory"]),
            "password": secrets.token_urlsafe(12), "token": secrets.token_urlsafe(16)})

    return [
        (40, lambda: _request(base, "GET", "/api/items")),
        (20, lambda: _request(base, "GET", f"/api/items/{random.randint(1, 12)}")),
        (10, create),
        (8, lambda: _request(base, "POST", "/api/items", {"name": "", "price_cents": -1})),
        (5, lambda: _request(base, "GET", f"/api/slow?ms={random.choice([300, 1200, 2500])}")),
        (3, lambda: _request(base, "GET", "/api/fail")),
        (8, login),
        (6, lambda: _request(base, "GET", "/healthz")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ
    parser.add_argument("--base-url", default=env.get("DEMO_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--rps", type=float, default=float(env.get("DEMO_TRAFFIC_RPS", "5")))
    parser.add_argument("--duration", type=float, default=float(env.get("DEMO_DURATION", "0")),
                        help="seconds to run; 0 runs until SIGTERM")
    args = parser.parse_args(argv)
    stop = _StopOnSignal()
    deadline = time.monotonic() + args.duration if args.duration else None
    if args.rps <= 0:
        # Idle rather than exit: compose restarts an exited `traffic` forever
        # (restart: unless-stopped), and `up --wait` would never return.
        print("demo traffic disabled (rps <= 0): idle until stopped", flush=True)
        stop.pause_until(deadline)
        print("demo traffic stopped", flush=True)
        return 0
    weighted = scenarios(args.base_url.rstrip("/"))
    weights = [w for w, _ in weighted]
    actions = [a for _, a in weighted]
    sent = 0
    while not stop.requested and (deadline is None or time.monotonic() < deadline):
        action = random.choices(actions, weights)[0]
        threading.Thread(target=_safe, args=(action,), daemon=True).start()
        sent += 1
        stop.pause_until(time.monotonic() + random.expovariate(args.rps))
    print(f"demo traffic stopped: sent {sent} requests", flush=True)
    return 0


class _StopOnSignal:
    """SIGTERM/SIGINT set a plain flag. The handler takes no lock: setting a threading.Event
    from a handler deadlocks when the signal lands while the main thread holds that Event's
    lock inside wait()."""

    SLICE = 0.2  # seconds; how late a stop may be noticed

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._request)
        signal.signal(signal.SIGINT, self._request)

    def _request(self, *_: object) -> None:
        self.requested = True

    def pause_until(self, deadline: float | None) -> None:
        while not self.requested:
            remaining = self.SLICE if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, self.SLICE))

def _safe(action: Callable[[], int]) -> None:
    try:
        action()
    except OSError as exc:  # app restarting: keep going, say so once in a while
        print(f"demo traffic: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
