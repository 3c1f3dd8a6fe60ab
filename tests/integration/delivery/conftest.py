"""A logger wired to the real delivery handler, one per test, always detached afterwards."""

import logging
import threading

import pytest

from flask_logstash.delivery import build_logstash_handler, flush_and_close


class IdFormatter(logging.Formatter):
    """Each message becomes an event whose id is the message: tests count ids."""

    def format(self, record):
        return f'{{"event": {{"id": "{record.getMessage()}"}}}}'


@pytest.fixture
def logger():
    made = []

    def make(port, buffer_dir=None, formatter=None, **tls):
        handler = build_logstash_handler(
            host="127.0.0.1", port=port, formatter=formatter or IdFormatter(),
            buffer_dir=buffer_dir, **tls,
        )
        log = logging.getLogger(f"delivery-test-{len(made)}")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        made.append((log, handler))
        return log, handler

    yield make
    for log, handler in made:
        # Loggers outlive the test: a handler left attached would be revived by the next
        # test's records and send them to this test's (closed) port.
        log.removeHandler(handler)
        flush_and_close(handler, timeout=2)


def hold_formatting(worker, seconds: float) -> threading.Event:
    """Make the delivery thread wait (at most `seconds`) before each record until the returned
    event is set, so records pile up in the hand-off queue."""
    gate = threading.Event()
    original = worker._format_record
    worker._format_record = lambda record: (gate.wait(seconds), original(record))[1]
    return gate
