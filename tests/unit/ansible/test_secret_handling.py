"""Every task that handles a secret hides it from -v and --diff (no lint rule checks this).

A secret is a vault_* variable, or any role default or inventory variable whose value refers
to one (directly or through another such variable). A task handles one when one of its
strings, its conditions, the module_defaults that apply to it, or the template it renders
names a secret; literal strings equal to a secret's name count too (lookup('vars', ...)).
Such a task needs `no_log: true` (inherited from its block counts); a `template` or `copy`
of one also needs `diff: false`, because --diff prints file contents regardless of no_log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import pytest
import yaml

from tests.conftest import REPO_ROOT

ANSIBLE_DIR = REPO_ROOT / "ansible"
CONDITION_KEYS = {"when", "until", "changed_when", "failed_when"}
BLOCK_KEYS = ("block", "rescue", "always")
FILE_WRITERS = {"ansible.builtin.template", "ansible.builtin.copy"}
# Reviewed exceptions, each with the reason it cannot print a value.
EXEMPT = {
    ("roles/elk/tasks/main.yml", "Check the secrets from the vault"):
        "asserts on values looked up by name with quiet: true; its loop and message carry "
        "names only, and no_log would hide which secret is missing (the chroot run's "
        "missing-secret test checks that no value is printed)",
}


class _AnyName(dict):
    """Ansible's filters and tests: only their names matter to find variables."""

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> Any:
        return lambda value, *args, **kwargs: value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name]


_ENV = jinja2.Environment()
_ENV.filters = _AnyName()
_ENV.tests = _AnyName()


def names_in(text: str, *, expression: bool = False) -> set[str]:
    source = f"{{{{ {text} }}}}" if expression else text
    if not expression and "{{" not in text and "{%" not in text:
        return set()
    return set(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def referenced(value: Any, secrets: set[str]) -> set[str]:
    found: set[str] = set()
    for text in strings(value):
        found |= names_in(text)
        if text in secrets:
            found.add(text)
    return found


def variable_files() -> list[Path]:
    return sorted([*ANSIBLE_DIR.glob("roles/*/defaults/main.yml"),
                   *ANSIBLE_DIR.glob("roles/*/vars/main.yml"),
                   *ANSIBLE_DIR.glob("inventory/*/group_vars/**/*.yml"),
                   *ANSIBLE_DIR.glob("inventory/*/host_vars/*.yml")])


def secret_names() -> set[str]:
    """vault_* names, closed over every variable whose definition refers to one."""
    definitions: dict[str, Any] = {}
    for path in variable_files():
        definitions.update(yaml.safe_load(path.read_text()) or {})
    secrets = set(yaml.safe_load((ANSIBLE_DIR / "vault.example.yml").read_text()))
    while True:
        derived = {name for name, value in definitions.items()
                   if name not in secrets and referenced(value, secrets) & secrets}
        if not derived:
            return secrets
        secrets |= derived


@dataclass
class Task:
    source: str
    body: dict[str, Any]
    no_log: bool
    module_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.body.get("name", "<unnamed>"))

    @property
    def module(self) -> str:
        keys = [k for k in self.body if "." in k and not k.startswith("ansible_")]
        return keys[0] if keys else ""

    def template_source(self) -> Path | None:
        if self.module != "ansible.builtin.template":
            return None
        src = self.body[self.module]["src"]
        role = Path(self.source).parts[1]
        return ANSIBLE_DIR / "roles" / role / "templates" / src

    def secrets_used(self, secrets: set[str]) -> set[str]:
        found = referenced({k: v for k, v in self.body.items() if k not in CONDITION_KEYS},
                           secrets)
        for key in CONDITION_KEYS & set(self.body):
            conditions = self.body[key]
            for condition in conditions if isinstance(conditions, list) else [conditions]:
                if isinstance(condition, str):
                    found |= names_in(condition, expression=True)
        found |= referenced(self.module_defaults.get(self.module, {}), secrets)
        template = self.template_source()
        if template is not None:
            found |= names_in(template.read_text())
        return found & secrets


def tasks_in(entries: list[dict[str, Any]] | None, source: str, no_log: bool = False,
             module_defaults: dict[str, Any] | None = None) -> Iterator[Task]:
    for entry in entries or []:
        inherited_no_log = bool(entry.get("no_log", no_log))
        defaults = {**(module_defaults or {}), **entry.get("module_defaults", {})}
        if any(key in entry for key in BLOCK_KEYS):
            for key in BLOCK_KEYS:
                yield from tasks_in(entry.get(key), source, inherited_no_log, defaults)
        else:
            yield Task(source, entry, inherited_no_log is True, defaults)


def all_tasks() -> list[Task]:
    found: list[Task] = []
    for path in sorted([*ANSIBLE_DIR.glob("roles/*/tasks/*.yml"),
                        *ANSIBLE_DIR.glob("roles/*/handlers/*.yml")]):
        found += tasks_in(yaml.safe_load(path.read_text()), str(path.relative_to(ANSIBLE_DIR)))
    for path in sorted(ANSIBLE_DIR.glob("*.yml")):
        plays = yaml.safe_load(path.read_text())
        if not isinstance(plays, list):  # vault.example.yml, requirements.yml
            continue
        for play in plays:
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                found += tasks_in(play.get(key), path.name, bool(play.get("no_log", False)))
    return found


SECRETS = secret_names()
TASKS = all_tasks()
HANDLING = [t for t in TASKS if t.secrets_used(SECRETS)]


def test_the_secret_closure_reaches_the_roles_variables():
    """The walker itself: derived names are found, harmless ones are not."""
    assert {"elk_elastic_password", "elk_logstash_writer_password",
            "elk_kibana_encryption_key", "vault_elastic_password"} <= SECRETS
    assert "elk_address" not in SECRETS
    handled = {(t.source, t.name) for t in HANDLING}
    # Through a template file, through module_defaults, through a lookup by name.
    assert ("roles/logstash/tasks/main.yml", "Write the environment the pipelines read") in handled
    assert ("roles/elasticsearch/tasks/keystore.yml",
            "Set the bootstrap password of the elastic user") in handled
    assert ("roles/provision/tasks/main.yml", "Write the secrets the tool applies") in handled


@pytest.mark.parametrize("task", HANDLING, ids=lambda t: f"{t.source}:{t.name}")
def test_every_task_handling_a_secret_hides_it(task):
    if (task.source, task.name) in EXEMPT:
        pytest.skip(EXEMPT[(task.source, task.name)])
    used = sorted(task.secrets_used(SECRETS))
    assert task.no_log, f"{task.source}: '{task.name}' uses {used} without no_log: true"
    if task.module in FILE_WRITERS:
        assert task.body.get("diff") is False, (
            f"{task.source}: '{task.name}' writes {used} without diff: false")

