"""Where formatted events wait for Logstash: python-logstash-async's Cache interface, in memory
or in one SQLite file per process."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from logstash_async.cache import Cache

from flask_logstash.delivery import limits
from flask_logstash.delivery.losses import DISK_CAP, MEMORY_CAP, LossLedger
from flask_logstash.delivery.report import warn

BUFFER_PREFIX = "logstash-buffer-"
BUFFER_SUFFIX = ".sqlite"


def _take(sizes: Sequence[tuple[int, int]]) -> int:
    """How many of the oldest items (bytes, events) make one batch: up to BATCH_SIZE events
    and MAX_BATCH_BYTES, and always at least one item."""
    count = total_bytes = taken = 0
    for size, events in sizes:
        if taken and (count + events > limits.BATCH_SIZE
                      or total_bytes + size > limits.MAX_BATCH_BYTES):
            break
        taken += 1
        count += events
        total_bytes += size
    return taken


class MemoryBuffer(Cache):
    """Formatted events held in memory until sent; oldest dropped past the bound."""

    def __init__(self, max_events: int | None = None, ledger: LossLedger | None = None) -> None:
        self._events: deque[bytes] = deque()
        self._max_events = max_events or limits.MEMORY_BUFFER_MAX_EVENTS
        self._ledger = ledger or LossLedger()
        self.in_flight_events = 0

    def add_events(self, texts: Sequence[bytes]) -> None:
        self._events.extend(texts)
        overflow = len(self._events) - self._max_events
        for _ in range(max(0, overflow)):
            self._events.popleft()
        self._ledger.add(MEMORY_CAP, overflow)

    def add_event(self, event: bytes) -> None:
        self.add_events([event])

    def get_queued_events(self) -> list[bytes]:
        head = itertools.islice(self._events, limits.BATCH_SIZE)
        count = _take([(len(event), 1) for event in head])
        batch = list(itertools.islice(self._events, count))
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


class FallbackBuffer(Cache):
    """The durable buffer, with memory behind it for when the disk refuses a write (full,
    read-only, I/O error): events are kept in memory rather than lost, and later writes try
    the disk again. Batches are sent from the disk first."""

    def __init__(self, durable: SqliteBuffer, ledger: LossLedger) -> None:
        self.durable = durable
        self.memory = MemoryBuffer(ledger=ledger)
        self._serving: Cache | None = None
        self._disk_failing = False

    @property
    def in_flight_events(self) -> int:
        return self._serving.in_flight_events if self._serving else 0  # type: ignore[attr-defined]

    def add_events(self, texts: Sequence[bytes]) -> None:
        try:
            self.durable.add_events(texts)
        except (sqlite3.Error, OSError) as exc:
            if not self._disk_failing:
                warn(f"cannot write the durable buffer ({exc}); keeping events in memory")
            self._disk_failing = True
            self.memory.add_events(texts)
        else:
            if self._disk_failing:
                warn("the durable buffer accepts writes again")
            self._disk_failing = False

    def add_event(self, event: bytes) -> None:
        self.add_events([event])

    def get_queued_events(self) -> list[bytes]:
        for source in (self.durable, self.memory):
            try:
                events = source.get_queued_events()
            except sqlite3.Error as exc:
                warn(f"cannot read the durable buffer ({exc}); sending from memory")
                continue
            if events:
                self._serving = source
                return events
        self._serving = None
        return []

    def requeue_queued_events(self, events: Any) -> None:
        if self._serving is not None:
            self._serving.requeue_queued_events(events)

    def delete_queued_events(self) -> None:
        if self._serving is not None:
            self._serving.delete_queued_events()

    def expire_events(self) -> None:
        """Neither part expires events."""

    def get_non_flushed_event_count(self) -> int:
        return self.durable.get_non_flushed_event_count() + len(self.memory._events)

    def close(self) -> None:
        # What only memory holds gets one last chance to reach the disk.
        if self.memory.get_non_flushed_event_count():
            with contextlib.suppress(sqlite3.Error, OSError):
                self.durable.add_events(list(self.memory._events))
        self.durable.close()


class SqliteBuffer(Cache):
    """One process's durable buffer: a SQLite file in WAL mode, held under an flock.

    Each row holds one batch of NDJSON lines rather than one event: SQLite's cost is per row
    and per page, and a row per event made the buffer most of the delivery thread's work.
    synchronous=NORMAL in WAL mode survives a process crash (SIGKILL) but may lose the last
    transactions on power loss: the trade that makes batched writes cheap.
    """

    def __init__(self, directory: str, max_bytes: int | None = None,
                 ledger: LossLedger | None = None) -> None:
        self.path = Path(directory) / (
            f"{BUFFER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{BUFFER_SUFFIX}"
        )
        self._lock = _try_lock(self.path)
        if self._lock is None:  # pragma: no cover - the name is unique to this process
            raise RuntimeError(f"buffer {self.path} is locked by another process")
        self._db = _open_db(self.path)
        self._max_bytes = max_bytes or limits.DISK_BUFFER_MAX_BYTES
        self._ledger = ledger or LossLedger()
        self._bytes = 0  # bytes of events held: kept in step with the rows
        self._in_flight: tuple[int, int] | None = None  # (last batch_id, bytes) being sent
        # Rows up to here were delivered. Their DELETE can fail on a full disk (WAL mode
        # needs space to delete); they must never be sent again, so reads skip them and
        # the DELETE is retried later.
        self._delivered_through = 0
        self.in_flight_events = 0

    def add_events(self, texts: Sequence[bytes]) -> None:
        if texts:
            lines = b"".join(texts)
            with self._db:
                self._db.execute(
                    "INSERT INTO batch (lines, event_count, created) VALUES (?, ?, ?)",
                    (lines, len(texts), time.time()),
                )
            self._bytes += len(lines)
            # The rows are in; what follows only reclaims space and may fail on a full disk.
            with contextlib.suppress(sqlite3.Error):
                self._delete_delivered()
                if self._bytes > self._max_bytes:
                    self._evict_oldest()

    def _delete_delivered(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM batch WHERE batch_id <= ?",
                             (self._delivered_through,))

    def _evict_oldest(self) -> None:
        """Drop the oldest rows until the events fit the cap again; counted as losses."""
        freed = evicted = 0
        last_id = None
        for batch_id, size, event_count in self._db.execute(
            "SELECT batch_id, length(lines), event_count FROM batch WHERE batch_id > ?"
            " ORDER BY batch_id", (self._delivered_through,)
        ):
            if self._bytes - freed <= self._max_bytes:
                break
            freed += size
            evicted += event_count
            last_id = batch_id
        if last_id is not None:
            with self._db:
                self._db.execute("DELETE FROM batch WHERE batch_id <= ?", (last_id,))
            self._bytes -= freed
            self._ledger.add(DISK_CAP, evicted)

    def add_event(self, event: bytes) -> None:
        self.add_events([event])

    def get_queued_events(self) -> list[bytes]:
        """The oldest rows, up to about BATCH_SIZE events and MAX_BATCH_BYTES; each item
        holds many lines."""
        rows = self._db.execute(
            "SELECT batch_id, length(lines), event_count FROM batch WHERE batch_id > ?"
            " ORDER BY batch_id LIMIT ?", (self._delivered_through, limits.BATCH_SIZE),
        ).fetchall()
        taken = rows[:_take([(size, count) for _, size, count in rows])]
        self._in_flight = None
        self.in_flight_events = 0
        if not taken:
            return []
        last_id = taken[-1][0]
        self._in_flight = (last_id, sum(size for _, size, _ in taken))
        self.in_flight_events = sum(count for _, _, count in taken)
        return [lines for (lines,) in self._db.execute(
            "SELECT lines FROM batch WHERE batch_id > ? AND batch_id <= ? ORDER BY batch_id",
            (self._delivered_through, last_id),
        )]

    def requeue_queued_events(self, events: Any) -> None:
        self._in_flight = None
        self.in_flight_events = 0

    def delete_queued_events(self) -> None:
        if self._in_flight is not None:
            last_id, size = self._in_flight
            self._delivered_through = last_id
            self._bytes = max(0, self._bytes - size)
            self._in_flight = None
            with contextlib.suppress(sqlite3.Error):  # retried with the next write
                self._delete_delivered()

    def expire_events(self) -> None:
        """Events never expire: a durable buffer that drops data would defeat its purpose."""

    def get_non_flushed_event_count(self) -> int:
        return self._db.execute(
            "SELECT coalesce(sum(event_count), 0) FROM batch WHERE batch_id > ?",
            (self._delivered_through,),
        ).fetchone()[0]

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
                warn(f"could not adopt buffer {other.name}: {exc}; left in place")
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
            self._bytes += sum(len(row[0]) for row in rows)
            if self._bytes > self._max_bytes:
                self._evict_oldest()
        return sum(row[1] for row in rows)

    def close(self) -> None:
        remaining = self.get_non_flushed_event_count()
        with contextlib.suppress(sqlite3.Error):
            self._delete_delivered()
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
    # Created 0600 before SQLite opens it: SQLite gives its -wal file the database file's
    # mode, and a chmod afterwards would leave an already-created -wal world-readable.
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
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
    return db


