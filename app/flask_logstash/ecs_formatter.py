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
import time
from collections.abc import Mapping
from typing import Any

import orjson
from logstash_async.formatter import FlaskLogstashEcsFormatter

from flask_logstash.captured import (
    CAPTURED as CAPTURED_KEY,
)
from flask_logstash.captured import (
    GENERATED_ID,
    SEQUENCE,
    Internal,
    RequestContext,
    capture_fields,
    freeze_message,
    keep_unformatted_message,
    safe_repr,
)
from flask_logstash.ids import new_id
from flask_logstash.redaction import SHORTEST_MATCH, Redactor
from flask_logstash.settings import LoggingSettings

ECS_VERSION = "8.11.0"
ACCESS_DATASET = "flask.access"
APP_DATASET = "flask.app"

# Kept below Logstash's json_lines decode limit and far below a sane batch: one event is
# truncated past this size (see `_shrink`).
MAX_EVENT_BYTES = 256 * 1024
TRUNCATED_MARKER = "…[truncated]"


# (second, its text): events come in bursts within one second, and gmtime + strftime cost
# more than the rest of the timestamp. One tuple, replaced whole, so threads never see a mix.
_last_second: tuple[int, str] = (-1, "")


def format_timestamp(created: float) -> str:
    """ISO 8601 UTC with microseconds (the library's helper stops at milliseconds)."""
    global _last_second
    micros = round(created * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    cached_second, text = _last_second
    if cached_second != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, text)
    return f"{text}.{fraction:06d}Z"


def event_id_of(record: logging.LogRecord) -> str:
    """The event's id: the caller's `event_id` extra, or one made on first use and kept on
    the record, so the stdout and Logstash copies of one call carry the same id.

    Made here rather than when the record is logged: this runs on the delivery thread, and
    an id costs the request thread nearly a microsecond.
    """
    attrs = record.__dict__
    given = attrs.get("event_id")
    if type(given) is str and given:
        return given
    # dict.setdefault is one atomic step under the GIL: when the stdout handler (calling
    # thread) and the delivery thread format the same record at once, both get one id.
    return attrs.get(GENERATED_ID) or attrs.setdefault(GENERATED_ID, new_id())


def serialise(event: Mapping[str, Any]) -> bytes:
    """JSON bytes of an event; orjson is about ten times faster than json here."""
    try:
        return orjson.dumps(event, default=str)
    except TypeError:  # orjson.JSONEncodeError is one
        pass
    try:
        # Keys that are not text: only a caller's own `request_context` extra can bring them
        # (everything else was captured, and capture makes keys text). orjson's option for
        # them doubles the cost of every event, so it is taken only when needed.
        return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        # What orjson refuses JSON can still carry (integers beyond 64 bits, lone surrogates
        # in text): the standard encoder, escaped to ASCII so any text survives.
        return json.dumps(event, default=str).encode("ascii")


_NOT_MAPPINGS = frozenset({str, int, float, bool, type(None), list})


