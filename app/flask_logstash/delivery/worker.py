"""The one delivery thread per process: formats queued records, buffers them, sends batches.

It plays the part of python-logstash-async's LogProcessingWorker, with batching, a loss
ledger, and supervision: an exception in one round is reported and the next round goes on, so
a full disk or a bug in one batch never ends delivery for the rest of the process's life.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable

from logstash_async.cache import Cache
from logstash_async.constants import constants
from logstash_async.worker import NETWORK_EXCEPTIONS

from flask_logstash.delivery import limits
from flask_logstash.delivery.buffer import FallbackBuffer, MemoryBuffer, SqliteBuffer
from flask_logstash.delivery.losses import QUEUE_FULL, UNFORMATTABLE, LossLedger
from flask_logstash.delivery.report import warn
from flask_logstash.delivery.transport import BatchTcpTransport

ERROR_PAUSE = 0.5  # after an unexpected error in a round: no hot loop, no stderr flood


class DeliveryWorker(threading.Thread):
    """Formats queued records, buffers them, and sends them in batches."""

    def __init__(
        self,
        transport: BatchTcpTransport,
        format_record: Callable[[logging.LogRecord], bytes],
        make_buffer: Callable[[LossLedger], SqliteBuffer | MemoryBuffer],
    ) -> None:
        super().__init__(name="logstash-delivery", daemon=True)
        self._transport = transport
        self._format_record = format_record
        self._make_buffer = make_buffer
        self._records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._retry_at = 0.0
        self._retry_delay = limits.RETRY_INITIAL
        self._buffer: Cache | None = None
        self._ready = threading.Event()
        self._last_error_report = 0.0
        self.losses = LossLedger()
        self.sent = 0

    @property
    def dropped(self) -> int:
        """Records refused at the hand-off queue (the worker fell behind)."""
        return self.losses.total[QUEUE_FULL]

    # -- called from application threads -----------------------------------------------
    def enqueue(self, record: logging.LogRecord) -> None:
        if self._records.qsize() >= limits.MAX_QUEUED_RECORDS:
            self.losses.add(QUEUE_FULL)  # the worker is stuck and memory would explode
            return
        self._records.put(record)

    def stop(self, timeout: float) -> None:
        """Buffer everything queued, try a last send, stop; wait at most `timeout`.

        A send under way gets STOP_SEND_GRACE to finish and is cut after that: with a
        durable buffer, what was logged before the stop must reach the disk, which matters
        more than a peer that does not read.
        """
        # The abort first: the worker resumes the transport for its last send only after
        # it sees the stop, so the abort can never land on that last send.
        self._transport.abort(limits.STOP_SEND_GRACE)
        self._stopping.set()
        self._records.put(None)  # wakes the worker at once
        self.join(timeout)

    def pending(self) -> int:
        """Records not yet confirmed sent (queued + buffered); for tests and health."""
        buffered = self._buffer.get_non_flushed_event_count() if self._buffer else 0
        return self._records.qsize() + buffered

    # -- the worker thread ----------------------------------------------------------------
    def run(self) -> None:
        self._buffer = self._open_buffer()
        self._ready.set()
        while True:
            try:
                if self._round():
                    break
            except Exception as exc:
                self._report_error(exc)
                time.sleep(ERROR_PAUSE)
        with contextlib.suppress(Exception):
            self._buffer.close()
        with contextlib.suppress(Exception):  # every batch was already acknowledged or kept
            self._transport.close()

    def _open_buffer(self) -> Cache:
        try:
            buffer = self._make_buffer(self.losses)
        except Exception as exc:
            warn(f"cannot open the event buffer ({exc}); falling back to memory")
            return MemoryBuffer(ledger=self.losses)
        if isinstance(buffer, SqliteBuffer):
            try:
                adopted = buffer.adopt_orphans()
            except Exception as exc:
                warn(f"could not adopt buffers left by stopped processes: {exc!r}")
            else:
                if adopted:
                    warn(f"adopted {adopted} buffered events left by a stopped process")
            return FallbackBuffer(buffer, self.losses)
        return buffer

    def _round(self) -> bool:
        """One gather-buffer-send round; True when the worker should end."""
        batch = self._take_batch()
        report = self.losses.due_report()
        if report is not None:
            batch.append(self._format_record(report))
        if batch:
            self._buffer.add_events(batch)
        if self._stopping.is_set():
            if not self._records.empty():
                return False  # everything queued reaches the buffer before any last send
            self._transport.resume()
            self._send_pending(deadline=time.monotonic() + constants.SOCKET_TIMEOUT)
            return True
        self._send_pending(deadline=None)
        return False

    def _report_error(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_report >= limits.LOSS_REPORT_INTERVAL:
            self._last_error_report = now
            warn(f"delivery round failed, going on: {exc!r}")

    def _take_batch(self) -> list[bytes]:
        texts: list[bytes] = []
        timeout = limits.FLUSH_INTERVAL
        if self._retry_at > time.monotonic():
            timeout = max(0.0, self._retry_at - time.monotonic())
        if self._stopping.is_set():
            timeout = 0.0
        try:
            record = self._records.get(timeout=timeout)
        except queue.Empty:
            return texts
        # Gather what arrives within the linger window into one batch: one SQLite
        # transaction and one send per window instead of per record. The worker wakes every
        # LINGER_SLICE, not per record: each wake-up costs a context switch and a GIL
        # hand-off, which cost request threads more than the formatting itself.
        #
        # While callers log in a burst (a loop), formatting takes the GIL from them for as
        # long as their own calls take; so within the window, records that arrive that fast
        # wait until the burst pauses or the window ends. The work is the same, done when
        # the callers do not need the GIL. A burst shorter than a batch reaches the disk when
        # the window ends, as before; a longer one keeps up to MAX_DEFERRED_RECORDS in
        # memory for a few windows more (docs/logging.md, crash window).
        linger_until = time.monotonic() + limits.BATCH_LINGER
        unformatted: logging.LogRecord | None = record
        look = (_made_at(record), 0)  # the round's records arrived since this one was made
        size = 0
        while True:
            window_open = (not self._stopping.is_set()
                           and time.monotonic() + limits.LINGER_SLICE <= linger_until)
            burst, look = self._burst_since(look)
            if not (window_open and burst):
                size = self._format_queued(texts, unformatted, size)
                unformatted = None
                look = (time.time(), self._records.qsize())
            if (not window_open or len(texts) >= limits.BATCH_SIZE
                    or size >= limits.MAX_BATCH_BYTES):
                return texts
            time.sleep(limits.LINGER_SLICE)

    def _burst_since(self, look: tuple[float, int]) -> tuple[bool, tuple[float, int]]:
        """Whether records arrived in a burst since `look` (a time and the queue's length
        then), and the new look. Past MAX_DEFERRED_RECORDS queued it is never a burst: the
        worker must keep up, or the queue would fill and records be dropped."""
        then, before = look
        now, queued = time.time(), self._records.qsize()
        arrived = queued - before
        burst = (arrived >= limits.BURST_RECORDS
                 and queued < limits.MAX_DEFERRED_RECORDS
                 and arrived >= limits.BURST_RATE * (now - then))
        return burst, (now, queued)

    def _format_queued(
        self, texts: list[bytes], record: logging.LogRecord | None, size: int
    ) -> int:
        """Format `record` and then whatever is queued, until the batch is full; returns
        the batch's size in bytes."""
        while True:
            if record is not None:
                text = self._format(record)
                if text is not None:
                    texts.append(text)
                    size += len(text)
            if len(texts) >= limits.BATCH_SIZE or size >= limits.MAX_BATCH_BYTES:
                return size
            try:
                record = self._records.get_nowait()
            except queue.Empty:
                return size

    def _format(self, record: logging.LogRecord) -> bytes | None:
        try:
            return self._format_record(record)
        except Exception as exc:
            # Only a formatter other than ours can get here (ours never raises).
            self.losses.add(UNFORMATTABLE)
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
                if self._transport.aborting and deadline is None:
                    # A stop cut this send (or it failed while a stop was under way): the
                    # last send follows at once and warns if Logstash really is away.
                    # Warned here, a recycled worker would read as an outage.
                    return
                self._back_off(exc)
                return
            sent = self._buffer.in_flight_events
            self._buffer.delete_queued_events()
            self.sent += sent
            self._retry_delay = limits.RETRY_INITIAL
            self._retry_at = 0.0
            if deadline is not None and time.monotonic() > deadline:
                return
            if self._stopping.is_set() and deadline is None:
                return  # the stop wants the queue on disk first

    def _back_off(self, exc: BaseException) -> None:
        if self._retry_delay == limits.RETRY_INITIAL:
            warn(f"Logstash unreachable ({exc}); buffering and retrying")
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, limits.RETRY_MAX)


def _made_at(record: logging.LogRecord | None) -> float:
    # None is the stop signal; a filter may have replaced `created` with anything, and an
    # exception here would lose the record already taken from the queue.
    created = getattr(record, "created", None)
    if isinstance(created, (int, float)):
        with contextlib.suppress(OverflowError):  # an int beyond any float (10**400)
            made = float(created)
            if math.isfinite(made):
                return made
    return time.time()
