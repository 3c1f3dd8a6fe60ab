"""python-logstash-async's TCP transport, kept connected, with a real acknowledgement wait."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Sequence

from logstash_async.constants import constants
from logstash_async.transport import TcpTransport

# poll() events that mean the connection is over; POLLRDHUP (peer sent FIN) is Linux-only.
_HANGUP_EVENTS = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


class BatchTcpTransport(TcpTransport):
    """python-logstash-async's TCP transport, kept connected, writing a batch per sendall.

    The library reconnects for every batch (`_keep_connection = False`) so that a broken
    connection is never written into unnoticed. We keep the connection, which saves a TCP
    (and TLS) handshake per batch, and notice breakage two ways instead: before a batch, a
    peer that closed or reset shows up in poll(); after it, the acknowledgement wait below
    fails unless the peer's kernel took every byte and no error is pending.
    """

    _keep_connection = True

    def send(self, events: Sequence[bytes], use_logging: bool = False) -> None:
        if self._sock is not None and self._peer_gone():
            self._drop_socket()
        try:
            self._create_socket()
            self._sock.sendall(b"".join(events))
            self._wait_for_socket_buffer_empty()
        except BaseException:
            self._drop_socket()
            raise

    def _peer_gone(self) -> bool:
        # Logstash's tcp input never writes to us, but TLS may (session tickets), so
        # readability means nothing: only hang-up, error, or the peer's FIN (RDHUP) count.
        poller = select.poll()
        poller.register(self._sock.fileno(), _HANGUP_EVENTS)
        return bool(poller.poll(0))

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _wait_for_socket_buffer_empty(self) -> None:
        # Before the buffer deletes a batch, the peer's kernel must have acknowledged every
        # byte (TIOCOUTQ empty): the closest TCP gets to an acknowledgement. The base class
        # polls every 50 ms, which caps a busy sender at ~20 batches a second; poll finely
        # first, then back off, within the same overall limit.
        try:
            self._sock.getpeername()
        except OSError:
            return  # never connected (refused, unreachable): nothing was handed over
        deadline = time.monotonic() + constants.SOCKET_CLOSE_WAIT_TIMEOUT
        interval = 0.0002
        while not self._is_sock_write_buff_empty():
            if time.monotonic() > deadline:
                # Not acknowledged: the batch stays buffered and is sent again later
                # (Logstash drops the duplicates by event id).
                raise TimeoutError("Logstash did not read the batch in time")
            time.sleep(interval)
            interval = min(interval * 2, 0.05)
        # A reset connection also has an empty send queue (the kernel purges it): only a
        # socket without a pending error has really handed the batch over.
        error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionResetError(error, os.strerror(error))

    def _shutdown_socket(self) -> None:
        # A socket whose connect failed has nothing to shut down; the base class would
        # print a warning for every retry during an outage.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)