def merge(target: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `source` into `target` (objects merge, everything else replaces).

    Objects are copied, never shared: `source` may be a request's context, which other
    records of the same request still read.
    """
    for key, value in source.items():
        # The Mapping ABC check is slow and most values are plain text, numbers or dicts:
        # it runs only for types those fast checks do not settle.
        if isinstance(value, dict) or (
            type(value) not in _NOT_MAPPINGS and isinstance(value, Mapping)
        ):
            current = target.get(key)
            if isinstance(current, dict):
                merge(current, value)
            else:
                target[key] = merge({}, value)
        else:
            target[key] = value
    return target


class EcsEventFormatter(FlaskLogstashEcsFormatter):
    """Formats a record into one ECS JSON line; safe to call from any thread."""

    def __init__(self, settings: LoggingSettings) -> None:
        super().__init__(message_type="flask", extra_prefix=None, ensure_ascii=False)
        self._redactor = Redactor(settings.redact_extra_keys)
        # The access event's own fields carry no caller text, and the request context's and
        # the message's names are this package's and never sensitive: their names are not
        # checked, only their text is scanned. An operator's configured names apply to every
        # key (docs/logging.md): with any configured, everything gets the full walk.
        self._trust_internal = not tuple(settings.redact_extra_keys)
        self._context_cache: tuple[dict[str, Any] | None, dict[str, Any], frozenset[str]] = (
            None, {}, frozenset())
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
        return self.format_line(record)[:-1].decode("utf-8")

    def format_line(self, record: logging.LogRecord) -> bytes:
        """The event as one NDJSON line, ready for the wire (no str round trip).

        Never raises: an event that cannot be built is replaced by one that says so, and an
        oversized one is truncated, so the caller's event is never silently lost.
        """
        try:
            event = self.to_event(record)
            line = serialise(event)
        except Exception as exc:
            event = self._fallback_event(record, exc)
            line = serialise(event)
        if len(line) > MAX_EVENT_BYTES:
            line = serialise(_shrink(event, len(line)))
        return line + b"\n"

    def _fallback_event(self, record: logging.LogRecord, problem: Exception) -> dict[str, Any]:
        return {
            "@timestamp": format_timestamp(record.created),
            "ecs": dict(self._static["ecs"]),
            "service": dict(self._static["service"]),
            "host": dict(self._static["host"]),
            "event": {"id": event_id_of(record),
                      "dataset": APP_DATASET, "kind": "event", "module": "flask"},
            "log": {"level": str(record.levelname).lower(), "logger": str(record.name)},
            "message": self._redactor.redact_text(safe_repr(record.msg)[:MAX_EVENT_BYTES // 4]),
            "tags": ["event_format_failed"],
            "flask": {"extra": {"format_error": safe_repr(problem)}},
        }

    def to_event(self, record: logging.LogRecord) -> dict[str, Any]:
        # What the caller or the request supplied is redacted; what this formatter fills in
        # from the process and the record's own bookkeeping (names, paths, pids, times)
        # cannot carry a secret and is not walked: that walk is most of the formatting cost.
        #
        # The static parts and the request's redacted context are put in by reference, not
        # copied (copying them was the larger part of an event's cost); `shared` names the
        # top-level keys that still point at such objects, and `_own` copies one before
        # anything is merged into it. The event is serialised at once and never kept.
        event: dict[str, Any] = {
            "@timestamp": format_timestamp(record.created),
            **self._static,
            "event": {
                "id": event_id_of(record),
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
        shared = set(self._static)
        ecs, extra = self._captured(record)
        sequence = record.__dict__.get(SEQUENCE)
        if sequence is not None:
            event["event"]["sequence"] = sequence
        context = getattr(record, "request_context", None)
        if context:
            redacted, keys = self._redacted_context(context)
            if keys.isdisjoint(event):  # always, unless a caller's context names a static part
                event.update(redacted)
                shared |= keys
            else:
                for key, value in redacted.items():
                    if key in event:
                        _own(event, shared, key)
                        merge(event, {key: value})
                    else:
                        event[key] = value
                        shared.add(key)
        # Later parts win: the message, then the caller's ECS fields, then the exception.
        redact_into = self._redactor.redact_into
        message = record.msg
        if type(message) is str and self._trust_internal:
            # What redact_into would do for this one name, which no built-in rule masks.
            event["message"] = self._redactor.redact_text(message)
        else:
            redact_into(event, {"message": message})
        if ecs:
            if type(ecs) is Internal and self._trust_internal:
                # Never changed after it was logged: layered in by reference, as the
                # context is, instead of copying what it lands on (the request's `http`).
                for key, value in ecs.items():
                    below = event.get(key)
                    if isinstance(value, dict):
                        event[key] = _layer(below, value) if isinstance(below, dict) else value
                        shared.add(key)
                    else:
                        event[key] = value
                        shared.discard(key)
            else:
                for key in shared.intersection(ecs):
                    _own(event, shared, key)
                redact_into(event, ecs)
        error: dict[str, Any] = {}
        if record.exc_info and record.exc_info[0] is not None:
            error["type"] = record.exc_info[0].__name__
            error["message"] = _text_of(record.exc_info[1])
            error["stack_trace"] = self._format_exception(record.exc_info)
        elif record.exc_text:
            error["stack_trace"] = record.exc_text
        if record.stack_info and "stack_trace" not in error:
            given = event.get("error")
            if not (isinstance(given, dict) and "stack_trace" in given):
                error["stack_trace"] = record.stack_info
        if error:
            _own(event, shared, "error")
            redact_into(event, {"error": error})
        if extra:
            # Free-form extras go under one object mapped as `flattened`, so an app's ad hoc
            # fields can neither explode the mapping nor collide with ECS types.
            _own(event, shared, "flask")
            redact_into(event, {"flask": {"extra": extra}})
        return event

    @staticmethod
    def _captured(record: logging.LogRecord) -> tuple[Any, dict[str, Any]]:
        # Records from our Logstash handler were captured at the call; others (stdout) are
        # formatted on the calling thread, so capturing now is capturing at the call.
        if CAPTURED_KEY not in record.__dict__:
            try:
                freeze_message(record)
            except Exception as exc:
                keep_unformatted_message(record, exc)
        return capture_fields(record)

    def _redacted_context(self, context: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        """The context redacted, and its top-level names.

        A request's records share one context dict, never mutated after it was built, so
        its redacted form is computed once and reused for the request's next records.
        The cache holds the dict itself, so an identity match cannot be a recycled id.
        """
        cached, redacted, keys = self._context_cache
        if cached is not context:
            if type(context) is RequestContext and self._trust_internal:
                generated = context.generated_id
                # Usually every text is one a scan found clean before (paths, agents and
                # addresses recur): the context itself then is its redacted form, no copy.
                redacted = (context if _known_clean(context, self._redactor.known_clean,
                                                    generated)
                            else _redact_texts(context, self._redactor, generated))
            else:
                redacted = self._redactor.redact(context)
            if not isinstance(redacted, dict):  # a caller's `request_context` extra
                raise TypeError(f"request_context is not a mapping: {type(context).__name__}")
            keys = frozenset(redacted)
            self._context_cache = (context, redacted, keys)
        return redacted, keys


def _known_clean(fields: dict[str, Any], clean: set[str], generated: str | None) -> bool:
    """Whether every text in a RequestContext is `generated` or known to hold nothing."""
    for value in fields.values():
        if type(value) is str:
            if not (value is generated or value in clean or len(value) < SHORTEST_MATCH):
                return False
        elif type(value) is not dict or not _known_clean(value, clean, generated):
            return False
    return True


def _redact_texts(fields: dict[str, Any], redactor: Redactor,
                  generated: str | None) -> dict[str, Any]:
    """A copy of a RequestContext's nested dicts of text with every text redacted except
    `generated` (compared by identity: a client's equal text is still scanned)."""
    clean = redactor.known_clean  # most of a context recurs (path, agent, address)
    copied: dict[str, Any] = {}
    for key, value in fields.items():
        if type(value) is str:
            copied[key] = (value if value is generated or value in clean
                           else redactor.redact_text(value))
        elif type(value) is dict:
            copied[key] = _redact_texts(value, redactor, generated)
        else:  # request_context builds none; were one added, it gets the full walk
            copied[key] = redactor.redact(value)
    return copied


def _shrink(event: dict[str, Any], size: int) -> dict[str, Any]:
    """The event cut to fit MAX_EVENT_BYTES: ids, times and ECS fields stay; the free-form
    parts (message, extra, stack trace) are cut with a marker, and `tags` says so."""
    budget = MAX_EVENT_BYTES // 16  # characters per free-form part; a character is ≤ 4 bytes
    shrunk = dict(event)
    shrunk["message"] = _cut(str(event.get("message", "")), budget)
    given_flask = event.get("flask")
    flask = dict(given_flask) if isinstance(given_flask, dict) else {}
    # Under flask.extra (flattened): no new mapped field.
    flask["extra"] = {"event_original_bytes": size}
    if isinstance(given_flask, dict) and "extra" in given_flask:
        flask["extra"]["truncated"] = _cut(serialise(given_flask["extra"]).decode(), budget)
    shrunk["flask"] = flask
    error = event.get("error")
    if isinstance(error, dict):
        shrunk["error"] = {k: _cut(v, budget) if isinstance(v, str) else v
                           for k, v in error.items()}
    tags = event.get("tags")
    shrunk["tags"] = [*(tags if isinstance(tags, list) else []), "event_truncated"]
    if len(serialise(shrunk)) > MAX_EVENT_BYTES:  # oversized ECS fields (a huge url.query)
        shrunk = {k: shrunk[k] for k in ("@timestamp", "ecs", "event", "log", "service", "host")
                  if k in shrunk}
        shrunk.update(message=_cut(str(event.get("message", "")), 1024),
                      tags=["event_truncated"], flask={"extra": {"event_original_bytes": size}})
    return shrunk


def _layer(below: dict[str, Any], above: dict[str, Any]) -> dict[str, Any]:
    """A new dict reading as `above` deep-merged over `below`; neither is changed, and what
    only one of them has is shared with it, not copied."""
    layered = dict(below)
    for key, value in above.items():
        current = layered.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            layered[key] = _layer(current, value)
        else:
            layered[key] = value
    return layered


def _own(event: dict[str, Any], shared: set[str], key: str) -> None:
    """Replace event[key], if it is a shared object, by this event's own copy."""
    if key in shared:
        shared.discard(key)
        value = event[key]
        if isinstance(value, dict):
            event[key] = merge({}, value)


def _text_of(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED_MARKER
