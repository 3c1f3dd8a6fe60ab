"""gunicorn settings for the sample service; every value can be overridden by environment.

Logging under pre-fork: the app (and so its log handlers) is created in each worker after
fork (no preload_app), each worker owns its own delivery thread and buffer file, and
worker_exit flushes before the worker goes away.
"""

import os
import sys


def _whole_number(name: str, default: int, low: int, high: int) -> int:
    """The variable as an integer in [low, high]; anything else stops start-up with one line
    and exit code 3, like the app's own settings (a traceback would hide the cause)."""
    value = os.environ.get(name, "").strip() or str(default)
    # isascii: str.isdigit also accepts digits of other scripts, which int() then reads.
    if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        print(f"configuration error: {name}={value!r} is not a whole number from {low} to "
              f"{high}", file=sys.stderr)
        sys.exit(3)
    return int(value)


bind = f"0.0.0.0:{_whole_number('PORT', 8000, 1, 65535)}"
workers = _whole_number("GUNICORN_WORKERS", 2, 1, 256)
threads = _whole_number("GUNICORN_THREADS", 4, 1, 1024)
worker_class = "gthread"
timeout = _whole_number("GUNICORN_TIMEOUT", 30, 1, 86400)
# Time for in-flight requests and the log buffer's last send on SIGTERM.
graceful_timeout = _whole_number("GUNICORN_GRACEFUL_TIMEOUT", 20, 1, 86400)
keepalive = 5
preload_app = False
# Our access events carry everything gunicorn's access log would, plus ids and durations.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def post_worker_init(worker: object) -> None:
    import logging

    from sample_service.health import install_drain_on_sigterm

    install_drain_on_sigterm()
    # One lifecycle event per worker: restarts and crashes become visible in Kibana.
    logging.getLogger("sample_service.lifecycle").info("worker %s ready", worker.pid)


def worker_exit(server: object, worker: object) -> None:
    from flask_logstash import shutdown_logging

    shutdown_logging()  # at most limits.SHUTDOWN_TIMEOUT, within graceful_timeout
