"""A separate process that logs through the delivery layer: `python -m ... PORT DIR N TAG [term]`.

Logs N events tagged TAG into a durable buffer, prints BUFFERED once every one of them is
on disk (or SENT when they were delivered), then waits to be killed or to finish. With N=0 it
only starts, which adopts buffers left by dead processes, waits until they are delivered,
and exits.

With `term`, it logs N events (ECS-formatted, the tag in `message`) as fast as it can,
prints LOGGED, and on SIGTERM does what gunicorn's worker_exit does (flush_and_close) and
exits: the graceful-stop path.
"""

from __future__ import annotations

import logging
import signal
import sys
import time

from flask_logstash.delivery import build_logstash_handler, flush_and_close
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.settings import LoggingSettings


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f'{{"event": {{"id": "{record.msg}"}}, "message": "{record.msg}"}}'


def log_then_stop_on_sigterm(handler: logging.Handler, log: logging.Logger, count: int,
                             tag: str) -> int:
    def stop(_signum: int, _frame: object) -> None:
        flush_and_close(handler)
        print("STOPPED", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for i in range(count):
        log.warning(f"{tag}-{i}")
    print("LOGGED", flush=True)
    while True:
        time.sleep(1)


def main() -> int:
    port, directory, count, tag = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    handler = build_logstash_handler(
        host="127.0.0.1", port=port, formatter=LineFormatter(), buffer_dir=directory
    )
    log = logging.getLogger("buffered")
    log.propagate = False
    log.addHandler(handler)
    if sys.argv[5:] == ["term"]:
        # The app's own formatter: its cost per event is what lets a backlog build up.
        handler.setFormatter(EcsEventFormatter(LoggingSettings()))
        return log_then_stop_on_sigterm(handler, log, count, tag)
    for i in range(count):
        log.warning(f"{tag}-{i}")
    worker = handler.worker
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pending = worker.pending()
        if count and worker._records.empty() and pending == count:
            print("BUFFERED", flush=True)
            time.sleep(60)  # the test kills us here
        if pending == 0 and worker.sent >= count:
            print("SENT", flush=True)
            flush_and_close(handler)
            return 0
        time.sleep(0.02)
    print(f"TIMEOUT pending={worker.pending()}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
