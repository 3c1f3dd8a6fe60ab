"""Per-request ECS context, request ids, access events and exception events for Flask.

The context is captured once per request on the request thread and stored in a ContextVar;
`RequestContextFilter` attaches it to every record logged during that request. The dict is
never mutated after creation, so a record formatted later on the delivery thread still sees
exactly the request it came from.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
import time
from contextvars import ContextVar
from types import FrameType
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from flask_logstash.captured import Internal, RequestContext
from flask_logstash.ecs_formatter import ACCESS_DATASET
from flask_logstash.ids import new_id
from flask_logstash.settings import IpNetwork, LoggingSettings

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_ZERO_TRACE = "0" * 32

_current: ContextVar[dict[str, Any] | None] = ContextVar("flask_logstash_request", default=None)
_started: ContextVar[int] = ContextVar("flask_logstash_started", default=0)

access_logger = logging.getLogger("flask_logstash.access")
_SOURCE_FILE = sys._getframe().f_code.co_filename  # as findCaller names it (co_filename)
error_logger = logging.getLogger("flask_logstash.errors")


class RequestContextFilter(logging.Filter):
    """Stamps each record logged inside a request with the request's context.

    Runs on the thread that logs, which is the only place the request is known. (The event
    id is made when the record is first formatted, off the request thread: see
    ecs_formatter.event_id_of.)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None:
            record.request_context = context
        return True


def current_request_id() -> str | None:
    context = _current.get()
    return context["http"]["request"]["id"] if context else None


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: tuple[IpNetwork, ...]
) -> str | None:
    """The client address: X-Forwarded-For is believed only as far as trusted proxies vouch.

    Walks the chain from the right (nearest hop first) and returns the first address that is
    not a trusted proxy; a client cannot spoof its address by sending its own header.
    """
    if not peer or not trusted or not _in(peer, trusted):
        return peer
    candidate = peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _valid_ip(hop):
            break  # the chain cannot be trusted past a malformed hop
        candidate = hop
        if not _in(hop, trusted):
            break
    return candidate


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _in(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _build_context(settings: LoggingSettings) -> RequestContext:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    generated = None if _REQUEST_ID.match(incoming) else new_id()
    request_id = generated or incoming
    context = RequestContext(
        http={"request": {"id": request_id, "method": request.method}},
        url={"path": request.path},
    )
    context.generated_id = generated
    if request.query_string:
        context["url"]["query"] = request.query_string.decode("latin-1")
    if request.url_rule is not None:
        context["flask"] = {"route": request.url_rule.rule}
    ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"),
                   settings.trusted_proxies)
    if ip:
        context["client"] = {"ip": ip, "address": ip}
    agent = request.headers.get("User-Agent")
    if agent:
        context["user_agent"] = {"original": agent}
    match = _TRACEPARENT.match(request.headers.get("traceparent", ""))
    if match and match.group(1) != _ZERO_TRACE:
        context["trace"] = {"id": match.group(1)}
    return context


def _level_for(status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.INFO


def _access_record(caller: FrameType, level: int, message: str, args: tuple[Any, ...],
                   access_event: dict[str, Any]) -> logging.LogRecord:
    # The caller's frame comes as an argument, read on the line of the call as findCaller
    # reads it; held in the caller's own locals it would hold itself, and the request, in a
    # reference cycle.
    return access_logger.makeRecord(
        access_logger.name, level, _SOURCE_FILE, caller.f_lineno, message, args, None,
        caller.f_code.co_name, {"ecs": access_event},
    )


def install_request_hooks(app: Flask, settings: LoggingSettings) -> None:
    """One access event per request, request ids in and out, exceptions logged once."""

    def _start() -> None:
        _started.set(time.perf_counter_ns())
        _current.set(_build_context(settings))

    # First of all app-wide hooks (which Flask runs before blueprint hooks), whenever
    # init_app is called: a hook registered earlier may answer (an auth check's 401) or
    # raise, and that request still needs its id and its access event.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response: Response) -> Response:
        context = _current.get()
        if context is None:  # a hook before ours answered; nothing to describe
            return response
        duration = time.perf_counter_ns() - _started.get()
        status = response.status_code
        response.headers[REQUEST_ID_HEADER] = context["http"]["request"]["id"]
        # Built here and never touched again, so logging may keep it without a copy; only
        # numbers and fixed words, so it needs no redaction (the message, which carries the
        # path, is redacted as every message is).
        access_event: dict[str, Any] = Internal({
            "event": {
                "dataset": ACCESS_DATASET,
                "duration": duration,
                "category": ["web"],
                "type": ["access"],
                "outcome": "failure" if status >= 500 else "success",
            },
            "http": {"response": {"status_code": status}},
        })
        if response.content_length is not None:
            access_event["http"]["response"]["body"] = {"bytes": response.content_length}
        level = _level_for(status)
        if not access_logger.isEnabledFor(level):
            return response
        message = "%s %s %s %.1fms"
        args = (request.method, request.path, status, duration / 1e6)
        if type(access_logger) is logging.Logger and logging._srcfile:
            # Logger.log without findCaller's walk: the caller is this line. Not for a Logger
            # subclass (it may override log or findCaller) or with logging._srcfile set to
            # None (the logging HOWTO's way to turn caller lookup off): those get Logger.log.
            access_logger.handle(_access_record(sys._getframe(), level, message, args,
                                                access_event))
        else:
            access_logger.log(level, message, *args, extra={"ecs": access_event})
        return response

    @app.teardown_request
    def _clear(_exc: BaseException | None) -> None:
        _current.set(None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.name, detail=exc.description), exc.code or 500

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception) -> tuple[Response, int]:
        error_logger.error(
            "unhandled %s on %s %s", type(exc).__name__, request.method, request.path,
            exc_info=exc,
        )
        return jsonify(error="internal server error",
                       request_id=current_request_id()), 500
