"""What a log call passed, taken at the call as plain, bounded, JSON-safe values.

Formatting runs later on the delivery thread, so anything the caller can still change (an
`extra` dict, a list in it, an object's state) is copied here, on the calling thread, into
values nobody else holds. The copy is also where hostile or broken input is made harmless:
depth and size are capped, cycles are marked, keys become text, and an object whose `repr`
raises becomes a marker. Nothing here raises into the caller.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import uuid
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32  # containers nested deeper become TOO_DEEP (orjson refuses past 255)
MAX_ITEMS = 1000  # items kept per container; the rest are counted in a marker
MAX_REPR = 8192  # characters kept of an object's repr


class Marker(str):
    """Text the capture layer writes in place of a value. Its own type, so that redaction can
    keep a marker under a sensitive name and still mask a caller's value that merely reads
    the same (a password "[too deep]")."""

    __slots__ = ()


TOO_DEEP = Marker("[too deep]")
CIRCULAR = Marker("[circular]")

CAPTURED = "flask_logstash_captured"  # record attribute holding (ecs, extra)
SEQUENCE = "flask_logstash_sequence"  # record attribute: the call's place in this process
GENERATED_ID = "flask_logstash_event_id"  # record attribute: the event id made for it
# event.sequence: orders a process's events where @timestamp ties. next() on a count is one
# C call under the GIL, so threads never share a number.
_SEQUENCE = itertools.count(1)

# LogRecord attributes that are not the caller's "extra" fields.
RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "ecs", "event_id", "request_context", "taskName",
    CAPTURED, SEQUENCE, GENERATED_ID,
}

# Integers of any size stay numbers: the serialiser falls back to the json module for them.
_ATOMS = frozenset({str, int, float, bool, type(None)})


class Owned(dict):  # type: ignore[type-arg]
    """A dict handed over to logging: the caller never changes it afterwards (our own
    access event). Kept as it is, which spares the request thread a copy."""


class Internal(Owned):
    """An Owned dict this package built from numbers and fixed words (the access event's
    status, duration and sizes): nothing in it came from a caller or a client, so the
    formatter merges it without the redaction walk, a third of an access event's cost."""


class RequestContext(dict):  # type: ignore[type-arg]
    """A request's ECS fields as request_context builds them: nested dicts of text under
    names this package chose. The formatter redacts only its text (no name is sensitive),
    unless an operator configured names of their own. `generated_id` is a request id this
    package made from random bytes: it carries nothing of the client's and is not scanned."""

    __slots__ = ("generated_id",)
    generated_id: str | None  # set by whoever builds one (no __init__: this runs per request)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        # Pickled as the plain dict it reads as: logging's SocketHandler pickles records
        # with protocol 1, which cannot pickle a dict subclass with __slots__. (The far side
        # sees a plain dict, which redaction walks in full.)
        return dict, (dict(self),)


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<unrepresentable {type(value).__qualname__}: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…[truncated]"


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    if type(key) in (int, float, bool) or key is None:
        return str(key)
    return safe_repr(key)


def capture(value: Any, depth: int = 0, path: tuple[int, ...] = ()) -> Any:
    """A copy of `value` made of dicts, lists, text and numbers only."""
    kind = type(value)
    if kind in _ATOMS or kind is Owned or kind is Internal:
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()  # keeps the zone (an aware value's offset) and microseconds
    if isinstance(value, uuid.UUID):
        return str(value)
    is_mapping = isinstance(value, dict | Mapping)
    if not (is_mapping or isinstance(value, list | tuple | set | frozenset)):
        return safe_repr(value)
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    if id(value) in path:
        return CIRCULAR
    path = (*path, id(value))
    try:
        # One C-level copy first: another thread may change the container meanwhile.
        items = list(value.items()) if is_mapping else list(value)
    except Exception:
        return safe_repr(value)
    extra_items = len(items) - MAX_ITEMS
    if extra_items > 0:
        items = items[:MAX_ITEMS]
    depth += 1
    if is_mapping:
        copied: Any = {_key(k): capture(v, depth, path) for k, v in items}
        if extra_items > 0:
            copied["[more]"] = f"{extra_items} more items"
    else:
        copied = [capture(v, depth, path) for v in items]
        if extra_items > 0:
            copied.append(f"[{extra_items} more items]")
    return copied


def freeze_message(record: logging.LogRecord) -> None:
    """Make the message final text now; raises what the caller's format string raises."""
    if record.args or type(record.msg) is not str:
        record.msg = record.getMessage()
        record.args = None


def keep_unformatted_message(record: logging.LogRecord, problem: BaseException) -> None:
    """The event keeps the raw message and the arguments' representation."""
    msg = record.msg
    record.msg = msg if type(msg) is str else safe_repr(msg)
    record.message_args = safe_repr(record.args)
    try:
        record.message_error = f"{type(problem).__name__}: {problem}"
    except Exception:
        record.message_error = type(problem).__name__
    record.args = None


def capture_fields(record: logging.LogRecord) -> tuple[Any, dict[str, Any]]:
    """(ecs, extra) of the call, captured once and stored on the record."""
    attrs = record.__dict__
    captured = attrs.get(CAPTURED)
    if captured is not None:
        return captured
    extra = {}
    # Most records carry no extra: the subset check builds no set, half the difference's cost.
    if not RECORD_ATTRS.issuperset(attrs):
        for name in attrs.keys() - RECORD_ATTRS:
            value = attrs[name]
            # Plain values inline: this runs on the request thread for every record.
            extra[name] = value if type(value) in _ATOMS else capture(value)
    ecs = attrs.get("ecs")
    if ecs is not None and not isinstance(ecs, dict | Mapping):
        extra["ecs"] = capture(ecs)  # not an object: kept, but as data, not as ECS fields
        ecs = None
    elif ecs is not None:
        ecs = capture(ecs)
    captured = (ecs, extra)
    attrs[SEQUENCE] = next(_SEQUENCE)
    attrs[CAPTURED] = captured
    return captured
