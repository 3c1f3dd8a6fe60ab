"""Tests that stop or reconfigure part of the one shared stack run after every other test.

The stack is started once per session, so a test that stops Logstash or changes a data
stream's options leaves the next test a degraded stack. Such a test carries the `disruptive`
marker; tests/e2e/conftest.py calls `run_disruptive_last` after every other reordering
(trylast), so neither file order nor an ordering plugin decides it. Among themselves the
disruptive tests keep their collection order.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Protocol

MARKER = "disruptive"
# What makes a test disruptive, for the check that each such test is marked
# (tests/unit/test_e2e_helpers.py): compose commands that stop a service, and the
# Elasticsearch calls that change a stream's options.
STOPPING_COMMANDS = frozenset({"stop", "kill", "pause", "restart", "rm", "down"})
RECONFIGURING_CALLS = frozenset({"put_data_stream_options", "delete_data_stream_options"})


class _Item(Protocol):
    def get_closest_marker(self, name: str) -> object | None: ...


def run_disruptive_last(items: MutableSequence[_Item]) -> None:
    """Reorder `items` in place: every unmarked test first, then the disruptive ones."""
    calm = [item for item in items if item.get_closest_marker(MARKER) is None]
    disruptive = [item for item in items if item.get_closest_marker(MARKER) is not None]
    items[:] = calm + disruptive
