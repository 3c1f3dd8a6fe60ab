"""The one delivery thread per process: formats queued records, buffers them, sends batches."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

from logstash_async.constants import constants
from logstash_async.transport import TcpTransport
from logstash_async.worker import NETWORK_EXCEPTIONS

from flask_logstash.delivery import limits
from flask_logstash.delivery.buffer import MemoryBuffer, SqliteBuffer
from flask_logstash.delivery.report import warn


class DeliveryWorker(threading.Thread):
    """Formats queued records, buffers them, and sends them in batches."""

    def __init__(
        self,
        transport: TcpTransport,
        format_record: Callable[[logging.LogRecord], bytes],
        make_buffer: Callable[[], SqliteBuffer | MemoryBuffer],
    ) -> None:
        super().__init__(name="logstash-delivery", daemon=True)
        self._transport = transport
        self._format_record = format_record
        self._make_buffer = make_buffer
        self._records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._retry_at = 0.0
        self._retry_delay = limits.RETRY_INITIAL
        self._buffer: SqliteBuffer | MemoryBuffer | None = None
        self._ready = threading.Event()
        self.dropped = 0
        self.sent = 0

    # -- called from application threads -----------------------------------------------
    def enqueue(self, record: logging.LogRecord) -> None:
        if self._records.qsize() >= limits.MAX_QUEUED_RECORDS:
            self.dropped += 1  # lost only if the worker is stuck and memory would explode
            return
        self._records.put(record)

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._records.put(None)  # wakes the worker at once
        self.join(timeout)

    def pending(self) -> int:
        """Records not yet confirmed sent (queued + buffered); for tests and health."""
        buffered = self._buffer.get_non_flushed_event_count() if self._buffer else 0
        return self._records.qsize() + buffered

    # -- the worker thread ----------------------------------------------------------------
    def run(self) -> None:
        try:
            self._buffer = self._make_buffer()
        except Exception as exc:
            warn(f"cannot open the event buffer ({exc}); falling back to memory")
            self._buffer = MemoryBuffer()
        if isinstance(self._buffer, SqliteBuffer):
            adopted = self._buffer.adopt_orphans()
            if adopted:
                warn(f"adopted {adopted} buffered events left by a stopped process")
        self._ready.set()
        while True:
            batch = self._take_batch()
            if batch:
                self._buffer.add_events(batch)
            if self._stopping.is_set() and self._records.empty():
                self._send_pending(deadline=time.monotonic() + constants.SOCKET_TIMEOUT)
                break
            self._send_pending(deadline=None)
        self._buffer.close()
        with contextlib.suppress(OSError):  # every batch was already acknowledged or kept
            self._transport.close()

    def _take_batch(self) -> list[bytes]:
        texts: list[bytes] = []
        timeout = limits.FLUSH_INTERVAL
        if self._retry_at > time.monotonic():
            timeout = max(0.0, self._retry_at - time.monotonic())
        try:
            record = self._records.get(timeout=timeout)
        except queue.Empty:
            return texts
        # Gather what arrives within the linger window into one batch: one SQLite
        # transaction and one send per window instead of per record. The worker wakes every
        # limits.LINGER_SLICE, not per record: each wake-up costs a context switch and a GIL
        # hand-off, which cost request threads more than the formatting itself.
        linger_until = time.monotonic() + limits.BATCH_LINGER
        self._format_queued(texts, record)
        while (len(texts) < limits.BATCH_SIZE and not self._stopping.is_set()
               and time.monotonic() + limits.LINGER_SLICE <= linger_until):
            time.sleep(limits.LINGER_SLICE)
            self._format_queued(texts, None)
        return texts

    def _format_queued(self, texts: list[bytes], record: logging.LogRecord | None) -> None:
        """Format `record` and then whatever is queued, until the batch is full."""
        while True:
            if record is not None:
                text = self._format(record)
                if text is not None:
                    texts.append(text)
            if len(texts) >= limits.BATCH_SIZE:
                return
            try:
                record = self._records.get_nowait()
            except queue.Empty:
                return

    def _format(self, record: logging.LogRecord) -> bytes | None:
        try:
            return self._format_record(record)
        except Exception as exc:
            warn(f"dropped a record that could not be formatted: {exc!r}")
            return None

    def _send_pending(self, deadline: float | None) -> None:
        if time.monotonic() < self._retry_at and deadline is None:
            return
        while True:
            events = self._buffer.get_queued_events()
            if not events:
                return
            try:
                self._transport.send(events, use_logging=False)
            except (*NETWORK_EXCEPTIONS, OSError) as exc:
                self._buffer.requeue_queued_events(events)
                self._back_off(exc)
                return
            sent = self._buffer.in_flight_events
            self._buffer.delete_queued_events()
            self.sent += sent
            self._retry_delay = limits.RETRY_INITIAL
            self._retry_at = 0.0
            if deadline is not None and time.monotonic() > deadline:
                return

    def _back_off(self, exc: BaseException) -> None:
        if self._retry_delay == limits.RETRY_INITIAL:
            warn(f"Logstash unreachable ({exc}); buffering and retrying")
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, limits.RETRY_MAX)


