"""A real TCP listener speaking newline-delimited JSON: a stand-in for Logstash's
`tcp` input with `codec => json_lines`.

It can be stopped and started again on the same port (an outage), made to accept
connections and never read (a black-holed Logstash), or speak TLS like the stack's input.
Tests wait on it with deadlines.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any


class NdjsonListener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.peer_certs: list[dict[str, Any]] = []  # client certificates seen (TLS)
        self.handshake_errors: list[str] = []
        self.raw = bytearray()
        self.events: list[dict[str, Any]] = []
        self.bad_lines: list[bytes] = []
        self._partial: dict[int, bytes] = {}
        self._lock = threading.Condition()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._running = False
        self.blackhole = False
        self.accepted = 0  # connections accepted so far

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> NdjsonListener:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server, self._running = server, True
        thread = threading.Thread(target=self._accept_loop, args=(server,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close the port and every connection: senders now get 'connection refused'."""
        self._running = False
        if self._server is not None:
            # close() alone does not wake a thread blocked in accept() on Linux: the socket
            # would keep accepting. shutdown() wakes it, so the port is really gone.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for thread in self._threads:
            thread.join(2)
        self._threads.clear()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()

    def __enter__(self) -> NdjsonListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------
    def _accept_loop(self, server: socket.socket) -> None:
        while self._running:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.accepted += 1
            threading.Thread(target=self._read_loop, args=(conn,), daemon=True).start()

    def _read_loop(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                self.handshake_errors.append(str(exc))
                conn.close()
                return
            self._conns.append(conn)
            peer = conn.getpeercert()
            if peer:
                self.peer_certs.append(peer)
        key = id(conn)
        while self._running:
            if self.blackhole:
                time.sleep(0.05)  # holds the connection open and reads nothing
                continue
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            self._feed(key, chunk)

    def _feed(self, key: int, chunk: bytes) -> None:
        with self._lock:
            self.raw.extend(chunk)
            data = self._partial.pop(key, b"") + chunk
            *lines, rest = data.split(b"\n")
            if rest:
                self._partial[key] = rest
            for line in lines:
                if not line.strip():
                    continue
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.bad_lines.append(line)
            self._lock.notify_all()

    # -- waiting ---------------------------------------------------------------------
    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"listener condition not met within {timeout}s "
                        f"({len(self.events)} events received)"
                    )
                self._lock.wait(remaining)
            return list(self.events)

    def wait_for_count(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self.wait_for(lambda events: len(events) >= count, timeout)

    def raw_text(self) -> str:
        with self._lock:
            return self.raw.decode("utf-8", "replace")
