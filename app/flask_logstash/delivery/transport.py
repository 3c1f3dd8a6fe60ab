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
_WAIT_SLICE_MS = 50  # longest wait for a writable socket before a stop is looked for
_STEP_BYTES = 16 * 1024  # the largest TLS record's payload


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
        self._abort_at: float | None = None  # monotonic time a stop cuts the send at

    def send(self, events: Sequence[bytes], use_logging: bool = False) -> None:
        if self._sock is not None and self._peer_gone():
            self._drop_socket()
        try:
            self._create_socket()
            self._send_all(b"".join(events))
            self._wait_for_socket_buffer_empty()
        except BaseException:
            # Abortive close (RST): what our kernel still holds of this batch is discarded
            # instead of trickling to a peer that wakes up later, so a failed attempt adds
            # at most what the peer had already taken to the copy the retry sends.
            self._drop_socket(abortive=True)
            raise

    def abort(self, grace: float) -> None:
        """From another thread (a stop): a send still running `grace` seconds from now fails.

        Only a flag: the sending thread checks it between its waits and then closes with a
        reset, as for any failed send. Shutting the socket down from here (as this did)
        sent a FIN after part of a line, which Logstash's tcp input flushes as a line of its
        own: a junk event at every stop that caught a send, even a healthy one. A send that
        finishes within the grace is not cut at all.
        """
        self._abort_at = time.monotonic() + grace

    def resume(self) -> None:
        self._abort_at = None

    @property
    def aborting(self) -> bool:
        return self._abort_at is not None

    def _raise_if_aborted(self) -> None:
        abort_at = self._abort_at
        if abort_at is not None and time.monotonic() >= abort_at:
            raise ConnectionAbortedError("delivery is stopping")

    def _send_all(self, data: bytes) -> None:
        # sendall, in steps a stop can interrupt: sendall blocks on a peer that does not
        # read, and only a shutdown from another thread could end that early. Each step
        # waits at most one slice: poll() for plain TCP, and the socket's timeout for TLS,
        # whose write waits inside send() when only part of a record fits (CPython's ssl
        # does not ask OpenSSL for partial writes). A send fails when no step completes for
        # SOCKET_TIMEOUT; a slow link that keeps taking bytes is waited for, as the
        # acknowledgement wait does (sendall's timeout bounded the whole batch instead).
        sock = self._sock
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT | _HANGUP_EVENTS)
        view = memoryview(data)
        limit = constants.SOCKET_TIMEOUT
        last_progress = time.monotonic()
        kept_timeout = sock.gettimeout()
        sock.settimeout(_WAIT_SLICE_MS / 1000)
        try:
            while view:
                self._raise_if_aborted()
                sent = 0
                if poller.poll(_WAIT_SLICE_MS):
                    try:
                        # At most one TLS record: TLS writes all it is given before it
                        # returns. After a timeout OpenSSL expects the same bytes again,
                        # which the next step offers (the view has not moved).
                        sent = sock.send(view[:_STEP_BYTES])
                    except TimeoutError:
                        sent = 0
                if sent:
                    view = view[sent:]
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > limit:
                    raise TimeoutError(f"Logstash took no data for {limit:g} s")
        finally:
            sock.settimeout(kept_timeout)

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
        self._raise_if_aborted()

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
