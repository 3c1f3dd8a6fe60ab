"""A handler inherited through fork (gunicorn's preload, a multiprocessing child) delivers the
child's events with the child's own delivery thread; the parent's goes on unharmed."""

import os
import socket

import pytest

from flask_logstash.delivery import flush_and_close
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
