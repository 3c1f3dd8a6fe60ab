"""A logging handler that keeps the records it is given, for tests that look at records
before any formatter does."""

from __future__ import annotations

import logging


class KeepRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
