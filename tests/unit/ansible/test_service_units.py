"""systemd drop-ins bound every stop, and the package's leftovers are removed."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.unit.ansible.test_ansible_static import ANSIBLE_DIR


def task_writing(tasks_file: str, dest_suffix: str) -> dict:
    tasks = yaml.safe_load((ANSIBLE_DIR / tasks_file).read_text())
    (task,) = [t for t in tasks if str(t.get("ansible.builtin.copy", {}).get("dest", ""))
               .endswith(dest_suffix)]
    return task["ansible.builtin.copy"]


def defaults(role: str) -> dict:
    return yaml.safe_load((ANSIBLE_DIR / f"roles/{role}/defaults/main.yml").read_text())


@pytest.mark.parametrize(("role", "tasks_file", "unit"), [
    ("elasticsearch", "roles/elasticsearch/tasks/configure.yml", "elasticsearch"),
    ("logstash", "roles/logstash/tasks/main.yml", "logstash"),
])
def test_stop_is_bounded(role, tasks_file, unit):
    """The packages' units wait forever (TimeoutStopSec=0 / infinity)."""
    content = task_writing(tasks_file, f"/{unit}.service.d/flask-elk.conf")["content"]
    (value,) = re.findall(r"^TimeoutStopSec=(.+)$", content, re.MULTILINE)
    variable = re.fullmatch(r"\{\{ (\w+) \}\}", value)[1]
    seconds = defaults(role)[variable]
    assert isinstance(seconds, int)
    assert 0 < seconds <= 600
    if unit == "elasticsearch":
        # The package's unit says SendSIGKILL=no: without this the timeout kills nothing.
        assert re.search(r"^SendSIGKILL=yes$", content, re.MULTILINE)


def test_package_autoconfigured_certificates_are_removed():
    tasks = yaml.safe_load((ANSIBLE_DIR / "roles/elasticsearch/tasks/main.yml").read_text())
    removed = [t["ansible.builtin.file"]["path"] for t in tasks
               if t.get("ansible.builtin.file", {}).get("state") == "absent"]
    assert "{{ elasticsearch_config_dir }}/certs" in removed
    names = [t["name"] for t in tasks]
    removal = next(i for i, t in enumerate(tasks)
                   if t.get("ansible.builtin.file", {}).get("state") == "absent")
    # Before the service is (re)started with the new configuration.
    assert removal < names.index("Enable and start Elasticsearch")
