"""One request's records formatted at once on several threads (the stdout handler formats on
the calling thread while the delivery thread formats the same records), while other threads
churn the known-clean text set (each unique message is remembered; past 8,192 the set is
cleared): every line reads as the record formatted alone, no secret passes, and the shared
request context is never written. (From a second engineer's read of the by-reference
context and access fields, c3f0ffc and 3d8d16f.)"""

import copy
import json
import logging
import sys
import threading

from flask_logstash.captured import Internal
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.settings import LoggingSettings
from tests.unit.app.test_request_context_redaction import context_for

SECRET_AGENT = "curl/8.0 token=abcdef123456"


def _records(context):
    try:
        raise ValueError("bad")
    except ValueError:
        exc_info = sys.exc_info()
    access = logging.LogRecord("flask_logstash.access", logging.INFO, "/a.py", 1,
                               "GET /items/a 200 1.0ms", None, None)
    access.ecs = Internal({"event": {"dataset": "flask.access", "duration": 5,
                                     "category": ["web"]},
                           "http": {"response": {"status_code": 200}}})
    failing = logging.LogRecord("app", logging.ERROR, "/a.py", 2, "failed", None, exc_info)
    failing.note = {"k": "v"}
    failing.ecs = {"http": {"request": {"bytes": 3}}, "flask": {"x": 1}}
    plain = logging.LogRecord("app", logging.INFO, "/a.py", 3, "plain", None, None)
    records = [access, failing, plain]
    for record in records:
        record.request_context = context
        record.created = 1_700_000_000.5
    return records


def _comparable(line):
    event = json.loads(line)
    del event["@timestamp"], event["event"]["id"]
    event["event"].pop("sequence", None)
    event["process"]["thread"].pop("name", None)
    return event


def test_one_requests_records_on_many_threads_read_as_formatted_alone():
    formatter = EcsEventFormatter(LoggingSettings(service_name="orders", host_name="w"))
    alone = EcsEventFormatter(LoggingSettings(service_name="orders", host_name="w"))
    stop = threading.Event()
    failures = []

    def churn():
        n = 0
        while not stop.is_set():
            n += 1
            formatter.format_line(logging.LogRecord("c", logging.INFO, "/c.py", 1,
                                                    f"unique message {n}", None, None))

    churners = [threading.Thread(target=churn) for _ in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    for thread in churners:
        thread.start()
    try:
        for round_ in range(100):
            agent = SECRET_AGENT if round_ % 3 == 0 else "curl/8.0"
            context = context_for("/items/a", "page=2", {"User-Agent": agent})
            before = copy.deepcopy(dict(context))
            expected = [_comparable(alone.format_line(r)) for r in _records(context)]
            records = _records(context)
            barrier = threading.Barrier(6)

            def work(index, records=records, expected=expected, barrier=barrier):
                barrier.wait()
                for _ in range(5):
                    for record, want in zip(records, expected, strict=True):
                        got = _comparable(formatter.format_line(record))
                        if got != want:
                            failures.append((index, got, want))
                        if b"abcdef123456" in json.dumps(got).encode():
                            failures.append(("leak", got))

            threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert dict(context) == before
            assert not failures, failures[:2]
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        for thread in churners:
            thread.join()
