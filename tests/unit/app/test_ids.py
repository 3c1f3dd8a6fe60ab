"""Ids are 128-bit hex, never repeat, and a forked child never reuses its parent's pool."""

import os
import re
import subprocess
import sys
import textwrap
import threading

from flask_logstash.ids import new_id
from tests.conftest import REPO_ROOT

APP = str(REPO_ROOT / "app")


def test_ids_are_32_hex_chars_and_unique_across_pool_refills():
    ids = [new_id() for _ in range(2000)]  # several 256-id pools
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_forked_child_draws_from_its_own_pool():
    new_id()  # the parent's pool now holds ids the child could inherit
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        os.write(write_end, " ".join(new_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_ids = pipe.read().split()
    os.waitpid(pid, 0)
    parent_ids = [new_id() for _ in range(3)]
    assert len(child_ids) == 3
    assert not set(child_ids) & set(parent_ids)


def test_ids_from_many_threads_never_collide():
    # A tiny switch interval makes a thread switch between "reserve a slot" and "read it"
    # likely; ids taken from a pool another thread has just replaced would then repeat.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    results: list[list[str]] = []
    start = threading.Barrier(8)

    def draw() -> None:
        start.wait()
        results.append([new_id() for _ in range(50_000)])

    try:
        threads = [threading.Thread(target=draw) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(old_interval)
    ids = [i for batch in results for i in batch]
    assert len(ids) == 400_000
    assert len(set(ids)) == len(ids)


def _run_child_script(body: str) -> str:
    script = f"import os, sys\nsys.path.insert(0, {APP!r})\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_id_taken_by_an_earlier_after_fork_hook_is_not_the_parents_next_id():
    # CPython runs after_in_child hooks in the order they were registered: one registered
    # before flask_logstash was imported runs before ours, and may already take an id.
    out = _run_child_script("""
        taken = []
        def early_hook():
            from flask_logstash.ids import new_id
            taken.append(new_id())
        os.register_at_fork(after_in_child=early_hook)
        from flask_logstash.ids import new_id
        new_id()  # the parent's pool is in use
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, taken[0].encode()); os._exit(0)
        os.close(w)
        child_id = os.read(r, 64).decode()
        os.waitpid(pid, 0)
        print("DUPLICATE" if child_id == new_id() else "DISTINCT")
    """)
    assert out == "DISTINCT"


def test_ids_after_a_c_level_fork_are_not_the_parents():
    # uWSGI without py-call-osafterfork forks its workers with fork(2) itself: no Python
    # after-fork hook runs in the child.
    out = _run_child_script("""
        import ctypes
        from flask_logstash.ids import new_id
        new_id()
        libc = ctypes.CDLL(None, use_errno=True)
        r, w = os.pipe()
        pid = libc.fork()
        if pid == 0:
            os.write(w, new_id().encode()); os._exit(0)
        os.close(w)
        child_id = os.read(r, 64).decode()
        os.waitpid(pid, 0)
        print("DUPLICATE" if child_id == new_id() else "DISTINCT")
    """)
    assert out == "DISTINCT"
