"""gunicorn settings for the sample service; every value can be overridden by environment.

Logging under pre-fork: the app (and so its log handlers) is created in each worker after
fork (no preload_app), each worker owns its own delivery thread and buffer file, and
worker_exit flushes before the worker goes away.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Time for in-flight requests and the log buffer's last send on SIGTERM.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
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

    shutdown_logging(timeout=12.0)
