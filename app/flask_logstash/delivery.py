"""Get formatted events to Logstash without ever making a request wait for it.

Built on python-logstash-async: its handler (TLS and transport set-up), its TCP transport and
its cache interface. What this module changes, and why:

- `emit` only enqueues the record. Formatting, redaction, serialisation, disk and network all
  run on one worker thread per process, so the request thread pays microseconds.
- Records gather for a short linger window; each batch is one SQLite row and one `sendall`
  over a connection that is kept between batches (the library reconnects per batch).
- The durable buffer is one SQLite file per process, guarded by an exclusive `flock`. A
  starting process adopts files whose owner died (gunicorn worker killed, container crash),
  so nothing buffered is lost and no two live processes share a file.
- A slow, absent or black-holed Logstash only delays the worker (socket timeouts, backoff);
  the in-memory hand-off queue is bounded and counts what it had to drop.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import secrets
import select
import socket
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from logstash_async.cache import Cache
from logstash_async.constants import constants
from logstash_async.handler import AsynchronousLogstashHandler
from logstash_async.transport import TcpTransport
from logstash_async.worker import NETWORK_EXCEPTIONS

# Tunables, module-level like python-logstash-async's own constants so an application can
# adjust them at start-up.
BATCH_SIZE = 1000  # events per connection and per SQLite transaction
FLUSH_INTERVAL = 0.1  # longest idle wait of the worker (also bounds its shutdown latency)
BATCH_LINGER = 0.05  # seconds a batch may gather records before it is buffered and sent
LINGER_SLICE = 0.005  # how often the worker wakes while a batch gathers
RETRY_INITIAL = 0.25  # first back-off after a failed send, doubled up to RETRY_MAX
RETRY_MAX = 1.0  # keeps "drain soon after Logstash returns" true after a long outage
MAX_QUEUED_RECORDS = 50_000  # records between emit() and the worker: bounds memory
MEMORY_BUFFER_MAX_EVENTS = 200_000  # formatted events kept in memory mode while Logstash is away

# A send either completes within this many seconds or is retried later; a black-holed
# Logstash cannot hold the worker longer than this per attempt.
constants.SOCKET_TIMEOUT = 5.0
constants.SOCKET_CLOSE_WAIT_TIMEOUT = 5.0

# poll() events that mean the connection is over; POLLRDHUP (peer sent FIN) is Linux-only.
_HANGUP_EVENTS = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)

BUFFER_PREFIX = "logstash-buffer-"
BUFFER_SUFFIX = ".sqlite"


def _warn(message: str) -> None:
    # Our own problems go to stderr: logging them would feed them back into this handler.
    print(f"flask_logstash.delivery: {message}", file=sys.stderr, flush=True)


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


class MemoryBuffer(Cache):
    """Formatted events held in memory until sent; oldest dropped past the bound."""

    def __init__(self, max_events: int = MEMORY_BUFFER_MAX_EVENTS) -> None:
        self._events: deque[bytes] = deque()
        self._max_events = max_events
        self.in_flight_events = 0
        self.dropped = 0

    def add_events(self, texts: Sequence[bytes]) -> None:
        self._events.extend(texts)
        overflow = len(self._events) - self._max_events
        for _ in range(max(0, overflow)):
            self._events.popleft()
            self.dropped += 1

    def add_event(self, event: bytes) -> None:
        self.add_events([event])

    def get_queued_events(self) -> list[bytes]:
        batch = [self._events[i] for i in range(min(BATCH_SIZE, len(self._events)))]
        self.in_flight_events = len(batch)
        return batch

    def requeue_queued_events(self, events: Any) -> None:
        self.in_flight_events = 0

    def delete_queued_events(self) -> None:
        for _ in range(self.in_flight_events):
            self._events.popleft()
        self.in_flight_events = 0

    def expire_events(self) -> None:
        """Memory mode keeps no age limit; the size bound does that job."""

    def get_non_flushed_event_count(self) -> int:
        return len(self._events)

    def close(self) -> None:
        """Nothing to release."""


class SqliteBuffer(Cache):
    """One process's durable buffer: a SQLite file in WAL mode, held under an flock.

    Each row holds one batch of NDJSON lines rather than one event: SQLite's cost is per row
    and per page, and a row per event made the buffer most of the delivery thread's work.
    synchronous=NORMAL in WAL mode survives a process crash (SIGKILL) but may lose the last
    transactions on power loss: the trade that makes batched writes cheap.
    """

    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / (
            f"{BUFFER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{BUFFER_SUFFIX}"
        )
        self._lock = _try_lock(self.path)
        if self._lock is None:  # pragma: no cover - the name is unique to this process
            raise RuntimeError(f"buffer {self.path} is locked by another process")
        self._db = _open_db(self.path)
        self._in_flight_max_id: int | None = None
        self.in_flight_events = 0

    def add_events(self, texts: Sequence[bytes]) -> None:
        if texts:
            with self._db:
                self._db.execute(
                    "INSERT INTO batch (lines, event_count, created) VALUES (?, ?, ?)",
                    (b"".join(texts), len(texts), time.time()),
                )

    def add_event(self, event: bytes) -> None:
        self.add_events([event])

    def get_queued_events(self) -> list[bytes]:
        """The oldest batches, up to about BATCH_SIZE events; each item holds many lines."""
        chunks: list[bytes] = []
        count = 0
        self._in_flight_max_id = None
        for batch_id, lines, event_count in self._db.execute(
            "SELECT batch_id, lines, event_count FROM batch ORDER BY batch_id"
        ):
            chunks.append(lines)
            count += event_count
            self._in_flight_max_id = batch_id
            if count >= BATCH_SIZE:
                break
        self.in_flight_events = count
        return chunks

    def requeue_queued_events(self, events: Any) -> None:
        self._in_flight_max_id = None
        self.in_flight_events = 0

    def delete_queued_events(self) -> None:
        if self._in_flight_max_id is not None:
            with self._db:
                self._db.execute("DELETE FROM batch WHERE batch_id <= ?", (self._in_flight_max_id,))
            self._in_flight_max_id = None

    def expire_events(self) -> None:
        """Events never expire: a durable buffer that drops data would defeat its purpose."""

    def get_non_flushed_event_count(self) -> int:
        return self._db.execute("SELECT coalesce(sum(event_count), 0) FROM batch").fetchone()[0]

    def adopt_orphans(self) -> int:
        """Move every event from buffers whose owner process is gone into this one."""
        adopted = 0
        for other in sorted(self.path.parent.glob(f"{BUFFER_PREFIX}*{BUFFER_SUFFIX}")):
            if other == self.path:
                continue
            lock = _try_lock(other)
            if lock is None:  # a live process owns it
                continue
            try:
                adopted += self._copy_from(other)
                for leftover in (other, *_sidecars(other)):
                    leftover.unlink(missing_ok=True)
            except sqlite3.DatabaseError as exc:
                _warn(f"could not adopt buffer {other.name}: {exc}; left in place")
            finally:
                os.close(lock)
        return adopted

    def _copy_from(self, other: Path) -> int:
        source = sqlite3.connect(other, isolation_level=None)
        try:
            rows = source.execute(
                "SELECT lines, event_count, created FROM batch ORDER BY batch_id"
            ).fetchall()
        except sqlite3.OperationalError:  # created but never initialised
            rows = []
        finally:
            source.close()
        if rows:
            with self._db:
                self._db.executemany(
                    "INSERT INTO batch (lines, event_count, created) VALUES (?, ?, ?)", rows
                )
        return sum(row[1] for row in rows)

    def close(self) -> None:
        remaining = self.get_non_flushed_event_count()
        self._db.close()
        if remaining == 0:  # an empty buffer need not wait for adoption
            for leftover in (self.path, *_sidecars(self.path)):
                leftover.unlink(missing_ok=True)
        os.close(self._lock)


def _sidecars(path: Path) -> tuple[Path, ...]:
    return (
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
        path.with_name(path.name + ".lock"),
    )


def _try_lock(path: Path) -> int | None:
    """An exclusive flock on `<buffer>.lock`; None when another process holds it.

    flock (not SQLite's own POSIX locks) because the kernel releases it when the holder dies,
    which is exactly the "owner is gone" signal adoption needs.
    """
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # The flock already makes this connection the file's only user, so SQLite need not take
    # and release its own POSIX locks around every transaction (about half its system calls).
    # Exclusive mode is set before WAL so the WAL index lives in memory, not in a -shm file.
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS batch (batch_id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " lines BLOB NOT NULL, event_count INTEGER NOT NULL, created REAL NOT NULL)"
    )
    os.chmod(path, 0o600)
    return db


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
        self._retry_delay = RETRY_INITIAL
        self._buffer: SqliteBuffer | MemoryBuffer | None = None
        self._ready = threading.Event()
        self.dropped = 0
        self.sent = 0

    # -- called from application threads -----------------------------------------------
    def enqueue(self, record: logging.LogRecord) -> None:
        if self._records.qsize() >= MAX_QUEUED_RECORDS:
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
            _warn(f"cannot open the event buffer ({exc}); falling back to memory")
            self._buffer = MemoryBuffer()
        if isinstance(self._buffer, SqliteBuffer):
            adopted = self._buffer.adopt_orphans()
            if adopted:
                _warn(f"adopted {adopted} buffered events left by a stopped process")
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
        timeout = FLUSH_INTERVAL
        if self._retry_at > time.monotonic():
            timeout = max(0.0, self._retry_at - time.monotonic())
        try:
            record = self._records.get(timeout=timeout)
        except queue.Empty:
            return texts
        # Gather what arrives within the linger window into one batch: one SQLite
        # transaction and one send per window instead of per record. The worker wakes every
        # LINGER_SLICE, not per record: each wake-up costs a context switch and a GIL
        # hand-off, which cost request threads more than the formatting itself.
        linger_until = time.monotonic() + BATCH_LINGER
        self._format_queued(texts, record)
        while (len(texts) < BATCH_SIZE and not self._stopping.is_set()
               and time.monotonic() + LINGER_SLICE <= linger_until):
            time.sleep(LINGER_SLICE)
            self._format_queued(texts, None)
        return texts

    def _format_queued(self, texts: list[bytes], record: logging.LogRecord | None) -> None:
        """Format `record` and then whatever is queued, until the batch is full."""
        while True:
            if record is not None:
                text = self._format(record)
                if text is not None:
                    texts.append(text)
            if len(texts) >= BATCH_SIZE:
                return
            try:
                record = self._records.get_nowait()
            except queue.Empty:
                return

    def _format(self, record: logging.LogRecord) -> bytes | None:
        try:
            return self._format_record(record)
        except Exception as exc:
            _warn(f"dropped a record that could not be formatted: {exc!r}")
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
            self._retry_delay = RETRY_INITIAL
            self._retry_at = 0.0
            if deadline is not None and time.monotonic() > deadline:
                return

    def _back_off(self, exc: BaseException) -> None:
        if self._retry_delay == RETRY_INITIAL:
            _warn(f"Logstash unreachable ({exc}); buffering and retrying")
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)


class BufferedLogstashHandler(AsynchronousLogstashHandler):
    """AsynchronousLogstashHandler whose emit is only an enqueue; see the module docstring."""

    def __init__(self, host: str, port: int, buffer_dir: str | None, **tls: Any) -> None:
        super().__init__(
            host, port, database_path=None, transport=BatchTcpTransport, **tls,
        )
        self._buffer_dir = buffer_dir
        self._worker: DeliveryWorker | None = None
        self._worker_pid: int | None = None
        self._start_lock = threading.Lock()

    @property
    def worker(self) -> DeliveryWorker:
        worker = self._worker
        if worker is None or self._worker_pid != os.getpid():
            worker = self._start_worker()
        return worker

    def _start_worker(self) -> DeliveryWorker:
        with self._start_lock:
            # After fork the parent's thread does not exist here: start this process's own.
            if self._worker is None or self._worker_pid != os.getpid():
                self._transport = None
                self._setup_transport()
                directory = self._buffer_dir
                worker = DeliveryWorker(
                    transport=self._transport,
                    format_record=self._format_record,
                    make_buffer=(lambda: SqliteBuffer(directory)) if directory else MemoryBuffer,
                )
                worker.start()
                worker._ready.wait(5.0)
                self._worker, self._worker_pid = worker, os.getpid()
        return self._worker

    def _format_record(self, record: logging.LogRecord) -> bytes:
        # Our ECS formatter can produce the wire line directly; any other formatter goes
        # through the library's str -> bytes path.
        format_line = getattr(self.formatter, "format_line", None)
        if format_line is not None:
            return format_line(record)
        return super()._format_record(record)

    def emit(self, record: logging.LogRecord) -> None:
        # Freeze what may change after we return: the message arguments may be mutable.
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        self.worker.enqueue(record)

    def flush(self) -> None:
        """Sending is continuous; an explicit flush would only make callers wait."""

    def close(self, timeout: float = 12.0) -> None:
        worker = self._worker
        if worker is not None and self._worker_pid == os.getpid() and worker.is_alive():
            worker.stop(timeout)
        self._worker = None
        logging.Handler.close(self)


def build_logstash_handler(
    *,
    host: str,
    port: int,
    formatter: logging.Formatter,
    buffer_dir: str | None,
    ssl_enable: bool = False,
    ssl_verify: bool = True,
    ca_certs: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> BufferedLogstashHandler:
    handler = BufferedLogstashHandler(
        host, port, buffer_dir,
        ssl_enable=ssl_enable, ssl_verify=ssl_verify,
        ca_certs=ca_certs, certfile=certfile, keyfile=keyfile,
    )
    handler.setFormatter(formatter)
    return handler


# Long enough for one bounded send attempt (connect/send timeout + acknowledgement wait) to
# finish, so records that arrived meanwhile still reach the disk before the process exits.
SHUTDOWN_TIMEOUT = constants.SOCKET_TIMEOUT + constants.SOCKET_CLOSE_WAIT_TIMEOUT + 2


def flush_and_close(handler: logging.Handler, timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """Stop the worker after it has buffered everything and tried a last send."""
    try:
        if isinstance(handler, BufferedLogstashHandler):
            handler.close(timeout)
        else:
            handler.close()
    except Exception as exc:  # shutdown must go on; say what failed
        _warn(f"closing the log handler failed: {exc!r}")
