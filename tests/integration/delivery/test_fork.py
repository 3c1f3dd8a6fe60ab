"""A handler inherited through fork (gunicorn's preload, a multiprocessing child) delivers the
child's events with the child's own delivery thread; the parent's goes on unharmed."""

import contextlib
import os
import socket
import subprocess
import sys

import pytest

from flask_logstash.delivery import flush_and_close
from tests.conftest import REPO_ROOT
from tests.support.ndjson_listener import NdjsonListener


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12: fork with threads running
def test_a_forked_child_delivers_through_its_own_worker(logger):
    port = free_port()
    with NdjsonListener(port=port) as listener:
        log, handler = logger(port)
        log.info("parent-before")  # the parent's delivery thread now exists
        listener.wait_for(lambda evs: len(evs) >= 1, timeout=15)
        pid = os.fork()
        if pid == 0:  # the child: only this thread survived the fork
            code = 1
            try:
                log.info("child-1")
                log.info("child-2")
                flush_and_close(handler, timeout=10)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        log.info("parent-after")
        events = listener.wait_for(lambda evs: len(evs) >= 4, timeout=15)
        ids = sorted(e["event"]["id"] for e in events)
        assert ids == ["child-1", "child-2", "parent-after", "parent-before"]


# A child that logs before any after-fork hook of ours could run: one registered earlier by
# the app, or a C-level fork (uWSGI's default), which runs none. Its records must not go to
# the parent's delivery thread, which does not exist in the child.
_CHILD_SCRIPT = """
import logging, os, sys, time
sys.path[:0] = [{app!r}, {root!r}]
port, mode = int(sys.argv[1]), sys.argv[2]
def early_hook():
    logging.getLogger("fork-test").info("child-hook")
if mode == "hook":
    os.register_at_fork(after_in_child=early_hook)
from flask_logstash.delivery import build_logstash_handler, flush_and_close
from tests.integration.delivery.conftest import IdFormatter
handler = build_logstash_handler(host="127.0.0.1", port=port, formatter=IdFormatter(),
                                 buffer_dir=None)
log = logging.getLogger("fork-test")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(handler)
log.info("parent-before")
deadline = time.monotonic() + 10
while handler.worker.sent < 1 and time.monotonic() < deadline:
    time.sleep(0.05)
if mode == "hook":
    pid = os.fork()
else:
    import ctypes
    pid = ctypes.CDLL(None).fork()
if pid == 0:
    log.info("child-main")
    flush_and_close(handler, timeout=5)
    os._exit(0)
os.waitpid(pid, 0)
flush_and_close(handler, timeout=5)
"""


@pytest.mark.parametrize("mode", ["hook", "cfork"])
def test_a_childs_first_records_are_delivered(mode):
    port = free_port()
    with NdjsonListener(port=port) as listener:
        script = _CHILD_SCRIPT.format(app=str(REPO_ROOT / "app"), root=str(REPO_ROOT))
        done = subprocess.run([sys.executable, "-c", script, str(port), mode],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        want = {"parent-before", "child-main"} | ({"child-hook"} if mode == "hook" else set())
        with contextlib.suppress(Exception):  # the assertion below says what is missing
            listener.wait_for(lambda evs: len(evs) >= len(want), timeout=15)
        assert {e["event"]["id"] for e in listener.events} == want


# The delivery thread makes event ids, so it holds the id pool's lock while it refills the
# pool. A fork at that moment (a preloaded gunicorn master that has logged, a multiprocessing
# "fork" child) must not leave the child a lock nobody will release. The refill is slowed on
# the delivery thread only, to make the window certain.
_LOCK_SCRIPT = """
import logging, os, signal, sys, threading, time
sys.path.insert(0, {app!r})
real_urandom = os.urandom
in_refill = threading.Event()
def urandom(n):
    if threading.current_thread().name == "logstash-delivery":
        in_refill.set()
        time.sleep(2)
    return real_urandom(n)
os.urandom = urandom
from flask_logstash.delivery import build_logstash_handler, flush_and_close
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.ids import new_id
from flask_logstash.settings import LoggingSettings
handler = build_logstash_handler(host="127.0.0.1", port=int(sys.argv[1]),
                                 formatter=EcsEventFormatter(LoggingSettings()),
                                 buffer_dir=None)
log = logging.getLogger("fork-lock-test")
log.propagate = False
log.addHandler(handler)
handler.worker  # started
new_id.__self__._offset = 1 << 20  # the pool is spent: the next id refills it
log.warning("one record")
assert in_refill.wait(10), "the delivery thread never refilled the pool"
pid = os.fork()
if pid == 0:
    signal.alarm(5)  # SIGALRM ends the child if new_id never returns
    new_id()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("CHILD", os.waitstatus_to_exitcode(status))
flush_and_close(handler, timeout=1)
"""


def test_a_child_forked_while_the_delivery_thread_makes_an_id_can_make_ids():
    done = subprocess.run(
        [sys.executable, "-c", _LOCK_SCRIPT.format(app=str(REPO_ROOT / "app")),
         str(free_port())], capture_output=True, text=True, timeout=60)
    assert "CHILD 0" in done.stdout, (done.stdout, done.stderr[-500:])
