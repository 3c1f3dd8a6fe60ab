"""Bench-only probes of designs the product does not have, to measure before changing it.

  capture_only  the request thread's share of ours before the put: RequestContextFilter,
                ours' lock-free handle, the message frozen and fields captured, the record
                dropped; no second thread.
  handoff_only  capture_only plus a put on a SimpleQueue that a thread empties every 5 ms,
                dropping the records (no formatting, no delivery): any asynchronous handler
                that keeps the standard library's contract does at least this. Ours minus
                this is what delivery costs.
  format_on_caller  ours, except that the calling thread formats the record (while its
                fields are still in the CPU's caches) and the delivery thread only buffers and
                sends the line: does formatting late, from cold caches, cost more CPU than
                formatting at once? The caller pays the formatting's time.
  sidecar       a per-worker sidecar process: the request thread pickles the record's
                fields and writes them to a pipe; a forked child formats them with our
                EcsEventFormatter and sends NDJSON batches to Logstash. Formatting leaves the
                worker's GIL, not the machine's CPUs.

The sidecar is a sketch for measuring, not a design to ship: a full pipe blocks the caller,
nothing is buffered durably, and a crash of the child loses what it held. None of it is
product code, and no test relies on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import socket
import struct
import threading
import time
from typing import Any

from flask_logstash.captured import capture_fields, freeze_message
from flask_logstash.delivery.handler import BufferedLogstashHandler
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.request_context import RequestContextFilter
from flask_logstash.settings import LoggingSettings

_HEADER = struct.Struct("<I")
_LINGER = 0.005  # seconds the child gathers lines before one send


class CaptureOnlyHandler(logging.Handler):
    """What ours does on the caller's thread before the put (delivery/handler.py's emit):
    the filter, ours' lock-free handle, the message frozen and the fields captured; the
    record is then dropped, and there is no second thread."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestContextFilter())

    handle = BufferedLogstashHandler.handle

    def emit(self, record: logging.LogRecord) -> None:
        freeze_message(record)
        capture_fields(record)


class HandoffOnlyHandler(CaptureOnlyHandler):
    """CaptureOnlyHandler plus the put on a queue that a second thread empties: ours minus
    formatting, buffering and sending."""

    def __init__(self) -> None:
        super().__init__()
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        # Records are taken and dropped every 5 ms, as often as our worker wakes: kept,
        # they would grow the heap and make the garbage collector, not logging, the cost.
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        while not self._stop.wait(_LINGER):
            with contextlib.suppress(queue.Empty):
                while True:
                    self.records.get_nowait()

    def close(self) -> None:
        self._stop.set()
        self._drainer.join(5)
        super().close()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self.records.put(record)


_LINE = "bench_formatted_line"


class FormatOnCallerHandler(BufferedLogstashHandler):
    def __init__(self, host: str, port: int, buffer_dir: str | None) -> None:
        super().__init__(host, port, buffer_dir)
        self.setFormatter(EcsEventFormatter(LoggingSettings.from_env()))
        self.addFilter(RequestContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.__dict__[_LINE] = self._format_line_now(record)
        except Exception:
            self.handleError(record)
            return
        super().emit(record)

    def _format_line_now(self, record: logging.LogRecord) -> bytes:
        return super()._format_record(record)

    def _format_record(self, record: logging.LogRecord) -> bytes:
        line = record.__dict__.get(_LINE)
        return line if line is not None else super()._format_record(record)


class SidecarHandler(logging.Handler):
    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.addFilter(RequestContextFilter())
        read_end, self._write_end = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the sidecar
            os.close(self._write_end)
            try:
                _sidecar_loop(read_end, host, port)
            finally:
                os._exit(0)
        os.close(read_end)
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            freeze_message(record)  # as ours does on the calling thread
            capture_fields(record)
            fields = dict(vars(record))
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
                fields["exc_info"] = None
            data = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
            with self._write_lock:
                view = memoryview(_HEADER.pack(len(data)) + data)
                while view:
                    view = view[os.write(self._write_end, view):]
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._write_end)  # EOF: the sidecar sends what it has and exits
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)
        super().close()


def _sidecar_loop(read_end: int, host: str, port: int) -> None:
    formatter = EcsEventFormatter(LoggingSettings(logstash_port=port))
    stream = os.fdopen(read_end, "rb", buffering=1 << 16)
    lines: list[bytes] = []
    lock = threading.Lock()
    done = threading.Event()

    def sender() -> None:
        sock = socket.create_connection((host, port))
        while not done.is_set() or lines:
            time.sleep(_LINGER)
            with lock:
                batch = b"".join(lines)
                lines.clear()
            if batch:
                sock.sendall(batch)
        sock.close()

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    while header := stream.read(_HEADER.size):
        fields: dict[str, Any] = pickle.loads(stream.read(_HEADER.unpack(header)[0]))
        line = formatter.format_line(logging.makeLogRecord(fields))
        with lock:
            lines.append(line)
    done.set()
    thread.join(30)
