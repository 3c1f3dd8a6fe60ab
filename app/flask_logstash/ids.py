"""Random 128-bit ids (event ids, request ids) without a system call per id.

os.urandom costs a getrandom() call, several microseconds on a virtual machine, and every
request needs three ids on its own thread. Reading 4 KiB at a time keeps the ids from the
kernel's CSPRNG (unpredictable, unlike the `random` module) at one call per 256 ids.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

_POOL_BYTES = 4096
_ID_BYTES = 16


class _IdPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: Iterator[str] = iter(())
        self._pid = -1

    def new_id(self) -> str:
        # next() on a list iterator is one C call under the GIL: two threads never get the
        # same id, and a thread still holding the pool another thread has just replaced
        # takes the next unused id of that old pool, or nothing and refills. No lock here:
        # it cost as much as the rest of the id.
        # A forked child must never hand out the ids left in its parent's pool; the pid
        # check also covers a C-level fork, which runs no after-fork hook.
        if self._pid == os.getpid():
            taken = next(self._ids, None)
            if taken is not None:
                return taken
        return self._refill()

    def _refill(self) -> str:
        with self._lock:
            text = os.urandom(_POOL_BYTES).hex()
            width = 2 * _ID_BYTES
            ids = iter([text[i:i + width] for i in range(0, len(text), width)])
            # Ours is taken before the pool is published: once it is, other threads (which
            # take no lock) may empty it before this line runs again.
            taken = next(ids)
            self._ids = ids
            self._pid = os.getpid()
            return taken

    def after_fork_in_child(self) -> None:
        # A thread of the parent (the delivery thread makes event ids) may have held the lock
        # at the fork; in the child that thread is gone and the lock would never be released.
        self._lock = threading.Lock()
        self._ids = iter(())
        self._pid = -1


_pool = _IdPool()
new_id = _pool.new_id
os.register_at_fork(after_in_child=_pool.after_fork_in_child)
