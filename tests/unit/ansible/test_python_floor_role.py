"""The roles' interpreter check (roles/elk/tasks/python.yml) run for real, connection local:
an interpreter older than pyproject.toml's requires-python, or none, stops the play with a
message that says what to set, before a virtual environment is made."""

from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.ansible.test_ansible_static import REPO_ROOT, ansible

pytestmark = pytest.mark.slow


def play(work: Path, **values: object) -> tuple[int, str]:
    (work / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"app-1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (work / "check.yml").write_text(yaml.safe_dump([{
        "name": "Check the interpreter", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Run the check",
                   "ansible.builtin.include_role": {"name": "elk", "tasks_from": "python"}}],
    }], sort_keys=False))
    (work / "vars.json").write_text(json.dumps({"elk_repo_root": str(REPO_ROOT), **values}))
    done = ansible("ansible-playbook", "-i", str(work / "hosts.yml"), str(work / "check.yml"),
                   "-e", f"@{work / 'vars.json'}")
    return done.returncode, done.stdout + done.stderr


def fake_python(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def floor() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    (found,) = re.findall(r'(?m)^requires-python = ">=([0-9.]+)"$', text)
    return found


def test_the_interpreter_running_the_tests_passes(tmp_path):
    code, output = play(tmp_path, elk_python=sys.executable)
    assert code == 0, output
    assert re.search(r"changed=0\s+unreachable=0\s+failed=0", output), output


def test_an_older_interpreter_stops_the_play_and_says_what_to_set(tmp_path):
    old = fake_python(tmp_path / "python3", "3.10.12")
    code, output = play(tmp_path, elk_python=str(old))
    assert code != 0
    assert f"need Python {floor()} or newer" in output
    assert "is Python 3.10.12" in output
    assert "set elk_python and elk_python_packages" in output


def test_a_missing_interpreter_stops_the_play_and_says_so(tmp_path):
    code, output = play(tmp_path, elk_python=str(tmp_path / "no-such-python"))
    assert code != 0
    assert "did not run" in output
    assert f"need Python {floor()} or newer" in output


def test_the_floor_is_read_from_the_checkouts_pyproject(tmp_path):
    # A checkout that asks for more than this interpreter makes the check refuse it: the
    # bound is read, not written into the role.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    text = (REPO_ROOT / "pyproject.toml").read_text()
    (checkout / "pyproject.toml").write_text(
        re.sub(r'(?m)^requires-python = ">=[0-9.]+"$', 'requires-python = ">=3.99"', text))
    code, output = play(tmp_path, elk_python=sys.executable, elk_repo_root=str(checkout))
    assert code != 0
    assert "need Python 3.99 or newer" in output
