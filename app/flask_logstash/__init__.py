"""Asynchronous, durable, redacted ECS logging from Flask to Logstash.

    from flask_logstash import init_app
    init_app(app)            # settings from environment variables (see docs/logging.md)

Safe under gunicorn's pre-fork model: handlers are installed per process, and a process
that finds handlers inherited from its parent (preload_app) replaces them with its own.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

from flask import Flask

from flask_logstash.delivery import build_logstash_handler, flush_and_close
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.request_context import (
    RequestContextFilter,
    current_request_id,
    install_request_hooks,
)
from flask_logstash.settings import ConfigError, LoggingSettings

__all__ = [
    "ConfigError",
    "LoggingSettings",
    "current_request_id",
    "init_app",
    "install_handlers",
    "shutdown_logging",
]

_lock = threading.Lock()
_installed: dict[str, object] = {"pid": None, "handlers": []}


def install_handlers(settings: LoggingSettings) -> list[logging.Handler]:
    """Attach this process's handlers to the root logger; idempotent per process."""
    with _lock:
        if _installed["pid"] == os.getpid():
            return list(_installed["handlers"])  # type: ignore[call-overload]
        root = logging.getLogger()
        for inherited in _installed["handlers"]:  # type: ignore[attr-defined]
            root.removeHandler(inherited)  # the parent's worker thread did not survive fork
        formatter = EcsEventFormatter(settings)
        context_filter = RequestContextFilter()
        handlers: list[logging.Handler] = []
        if settings.logstash_enabled:
            handlers.append(
                build_logstash_handler(
                    host=settings.logstash_host,
                    port=settings.logstash_port,
                    formatter=formatter,
                    buffer_dir=settings.buffer_dir,
                    buffer_max_bytes=settings.buffer_max_mb * 1024 * 1024,
                    ssl_enable=settings.tls_enabled,
                    ssl_verify=settings.tls_verify,
                    ca_certs=settings.tls_ca_file,
                    certfile=settings.tls_cert_file,
                    keyfile=settings.tls_key_file,
                )
            )
        if settings.json_stdout:
            stdout = logging.StreamHandler(sys.stdout)
            stdout.setFormatter(formatter)
            handlers.append(stdout)
        for handler in handlers:
            handler.addFilter(context_filter)
            root.addHandler(handler)
        root.setLevel(settings.level)
        # Our access events replace the development server's own request lines.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _installed.update(pid=os.getpid(), handlers=handlers)
        return handlers


def shutdown_logging(timeout: float | None = None) -> None:
    """Buffer everything, try a last send, stop the worker: for graceful exits."""
    with _lock:
        if _installed["pid"] != os.getpid():
            return
        root = logging.getLogger()
        for handler in _installed["handlers"]:  # type: ignore[attr-defined]
            root.removeHandler(handler)
            flush_and_close(handler, timeout)
        _installed.update(pid=None, handlers=[])


def init_app(app: Flask, settings: LoggingSettings | None = None) -> LoggingSettings:
    """Wire request context, access events and handlers into `app`; returns the settings."""
    settings = settings or LoggingSettings.from_env()
    install_handlers(settings)
    install_request_hooks(app, settings)
    app.extensions["flask_logstash"] = settings
    return settings


atexit.register(shutdown_logging)
