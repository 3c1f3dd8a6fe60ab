"""A real TCP listener speaking newline-delimited JSON: a stand-in for Logstash's `tcp`
input as logstash/pipeline/flask.conf configures it (`codec => line`, then the redaction
filter and the `json` filter), as strict as Logstash for what the app relies on. Each rule
names its source (Logstash 9.5 and its bundled plugins); tests/unit/logstash/
test_ndjson_listener.py shows each refusal. What Logstash would keep as an unparsed event
(flask.unparsed) is a refusal here: `bad_lines`, with the reason in `refusals`.

Not enforced: TLS details beyond the handshake, proxy protocol, Logstash's back-pressure.

It can be stopped and started again on the same port (an outage), made to accept
connections and never read (a black-holed Logstash), or speak TLS like the stack's input.
Tests wait on it with deadlines.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any


class NdjsonListener:
    # Receive buffer of accepted connections (None: the kernel's default). Set before listen():
    # Linux copies it to accepted sockets and advertises the window from it.
    receive_buffer: int | None = None

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
        self.refusals: list[tuple[str, bytes]] = []
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
        if self.receive_buffer is not None:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
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
        try:
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
        finally:
            self._flush(key)

    def _feed(self, key: int, chunk: bytes) -> None:
        with self._lock:
            self.raw.extend(chunk)
            # The line codec splits on "\n" only, and yields the empty token between two
            # delimiters as an event of its own (logstash-codec-line 3.1.1 `decode`;
            # logstash-core common/BufferedTokenizer.java). "\r" stays in the line.
            data = self._partial.pop(key, b"") + chunk
            *lines, rest = data.split(b"\n")
            if rest:
                self._partial[key] = rest
            for line in lines:
                self._take(line)
            self._lock.notify_all()

    def _flush(self, key: int) -> None:
        # At connection close the tcp input flushes the codec (logstash-input-tcp 7.0,
        # tcp.rb handle_socket / decoder_impl.rb flush): a last line without its "\n" is
        # still an event (logstash-codec-line `flush`), so a cut-off write becomes a bad line.
        with self._lock:
            rest = self._partial.pop(key, b"")
            if rest:
                self._take(rest)
            self._lock.notify_all()

    def _take(self, line: bytes) -> None:
        reason = refusal(line)
        if reason is None:
            self.events.append(json.loads(line))
        else:
            self.bad_lines.append(line)
            self.refusals.append((reason, line))

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


# Jackson's read constraints as Logstash 9.5 sets them (logstash-core
# jackson/StreamReadConstraintsUtil.java; config/jvm.options documents the defaults).
# Depth counts the open objects and arrays, the outermost as 1, and fails past the maximum
# (jackson-core StreamReadConstraints.validateNestingDepth).
MAX_NESTING_DEPTH = 1_000
MAX_NUMBER_LENGTH = 10_000


def refusal(line: bytes) -> str | None:
    """Why Logstash would not turn this line into a parsed event, or None."""
    if not line:
        return "empty line"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        # logstash-core util/charset.rb: invalid UTF-8 is escaped, and logged at WARN.
        return "not UTF-8"
    # Counted on the text, before parsing: Jackson stops at the level past its limit, and
    # Python's parser gives up near its own recursion limit, which differs between versions
    # (3.11 raised RecursionError for 1,100 levels, 3.12 parsed them).
    if _nesting_depth(text) > MAX_NESTING_DEPTH:
        return "nested too deep"
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_int=_number,
                           parse_float=_number)
    except NumberTooLong:
        return "number too long"
    except (ValueError, RecursionError):
        # RecursionError: a few dozen levels under Jackson's limit on 3.11; the bundle nests
        # at most 32 (flask_logstash.captured.MAX_DEPTH).
        return "not JSON"
    if not isinstance(value, dict):
        # flask.conf redact_and_parse passes only an object to the json filter, which needs
        # one without a target (logstash-filter-json 3.2.1).
        return "not a JSON object"
    return None


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Jackson refuses them unless configured otherwise.
    raise ValueError(name)


# A string, or an unterminated one to the end (one match: retrying from each escaped quote
# inside an unterminated string was quadratic).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def _nesting_depth(text: str) -> int:
    """The deepest nesting of objects and arrays, brackets inside strings not counted; an
    unterminated string ends the count (the parser fails there)."""
    outside = _JSON_STRING.sub("", text)
    depth = deepest = 0
    for bracket in _NOT_BRACKETS.sub("", outside):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


class NumberTooLong(ValueError):
    pass


def _number(literal: str) -> float | int:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise NumberTooLong(literal[:20])
    return float(literal) if any(c in literal for c in ".eE") else int(literal)
