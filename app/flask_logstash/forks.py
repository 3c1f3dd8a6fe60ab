"""Tells per-process state (the delivery worker, the id pool) that it now lives in a forked
child, without a system call on every log record.

os.getpid() is a real system call on current glibc (no pid cache since 2.25), a fraction of a
microsecond that every log call paid twice. The child of os.fork() (gunicorn's workers, a
multiprocessing "fork" child) runs the after-fork hook before any of its own code, so a
counter bumped there is as reliable as comparing pids and costs one attribute read.
"""

from __future__ import annotations

import os

generation = 0


def _forked() -> None:
    global generation
    generation += 1


os.register_at_fork(after_in_child=_forked)
