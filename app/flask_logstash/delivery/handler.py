"""The logging handler: python-logstash-async's AsynchronousLogstashHandler whose emit only
enqueues; one delivery worker per process, restarted after fork."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from logstash_async.handler import AsynchronousLogstashHandler

from flask_logstash.captured import capture_fields, freeze_message, keep_unformatted_message
from flask_logstash.delivery import limits
from flask_logstash.delivery.buffer import MemoryBuffer, SqliteBuffer
from flask_logstash.delivery.losses import LossLedger
from flask_logstash.delivery.report import warn
from flask_logstash.delivery.transport import BatchTcpTransport
from flask_logstash.delivery.worker import DeliveryWorker


class BufferedLogstashHandler(AsynchronousLogstashHandler):
    """AsynchronousLogstashHandler whose emit is only an enqueue; see the module docstring."""

    def __init__(self, host: str, port: int, buffer_dir: str | None,
                 buffer_max_bytes: int | None = None, **tls: Any) -> None:
        super().__init__(
            host, port, database_path=None, transport=BatchTcpTransport, **tls,
        )
        self._buffer_dir = buffer_dir
        self._buffer_max_bytes = buffer_max_bytes
        self._worker: DeliveryWorker | None = None
        self._worker_pid: int | None = None
        self._start_lock = threading.Lock()

    @property
    def worker(self) -> DeliveryWorker:
        worker = self._worker
        if worker is None or self._worker_pid != os.getpid():
            worker = self._start_worker()
        return worker

    def _start_worker(self) -> DeliveryWorker:
        with self._start_lock:
            # After fork the parent's thread does not exist here: start this process's own.
            if self._worker is None or self._worker_pid != os.getpid():
                self._transport = None
                self._setup_transport()
                worker = DeliveryWorker(
                    transport=self._transport,
                    format_record=self._format_record,
                    make_buffer=self._make_buffer,
                )
                worker.start()
                worker._ready.wait(5.0)
                self._worker, self._worker_pid = worker, os.getpid()
        return self._worker

    def _make_buffer(self, ledger: LossLedger) -> SqliteBuffer | MemoryBuffer:
        if self._buffer_dir:
            return SqliteBuffer(self._buffer_dir, self._buffer_max_bytes, ledger)
        return MemoryBuffer(ledger=ledger)

    def _format_record(self, record: logging.LogRecord) -> bytes:
        # Our ECS formatter can produce the wire line directly; any other formatter goes
        # through the library's str -> bytes path.
        format_line = getattr(self.formatter, "format_line", None)
        if format_line is not None:
            return format_line(record)
        return super()._format_record(record)

    def handle(self, record: logging.LogRecord) -> logging.LogRecord | bool:
        # As logging.Handler.handle, without its lock around emit: emit only reads the
        # record and puts it on a thread-safe queue, and the lock is paid on every call.
        result = self.filter(record)
        if isinstance(result, logging.LogRecord):  # a 3.12 filter may return a new record
            record = result
        if result:
            self.emit(record)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        # The stdlib contract: whatever the call passed, the caller never sees an exception
        # (handleError reports on stderr). The record is captured now, on the calling
        # thread, because the caller may change what it passed as soon as we return.
        try:
            try:
                freeze_message(record)
            except Exception as exc:
                self._report(record)
                keep_unformatted_message(record, exc)
            capture_fields(record)
            # The pid, not an after-fork hook, tells a forked child: a C-level fork (uWSGI's
            # default) runs no Python hook, and its records would go to a thread that is gone.
            self.worker.enqueue(record)
        except Exception:
            self._report(record)

    def _report(self, record: logging.LogRecord) -> None:
        try:
            self.handleError(record)
        except Exception as exc:  # handleError re-raises RecursionError (CPython issue 36272)
            warn(f"a log call failed and could not be reported: {type(exc).__name__}")

    def flush(self) -> None:
        """Sending is continuous; an explicit flush would only make callers wait."""

    def close(self, timeout: float | None = None) -> None:
        worker = self._worker
        if worker is not None and self._worker_pid == os.getpid() and worker.is_alive():
            worker.stop(limits.SHUTDOWN_TIMEOUT if timeout is None else timeout)
        self._worker = None
        logging.Handler.close(self)


def build_logstash_handler(
    *,
    host: str,
    port: int,
    formatter: logging.Formatter,
    buffer_dir: str | None,
    buffer_max_bytes: int | None = None,
    ssl_enable: bool = False,
    ssl_verify: bool = True,
    ca_certs: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> BufferedLogstashHandler:
    handler = BufferedLogstashHandler(
        host, port, buffer_dir, buffer_max_bytes,
        ssl_enable=ssl_enable, ssl_verify=ssl_verify,
        ca_certs=ca_certs, certfile=certfile, keyfile=keyfile,
    )
    handler.setFormatter(formatter)
    return handler


def flush_and_close(handler: logging.Handler, timeout: float | None = None) -> None:
    """Stop the worker after it has buffered everything and tried a last send."""
    try:
        if isinstance(handler, BufferedLogstashHandler):
            handler.close(timeout)
        else:
            handler.close()
    except Exception as exc:  # shutdown must go on; say what failed
        warn(f"closing the log handler failed: {exc!r}")
