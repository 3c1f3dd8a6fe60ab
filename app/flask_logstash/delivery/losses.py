"""Every event the delivery layer gives up on is counted by cause and reported: a stderr line
at most once per LOSS_REPORT_INTERVAL, and an event to Logstash with the counts since the
last report, so a loss is visible where the logs are read."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from flask_logstash.delivery import limits
from flask_logstash.delivery.report import warn

QUEUE_FULL = "queue_full"  # hand-off queue at MAX_QUEUED_RECORDS: the worker fell behind
MEMORY_CAP = "memory_cap"  # memory buffer at MEMORY_BUFFER_MAX_EVENTS: oldest dropped
DISK_CAP = "disk_cap"  # durable buffer at its byte cap: oldest evicted
UNFORMATTABLE = "unformattable"  # a non-ECS formatter raised
CAUSES = (QUEUE_FULL, MEMORY_CAP, DISK_CAP, UNFORMATTABLE)
REPORT_ACTION = "delivery-loss-report"  # event.action of the report event
REPORT_LOGGER = "flask_logstash.delivery"
# The counts as numbers, `<REPORT_FIELDS>.<cause>` and `.total` (mapped as long in
# flask-logs@mappings.json), so the pipeline-health dashboard can sum them; `lost_events` lands
# under the flattened flask.extra, which keeps the values but cannot be summed.
REPORT_FIELDS = "flask.delivery_loss"


class LossLedger:
    """Counts since the last report; `add` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since_report: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self._next_report = 0.0

    def add(self, cause: str, count: int = 1) -> None:
        if count > 0:
            with self._lock:
                self._since_report[cause] += count
                self.total[cause] += count

    def due_report(self) -> logging.LogRecord | None:
        """A report record when there are losses and the last report is old enough."""
        now = time.monotonic()
        if not self._since_report or now < self._next_report:
            return None
        with self._lock:
            counts, self._since_report = dict(self._since_report), Counter()
        self._next_report = now + limits.LOSS_REPORT_INTERVAL
        lost = sum(counts.values())
        detail = ", ".join(f"{cause}={n}" for cause, n in sorted(counts.items()))
        warn(f"lost {lost} log events since the last report ({detail})")
        record = logging.makeLogRecord({
            "name": REPORT_LOGGER, "levelno": logging.WARNING, "levelname": "WARNING",
            "msg": f"flask_logstash lost {lost} log events since its last report ({detail})",
            "ecs": {"event": {"action": REPORT_ACTION, "kind": "metric"},
                    **_nested(REPORT_FIELDS, {**{cause: counts.get(cause, 0) for cause in CAUSES},
                                              "total": lost})},
            "lost_events": counts,
        })
        return record


def _nested(dotted: str, leaf: dict[str, int]) -> dict[str, object]:
    """{"a": {"b": leaf}} for "a.b": the formatter merges `ecs` extras as nested objects."""
    node: dict[str, object] = dict(leaf)
    for part in reversed(dotted.split(".")):
        node = {part: node}
    return node
