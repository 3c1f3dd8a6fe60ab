"""Checks of ansible/ that need no target: syntax, ansible-lint, inventory, the vault contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

ANSIBLE_DIR = REPO_ROOT / "ansible"
BIN = Path(sys.executable).parent
PLAYBOOKS = ("site.yml", "prepare.yml", "elasticsearch.yml", "logstash.yml", "kibana.yml",
             "provision.yml", "app.yml")
ROLES = ("elk", "prepare", "certificates", "elasticsearch", "logstash", "kibana", "app",
         "provision")


def ansible(tool: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run([str(BIN / tool), *args], cwd=ANSIBLE_DIR, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax(playbook):
    done = ansible("ansible-playbook", "-i", "inventory/example", playbook, "--syntax-check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ansible_lint_production_profile_is_clean():
    done = ansible("ansible-lint", "--offline", "--profile", "production", "--nocolor",
                   timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr


def test_site_imports_every_component_playbook_in_dependency_order():
    plays = yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
    imported = [play["ansible.builtin.import_playbook"] for play in plays]
    assert imported == list(PLAYBOOKS[1:])


def example_inventory() -> dict:
    done = ansible("ansible-inventory", "-i", "inventory/example", "--list")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_example_inventory_is_a_small_production_layout():
    inventory = example_inventory()
    hosts = lambda group: inventory[group]["hosts"]  # noqa: E731
    assert len(hosts("elasticsearch")) >= 3
    assert len(hosts("elasticsearch_master")) % 2 == 1
    assert set(hosts("elasticsearch_master")) <= set(hosts("elasticsearch"))
    assert hosts("logstash")
    assert hosts("kibana")
    assert hosts("app")
    assert len(hosts("elk_provision")) == 1
    for host in inventory["_meta"]["hostvars"].values():
        assert host["elk_address"], host


def vault_names_used() -> set[str]:
    found: set[str] = set()
    for path in ANSIBLE_DIR.rglob("*.yml"):
        found |= set(re.findall(r"\bvault_[a-z0-9_]+", path.read_text()))
    return found - {"vault_example"}


def test_vault_example_names_exactly_the_secrets_the_roles_use():
    example = yaml.safe_load((ANSIBLE_DIR / "vault.example.yml").read_text())
    assert set(example) == vault_names_used()
    # Placeholders only: every value is refused by the play's secret check.
    assert all("CHANGE" in value for value in example.values())


def test_no_unencrypted_vault_file_is_committed():
    tracked = subprocess.run(["git", "ls-files", "ansible"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=False).stdout.split()
    for name in tracked:
        if Path(name).name in {"vault.yml", "vault.yaml"}:
            assert (REPO_ROOT / name).read_text().startswith("$ANSIBLE_VAULT;"), name
    assert not [n for n in tracked if "/pki/" in n], "a CA must never be committed"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_documents_its_variables(role):
    """defaults/main.yml and meta/argument_specs.yml name the same variables."""
    base = ANSIBLE_DIR / "roles" / role
    defaults = yaml.safe_load((base / "defaults/main.yml").read_text()) or {}
    specs = yaml.safe_load((base / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    assert all(option.get("description") for option in options.values())
    assert all(name.startswith(f"{role}_") for name in defaults), "role prefix"


def test_components_read_the_bundles_files_not_copies():
    """No role carries its own pipeline, template, dashboard or kibana.yml."""
    shipped = [p for p in (ANSIBLE_DIR / "roles").rglob("*")
               if p.is_file() and p.parent.name in {"files", "templates"}]
    copies = [p for p in shipped if p.suffix in {".conf", ".json", ".ndjson"}
              or p.name in {"kibana.yml", "logstash.yml", "pipelines.yml", "flask.conf"}]
    assert not copies
    defaults = "\n".join(p.read_text() for p in (ANSIBLE_DIR / "roles").rglob("defaults/main.yml"))
    for source in ("logstash/config/logstash.yml", "logstash/config/pipelines.yml",
                   "logstash/pipeline/", "kibana/kibana.yml", "/.env"):
        assert source in defaults or source.rstrip("/") in defaults, source
