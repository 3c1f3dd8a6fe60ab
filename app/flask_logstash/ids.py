"""Random 128-bit ids (event ids, request ids) without a system call per id.

os.urandom costs a getrandom() call, several microseconds on a virtual machine, and every
request needs three ids on its own thread. Reading 4 KiB at a time keeps the ids from the
kernel's CSPRNG (unpredictable, unlike the `random` module) at one call per 256 ids.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 4096
_ID_BYTES = 16


class _IdPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = memoryview(b"")
        self._offset = 0
        self._pid = -1

    def new_id(self) -> str:
        with self._lock:
            # A forked child must never hand out the ids left in its parent's pool.
            # The pid check also covers a C-level fork, which runs no after-fork hook.
            if self._offset + _ID_BYTES > len(self._pool) or self._pid != os.getpid():
                self._pool = memoryview(os.urandom(_POOL_BYTES))
                self._offset = 0
                self._pid = os.getpid()
            start = self._offset
            self._offset = start + _ID_BYTES
            # Sliced under the lock: another thread may replace the pool as soon as it is
            # released, and `start` would then index the new pool, where a third thread gets
            # the same slot.
            return self._pool[start:start + _ID_BYTES].hex()

    def after_fork_in_child(self) -> None:
        # A thread of the parent (the delivery thread makes event ids) may have held the lock
        # at the fork; in the child that thread is gone and the lock would never be released.
        self._lock = threading.Lock()
        self._pool = memoryview(b"")
        self._offset = 0


_pool = _IdPool()
new_id = _pool.new_id
os.register_at_fork(after_in_child=_pool.after_fork_in_child)
