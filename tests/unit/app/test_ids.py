"""Ids are 128-bit hex, never repeat, and a forked child never reuses its parent's pool."""

import os
import re
import sys
import threading

from flask_logstash.ids import new_id


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
