"""Unlucky Logstash peers on real sockets, built on the NDJSON listener: one that accepts and
stops reading (then resets), and ones that read slowly."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time

from tests.support.ndjson_listener import NdjsonListener

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on with 0 s: close() sends RST


class _SmallWindowListener(NdjsonListener):
    """Accepted connections get a receive buffer of a few KiB, so a peer that does not read
    stops acknowledging soon."""

    receive_buffer = 4096


class StallingPeer(_SmallWindowListener):
    """Never reads its first connection (it takes a few KiB and then acknowledges nothing);
    `reset_stalled` ends that connection with RST, discarding what it had not read. Later
    connections are read normally."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled: list[socket.socket] = []

    def _read_loop(self, conn: socket.socket) -> None:
        with self._lock:
            first = not self.stalled
            if first:
                self.stalled.append(conn)
        if not first:
            super()._read_loop(conn)

    def unread_bytes(self) -> int:
        """Bytes waiting, unread, in the stalled connection's receive queue (FIONREAD)."""
        if not self.stalled:
            return 0
        import fcntl
        import termios

        raw = fcntl.ioctl(self.stalled[0].fileno(), termios.FIONREAD, struct.pack("I", 0))
        return int(struct.unpack("I", raw)[0])

    def reset_stalled(self) -> None:
        for conn in self.stalled:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                conn.close()


class SlowReader(_SmallWindowListener):
    """Reads `chunk` bytes every `pause` seconds: a slow link that keeps making progress."""

    receive_buffer = 16384
    chunk = 8192
    pause = 0.016

    def _read_loop(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        key = id(conn)
        while self._running:
            try:
                data = conn.recv(self.chunk)
            except OSError:
                return
            if not data:
                return
            self._feed(key, data)
            time.sleep(self.pause)


class SlowFlushingReader(SlowReader):
    """SlowReader that ends each connection as the NDJSON listener (and Logstash's tcp
    input) does: a last line cut off by the close is flushed as a line of its own, a bad
    line here. (SlowReader alone drops it, so it cannot show a cut-off write.)"""

    def _read_loop(self, conn: socket.socket) -> None:
        try:
            super()._read_loop(conn)
        finally:
            self._flush(id(conn))
