"""ECS-shaped JSON events, built from the log record alone.

Based on python-logstash-async's FlaskLogstashEcsFormatter (its host, timestamp and exception
helpers), with two changes the bundle needs:
- it never reads `flask.request`: request data is captured on the request thread by
  `RequestContextFilter` and travels on the record, so formatting can run later on the
  delivery thread;
- it builds nested ECS objects directly (no dotted keys, `host` always an object, which the
  `logs-*` mappings require) and redacts the whole event before serialising it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from logstash_async.formatter import FlaskLogstashEcsFormatter

from flask_logstash.redaction import Redactor
from flask_logstash.settings import LoggingSettings

ECS_VERSION = "8.11.0"
ACCESS_DATASET = "flask.access"
APP_DATASET = "flask.app"

# LogRecord attributes that are not user "extra" fields.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "ecs", "event_id", "request_context", "taskName",
}


def merge(target: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `source` into `target` (objects merge, everything else replaces)."""
    for key, value in source.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merge(current, value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value
    return target


class EcsEventFormatter(FlaskLogstashEcsFormatter):
    """Formats a record into one ECS JSON line; safe to call from any thread."""

    def __init__(self, settings: LoggingSettings) -> None:
        super().__init__(message_type="flask", extra_prefix=None, ensure_ascii=False)
        self._redactor = Redactor(settings.redact_extra_keys)
        self._static = {
            "ecs": {"version": ECS_VERSION},
            "service": {
                "name": settings.service_name,
                "version": settings.service_version,
                "environment": settings.service_environment,
                "type": "flask",
            },
            "host": {"name": settings.host_name, "hostname": self._host},
        }

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.to_event(record), ensure_ascii=False, default=str)

    def to_event(self, record: logging.LogRecord) -> dict[str, Any]:
        ecs: Mapping[str, Any] = getattr(record, "ecs", None) or {}
        event: dict[str, Any] = {
            "@timestamp": self._format_timestamp(record.created),
            "message": record.getMessage(),
            "ecs": dict(self._static["ecs"]),
            "service": dict(self._static["service"]),
            "host": dict(self._static["host"]),
            "event": {
                "id": getattr(record, "event_id", None) or os.urandom(16).hex(),
                "dataset": APP_DATASET,
                "kind": "event",
                "module": "flask",
            },
            "log": {
                "level": record.levelname.lower(),
                "logger": record.name,
                "origin": {
                    "file": {"name": record.pathname, "line": record.lineno},
                    "function": record.funcName,
                },
            },
            "process": {
                "pid": record.process,
                "name": record.processName,
                "thread": {"name": record.threadName},
            },
        }
        context = getattr(record, "request_context", None)
        if context:
            merge(event, context)
        if ecs:
            merge(event, ecs)
        if record.exc_info and record.exc_info[0] is not None:
            error = event.setdefault("error", {})
            error["type"] = record.exc_info[0].__name__
            error["message"] = str(record.exc_info[1])
            error["stack_trace"] = self._format_exception(record.exc_info)
        elif record.exc_text:
            event.setdefault("error", {})["stack_trace"] = record.exc_text
        if record.stack_info:
            event.setdefault("error", {}).setdefault("stack_trace", record.stack_info)
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}
        if extra:
            # Free-form extras go under one object mapped as `flattened`, so an app's ad hoc
            # fields can neither explode the mapping nor collide with ECS types.
            event.setdefault("flask", {})["extra"] = {
                k: self._value_repr(v) for k, v in extra.items()
            }
        return self._redactor.redact(event)
