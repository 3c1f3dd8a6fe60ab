"""End-to-end tests need a Docker engine; without one they skip with a single reason.

The decision is made at collection time, before any testcontainers object exists (their
constructors connect to Docker eagerly). `ELK_E2E=require` turns the skip into a failure,
for a CI lane that must have Docker; `ELK_E2E=0` skips even where Docker is available.
"""

from __future__ import annotations

import functools
import os

import pytest


@functools.lru_cache(maxsize=1)
def docker_unavailable_reason() -> str | None:
    if os.environ.get("ELK_E2E") == "0":
        return "disabled by ELK_E2E=0"
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError:
        return "testcontainers is not installed"
    try:
        DockerClient(timeout=5).client.ping()
    except Exception as exc:  # docker raises several unrelated types when there is no engine
        return f"no Docker engine reachable ({type(exc).__name__})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    reason = docker_unavailable_reason() if e2e else None
    if reason is None:
        return
    if os.environ.get("ELK_E2E") == "require":
        raise pytest.UsageError(f"ELK_E2E=require but {reason}")
    marker = pytest.mark.skip(reason=f"E2E needs Docker: {reason}")
    for item in e2e:
        item.add_marker(marker)
