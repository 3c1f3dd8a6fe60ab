"""python-logstash-async's TCP transport, kept connected, with a real acknowledgement wait."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import struct
import termios
import time
from collections.abc import Sequence
from typing import Any

from logstash_async.constants import constants
from logstash_async.transport import TcpTransport

# poll() events that mean the connection is over; POLLRDHUP (peer sent FIN) is Linux-only.
_HANGUP_EVENTS = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class BatchTcpTransport(TcpTransport):
    """python-logstash-async's TCP transport, kept connected, writing a batch per sendall.

    The library reconnects for every batch (`_keep_connection = False`) so that a broken
    connection is never written into unnoticed. We keep the connection, which saves a TCP
    (and TLS) handshake per batch, and notice breakage two ways instead: before a batch, a
    peer that closed or reset shows up in poll(); after it, the acknowledgement wait below
    fails unless the peer's kernel took every byte and no error is pending.
    """

    _keep_connection = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._abort_requested = False

    def send(self, events: Sequence[bytes], use_logging: bool = False) -> None:
        if self._sock is not None and self._peer_gone():
            self._drop_socket()
        try:
            self._create_socket()
            self._sock.sendall(b"".join(events))
            self._wait_for_socket_buffer_empty()
        except BaseException:
            # Abortive close (RST): what our kernel still holds of this batch is discarded
            # instead of trickling to a peer that wakes up later, so a failed attempt adds
            # at most what the peer had already taken to the copy the retry sends.
            self._drop_socket(abortive=True)
            raise

    def abort(self) -> None:
        """From another thread: end a send stuck on a peer that does not read (shutdown)."""
        self._abort_requested = True
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        self._abort_requested = False

    def _peer_gone(self) -> bool:
        # Logstash's tcp input never writes to us, but TLS may (session tickets), so
        # readability means nothing: only hang-up, error, or the peer's FIN (RDHUP) count.
        poller = select.poll()
        poller.register(self._sock.fileno(), _HANGUP_EVENTS)
        return bool(poller.poll(0))

    def _drop_socket(self, abortive: bool = False) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                if abortive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                sock.close()

    def _unacknowledged(self) -> int:
        # TIOCOUTQ: bytes written but not yet acknowledged by the peer's kernel.
        result = fcntl.ioctl(self._sock.fileno(), termios.TIOCOUTQ, struct.pack("I", 0))
        return int(struct.unpack("I", result)[0])

    def _raise_if_failed(self) -> None:
        error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionResetError(error, os.strerror(error))
        if self._abort_requested:
            raise ConnectionAbortedError("delivery is stopping")

    def _wait_for_socket_buffer_empty(self) -> None:
        # Before the buffer deletes a batch, the peer's kernel must have acknowledged every
        # byte (TIOCOUTQ empty): the closest TCP gets to an acknowledgement. The base class
        # polls every 50 ms, which caps a busy sender at ~20 batches a second; poll finely
        # first, then back off. The time limit counts from the last progress: a slow link
        # that keeps taking bytes is waited for (resending to it would only duplicate), a
        # peer that took nothing for SOCKET_CLOSE_WAIT_TIMEOUT is given up on.
        self._raise_if_failed()
        try:
            self._sock.getpeername()
        except OSError as exc:
            # Reset while the batch was written (a connection the peer had already closed):
            # the socket is no longer connected, and nothing says the batch arrived.
            raise ConnectionResetError("connection closed before the batch was acknowledged"
                                       ) from exc
        limit = constants.SOCKET_CLOSE_WAIT_TIMEOUT
        deadline = time.monotonic() + limit
        interval = 0.0002
        pending = self._unacknowledged()
        while pending:
            # A reset leaves the send queue as it was (TIOCOUTQ keeps its count) and sets
            # SO_ERROR: checked on every round, a reset fails the batch at once.
            self._raise_if_failed()
            if time.monotonic() > deadline:
                # Not acknowledged: the batch stays buffered and is sent again later
                # (Logstash drops the duplicates by event id).
                raise TimeoutError(f"Logstash took no data for {limit:g} s")
            time.sleep(interval)
            interval = min(interval * 2, 0.05)
            remaining = self._unacknowledged()
            if remaining < pending:
                deadline = time.monotonic() + limit
            pending = remaining
        # A reset can also come with an empty queue: only a socket without a pending error
        # has really handed the batch over.
        self._raise_if_failed()

    def close(self) -> None:
        # Every batch already waited for its acknowledgement in send(); nothing is pending.
        self._drop_socket()

    def _shutdown_socket(self) -> None:
        # A socket whose connect failed has nothing to shut down; the base class would
        # print a warning for every retry during an outage.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
