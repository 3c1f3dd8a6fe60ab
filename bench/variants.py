"""The logging set-ups the benchmark compares, each wired into the sample app.

Bench-only: product code never imports this. Every variant runs the sample app unchanged
(create_app, so its request hooks and its two events per `GET /api/items`: the access event
and "listed N items"); only what handles the records differs:

  off             logging off: LOGSTASH_ENABLED=false and level CRITICAL (the limit)
  null            level INFO, a NullHandler on the root (the per-call baseline)
  flask_logstash  ours, as the sample configures it (durable buffer in LOG_BUFFER_DIR)
  stock_async     python-logstash-async's AsynchronousLogstashHandler with its
                  FlaskLogstashEcsFormatter and a database_path, as its docs show
  ecs_stdout      ecs-logging's StdlibFormatter on a StreamHandler: one JSON line per
                  record, written synchronously (the "ship with Filebeat/Agent" path)
  queue_file      the standard library's QueueHandler + QueueListener, ecs-logging's
                  formatter on a FileHandler
  flask_logstash_memory   ours without LOG_BUFFER_DIR (memory queue): the SQLite share
  capture_only, handoff_only, format_on_caller, sidecar   probes of other designs
                  (bench/design_probes.py)
  (these only on request)

The alternatives get what their packages give: no RequestContextFilter, so no request id on
"listed N items" (the access event carries what our hook puts in it).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from flask import Flask

import flask_logstash
from sample_service import create_app

# Design probes (bench/design_probes.py), measured only when asked for.
PROBES = ("flask_logstash_memory", "capture_only", "handoff_only", "format_on_caller", "sidecar")
VARIANTS = ("off", "null", "flask_logstash", "stock_async", "ecs_stdout", "queue_file", *PROBES)
# The ones the latency benchmark runs under gunicorn by default ("null" only matters per call).
SERVED = ("off", "flask_logstash", "stock_async", "ecs_stdout", "queue_file")
# The variants that reach the sample app's handlers through our settings, not a handler of
# their own.
_OURS = frozenset({"off", "flask_logstash", "flask_logstash_memory"})


@dataclass
class Sinks:
    """Where each variant writes; set from the environment in the gunicorn workers."""

    logstash_host: str = "127.0.0.1"
    logstash_port: int = 5000
    buffer_dir: str | None = None  # flask_logstash's durable buffer; stock_async's database
    log_file: str | None = None  # queue_file's target
    stream: IO[str] = field(default_factory=lambda: sys.stdout)  # ecs_stdout's target

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Sinks:
        return cls(
            logstash_host=env.get("LOGSTASH_HOST", "127.0.0.1"),
            logstash_port=int(env.get("LOGSTASH_PORT", "5000")),
            buffer_dir=env.get("LOG_BUFFER_DIR") or None,
            log_file=env.get("BENCH_LOG_FILE") or None,
        )


def settings_env(variant: str, sinks: Sinks) -> dict[str, str]:
    """The sample app's own environment variables for `variant` (docs/logging.md)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    env = {
        "LOGSTASH_ENABLED": "true" if variant.startswith("flask_logstash") else "false",
        "LOG_LEVEL": "CRITICAL" if variant == "off" else "INFO",
        "LOGSTASH_HOST": sinks.logstash_host,
        "LOGSTASH_PORT": str(sinks.logstash_port),
    }
    if variant == "flask_logstash" and sinks.buffer_dir:
        env["LOG_BUFFER_DIR"] = sinks.buffer_dir
    return env


def _ecs_formatter() -> logging.Formatter:
    # Imported here: ecs-logging is in the [bench] extras only.
    import ecs_logging

    return ecs_logging.StdlibFormatter()


def _alternative_handler(variant: str, sinks: Sinks) -> tuple[logging.Handler, Callable[[], None]]:
    """The variant's root handler and how to flush and stop it."""
    if variant == "null":
        handler: logging.Handler = logging.NullHandler()
        return handler, handler.close
    if variant == "stock_async":
        from logstash_async.formatter import FlaskLogstashEcsFormatter
        from logstash_async.handler import AsynchronousLogstashHandler

        if not sinks.buffer_dir:
            raise ValueError("stock_async needs a buffer_dir for its database_path")
        # One database per process, as each gunicorn worker has its own handler.
        database = str(Path(sinks.buffer_dir) / f"stock-{os.getpid()}.db")
        stock = AsynchronousLogstashHandler(sinks.logstash_host, sinks.logstash_port,
                                            database_path=database)
        stock.setFormatter(FlaskLogstashEcsFormatter())
        return stock, stock.close
    if variant == "ecs_stdout":
        stream = logging.StreamHandler(sinks.stream)
        stream.setFormatter(_ecs_formatter())
        return stream, stream.flush
    if variant == "queue_file":
        if not sinks.log_file:
            raise ValueError("queue_file needs a log_file")
        target = logging.FileHandler(sinks.log_file, encoding="utf-8")
        target.setFormatter(_ecs_formatter())
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, target)
        listener.start()

        def stop() -> None:
            listener.stop()  # drains what is queued, then joins the thread
            target.close()

        return logging.handlers.QueueHandler(records), stop
    if variant in PROBES:
        import design_probes

        probe: logging.Handler
        if variant == "capture_only":
            probe = design_probes.CaptureOnlyHandler()
        elif variant == "handoff_only":
            probe = design_probes.HandoffOnlyHandler()
        elif variant == "format_on_caller":
            probe = design_probes.FormatOnCallerHandler(sinks.logstash_host, sinks.logstash_port,
                                                        sinks.buffer_dir)
        else:
            probe = design_probes.SidecarHandler(sinks.logstash_host, sinks.logstash_port)
        return probe, probe.close
    raise ValueError(f"variant {variant!r} has no handler of its own")


def create_variant_app(variant: str, sinks: Sinks) -> tuple[Flask, Callable[[], None]]:
    """The sample app with `variant`'s logging; the callable flushes and removes it.

    Sets the sample app's environment variables in this process (as the bench sets them for
    gunicorn), so call it once per process or close the previous variant first.
    """
    os.environ.update(settings_env(variant, sinks))
    if variant == "flask_logstash_memory" or (variant == "flask_logstash"
                                              and not sinks.buffer_dir):
        os.environ.pop("LOG_BUFFER_DIR", None)
    app = create_app()
    if variant in _OURS:
        return app, flask_logstash.shutdown_logging
    handler, stop = _alternative_handler(variant, sinks)
    root = logging.getLogger()
    root.addHandler(handler)

    def close() -> None:
        root.removeHandler(handler)
        stop()
        flask_logstash.shutdown_logging()

    return app, close
