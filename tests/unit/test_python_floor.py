"""The oldest Python the bundle claims (pyproject.toml's requires-python) is one its pinned
runtimes install on, and every interpreter that runs them (the images', the lint target's)
is at least that.

python-logstash-async 4.1.0, pylogbeat 2.1.0, pycparser 3.12 and python-dateutil 4.0.0 need
Python 3.11; the project said 3.10, and the Ansible roles made their virtual environments
with the host's python3, 3.10 on Ubuntu 22.04, where pip then found no version to install.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, metadata

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
REQUIRES = SpecifierSet(PYPROJECT["project"]["requires-python"])
PIN_FILES = ("app/requirements.txt", "provisioning/requirements.txt")
IMAGES = ("app/Dockerfile", "provisioning/Dockerfile")


def floor() -> Version:
    """The lower bound requires-python states: the only bound it may state, as the Ansible
    roles read it with a pattern (roles/elk/defaults/main.yml, run by
    tests/unit/ansible/test_python_floor_role.py)."""
    (bound,) = REQUIRES
    assert bound.operator == ">=", REQUIRES
    return Version(bound.version)


def pins(path: str) -> list[tuple[str, str]]:
    lines = (REPO_ROOT / path).read_text().splitlines()
    return [tuple(line.split("==")) for line in lines if line and not line.startswith("#")]


PINNED = sorted({pin for path in PIN_FILES for pin in pins(path)})


@pytest.mark.parametrize(("name", "pinned"), PINNED, ids=[name for name, _ in PINNED])
def test_each_pinned_package_installs_on_the_oldest_python_the_project_claims(name, pinned):
    try:
        meta = metadata(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is pinned but not installed: scripts/run-tests installs with "
                    f"the pins as constraints")
    # The metadata read below is the pinned release's only if that release is what runs here.
    assert meta["Version"] == pinned, f"{name}: tests run {meta['Version']}, the images {pinned}"
    needs = SpecifierSet(meta.get("Requires-Python") or "")
    assert floor() in needs, f"{name} {pinned} needs Python {needs}; pyproject claims {REQUIRES}"


@pytest.mark.parametrize("dockerfile", IMAGES)
def test_each_image_runs_a_python_the_project_supports(dockerfile):
    text = (REPO_ROOT / dockerfile).read_text()
    (tag,) = re.findall(r"^FROM python:(\d+\.\d+\.\d+)\S*", text, re.MULTILINE)
    assert Version(tag) in REQUIRES


def test_lint_targets_the_oldest_supported_python():
    # ruff then refuses syntax and library names (datetime.UTC) that the floor lacks, and
    # suggests none that it lacks.
    target = PYPROJECT["tool"]["ruff"]["target-version"]
    assert target == f"py{floor().major}{floor().minor}"

