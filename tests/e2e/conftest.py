"""The session's compose stack for the end-to-end tests.

Whether the tests run at all is decided by tests/e2e/gate.py, through the two hooks below.
The stack fixture starts the real compose project once per session with
its own deadlines (tests/e2e/stack.py, DEADLINES), always removes it with its volumes, and
leaves every service's log in ELK_E2E_ARTIFACTS (default: a pytest temporary directory).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.gate import check_collection, skip_unless_ready
from tests.e2e.ordering import run_disruptive_last


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    check_collection(items)
    # Last of all reorderings: tests that stop or reconfigure the shared stack run at the end.
    run_disruptive_last(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # tryfirst: before any fixture, so no stack start is attempted without an engine.
    if item.get_closest_marker("e2e"):
        skip_unless_ready(item)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    from tests.e2e.compose_project import running_stack
    from tests.e2e.stack import Stack, project_for_environment

    artifacts = Path(os.environ.get("ELK_E2E_ARTIFACTS")
                     or tmp_path_factory.mktemp("e2e-service-logs"))
    project = project_for_environment()
    with running_stack(project, artifacts) as model:
        yield Stack(project, model, tmp_path_factory.mktemp("e2e-work"))
    print(f"E2E: every service's log is in {artifacts}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    running = getattr(item, "funcargs", {}).get("stack")
    if report.when == "call" and report.failed and running is not None:
        # The containers' own words are usually the fastest way to the cause.
        tails = [f"----- {s} -----\n{running.logs(s)[-4000:]}"
                 for s in sorted(running.model["services"])]
        report.sections.append(("compose logs (tail)", "\n".join(tails)))
