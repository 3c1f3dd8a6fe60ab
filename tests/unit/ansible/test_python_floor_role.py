"""The roles' interpreter check (roles/elk/tasks/python.yml) run for real, connection local:
an interpreter older than pyproject.toml's requires-python, or none, or one without its venv
module, stops the play with a message that says what to set, before a virtual environment is
made; a virtual environment another Python made is removed, so pip makes it again."""

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
THIS_MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"
CLEAN = re.compile(r"changed=0\s+unreachable=0\s+failed=0")


def play(work: Path, *options: str, **values: object) -> tuple[int, str]:
    (work / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"app-1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (work / "check.yml").write_text(yaml.safe_dump([{
        "name": "Check the interpreter", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Run the check",
                   "ansible.builtin.include_role": {"name": "elk", "tasks_from": "python"}}],
    }], sort_keys=False))
    values = {"elk_repo_root": str(REPO_ROOT), "elk_python_venv": str(work / "venv"), **values}
    (work / "vars.json").write_text(json.dumps(values))
    done = ansible("ansible-playbook", "-i", str(work / "hosts.yml"), str(work / "check.yml"),
                   "-e", f"@{work / 'vars.json'}", *options)
    return done.returncode, done.stdout + done.stderr


def fake_python(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def floor() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    (found,) = re.findall(r'(?m)^requires-python = ">=([0-9.]+)"$', text)
    return found


@pytest.mark.parametrize("mode", [(), ("--check",)], ids=["run", "check"])
def test_the_interpreter_running_the_tests_passes(tmp_path, mode):
    code, output = play(tmp_path, *mode, elk_python=sys.executable)
    assert code == 0, output
    assert CLEAN.search(output), output


@pytest.mark.parametrize("mode", [(), ("--check",)], ids=["run", "check"])
def test_an_older_interpreter_stops_the_play_and_says_what_to_set(tmp_path, mode):
    old = fake_python(tmp_path / "python3", "echo 3.10.12")
    code, output = play(tmp_path, *mode, elk_python=str(old))
    assert code != 0
    assert f"need Python {floor()} or newer" in output
    assert "is Python 3.10.12." in output
    assert "set elk_python and elk_python_packages" in output


def test_a_missing_interpreter_stops_the_play_and_says_so(tmp_path):
    code, output = play(tmp_path, elk_python=str(tmp_path / "no-such-python"))
    assert code != 0
    assert "did not run: /usr/bin/env:" in output
    assert "No such file or directory" in output
    assert f"need Python {floor()} or newer" in output


def test_an_interpreter_that_fails_shows_its_own_error(tmp_path):
    broken = fake_python(tmp_path / "python3", "echo 'cannot load libpython' >&2; exit 127")
    code, output = play(tmp_path, elk_python=str(broken))
    assert code != 0
    assert "did not run: cannot load libpython" in output


def test_an_interpreter_without_its_venv_module_is_named_as_such(tmp_path):
    # Debian's python3.X without python3.X-venv: it runs, but has no ensurepip.
    bare = fake_python(tmp_path / "python3",
                       f"echo {sys.version_info[0]}.{sys.version_info[1]}.0; exit 1")
    code, output = play(tmp_path, elk_python=str(bare))
    assert code != 0
    assert "without its venv module" in output


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


def test_a_virtual_environment_another_python_made_is_removed_once(tmp_path):
    # An earlier run made it with the host's python3 (3.10 on Ubuntu 22.04); pip would keep it.
    venv = tmp_path / "venv"
    fake_python(venv / "bin/python", "echo 3.10")
    (venv / "pyvenv.cfg").write_text("version = 3.10.12\n")
    code, output = play(tmp_path, elk_python=sys.executable)
    assert code == 0, output
    assert re.search(r"changed=1\s+unreachable=0\s+failed=0", output), output
    assert not venv.exists()
    code, output = play(tmp_path, elk_python=sys.executable)
    assert code == 0, output
    assert CLEAN.search(output), output


def test_a_virtual_environment_this_python_made_is_kept(tmp_path):
    venv = tmp_path / "venv"
    fake_python(venv / "bin/python", f"echo {THIS_MINOR}")
    code, output = play(tmp_path, elk_python=sys.executable)
    assert code == 0, output
    assert CLEAN.search(output), output
    assert (venv / "bin/python").exists()
