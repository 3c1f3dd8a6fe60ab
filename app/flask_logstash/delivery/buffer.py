"""Where formatted events wait for Logstash: python-logstash-async's Cache interface, in memory
or in one SQLite file per process."""

from __future__ import annotations

import fcntl
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
from flask_logstash.delivery.report import warn

BUFFER_PREFIX = "logstash-buffer-"
BUFFER_SUFFIX = ".sqlite"


class MemoryBuffer(Cache):
    """Formatted events held in memory until sent; oldest dropped past the bound."""

    def __init__(self, max_events: int | None = None) -> None:
        self._events: deque[bytes] = deque()
        self._max_events = max_events or limits.MEMORY_BUFFER_MAX_EVENTS
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
        batch = [self._events[i] for i in range(min(limits.BATCH_SIZE, len(self._events)))]
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
        """The oldest batches, up to about limits.BATCH_SIZE events; each item holds many lines."""
        chunks: list[bytes] = []
        count = 0
        self._in_flight_max_id = None
        for batch_id, lines, event_count in self._db.execute(
            "SELECT batch_id, lines, event_count FROM batch ORDER BY batch_id"
        ):
            chunks.append(lines)
            count += event_count
            self._in_flight_max_id = batch_id
            if count >= limits.BATCH_SIZE:
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


