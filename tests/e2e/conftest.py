"""End-to-end tests need a Docker engine; without one they skip with a single reason.

The decision is made at collection time, before any testcontainers object exists (their
constructors connect to Docker eagerly). `ELK_E2E=require` turns the skip into a failure,
for a CI lane that must have Docker; `ELK_E2E=0` skips even where Docker is available.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

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


@functools.lru_cache(maxsize=1)
def compose_unavailable_reason() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker compose did not answer ({type(exc).__name__})"
    return None if done.returncode == 0 else "the docker compose v2 plugin is missing"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if not e2e:
        return
    reason = docker_unavailable_reason()
    for item in e2e:
        why = reason
        if why is None and item.get_closest_marker("compose"):
            why = compose_unavailable_reason()
        if why is None:
            continue
        if os.environ.get("ELK_E2E") == "require":
            raise pytest.UsageError(f"ELK_E2E=require but {why}")
        item.add_marker(pytest.mark.skip(reason=f"E2E needs Docker: {why}"))


@pytest.fixture(scope="session")
def stack():
    from tests.e2e.stack import Stack

    running = Stack().start()
    yield running
    running.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "stack" in getattr(item, "funcargs", {}):
        # The containers' own words are usually the fastest way to the cause.
        report.sections.append(("compose logs (tail)", item.funcargs["stack"].logs()[-20000:]))
