"""Secrets reach their readers or nothing starts: who reads which secret (rendered model), the
Logstash and Kibana wrappers run for real (bash, with a stand-in for the image's program), and
nothing handed to Logstash makes its entrypoint rewrite the read-only logstash.yml.
"""

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.compose_cli import container_text
from tests.unit.compose.conftest import rendered
from tests.unit.compose.runtime import effective_uid, script_of, setup_owner

SECRETS_DIR = "/run/elk-secrets"
SETTINGS_FILE = Path(__file__).with_name("logstash_env2yaml_settings.txt")


def test_every_secret_reader_runs_as_the_owner_setup_gives(model):
    """init writes each secret 0400 for --owner: every other service that mounts the secrets
    volume must run as that uid, or it cannot read them."""
    uid, _ = setup_owner(model)
    for name, service in model["services"].items():
        mounts = [m for m in service.get("volumes", []) if m.get("source") == "secrets"]
        if name == "setup" or not mounts:
            continue
        assert effective_uid(service) == uid, name
        assert all(m.get("read_only") for m in mounts), f"{name} may write the secrets"


WRAPPERS = {"logstash": "entrypoint", "kibana": "command"}


def wrapper(model, service):
    argv = model["services"][service][WRAPPERS[service]]
    script = script_of(argv)
    assert script, f"{service} reads its secrets in a shell wrapper"
    return argv, container_text(script)


def run_wrapper(tmp_path, service, secrets, model=None):
    """Run the service's wrapper with the secrets dir under tmp_path; the image's program is
    a stand-in that dumps its environment."""
    model = model or rendered("stack")
    argv, script = wrapper(model, service)
    secrets_dir, program = tmp_path / "secrets", tmp_path / "image-program"
    secrets_dir.mkdir()
    for name, value in secrets.items():
        (secrets_dir / name).write_text(value)
    dump = tmp_path / "env.json"
    program.write_text(f'#!/bin/sh\nexec python3 -c "import json,os; '
                       f'json.dump(dict(os.environ), open(\'{dump}\', \'w\'))"\n')
    program.chmod(0o755)
    target = {"logstash": "/usr/local/bin/docker-entrypoint",
              "kibana": "/usr/local/bin/kibana-docker"}[service]
    assert target in script
    body = script.replace(SECRETS_DIR, str(secrets_dir)).replace(target, str(program))
    environment = {"PATH": os.environ["PATH"], **model["services"][service]["environment"]}
    result = subprocess.run(["/bin/bash", argv[1], body, *argv[3:]], env=environment,
                            capture_output=True, text=True, timeout=60)
    seen = json.loads(dump.read_text()) if dump.exists() else None
    return result, seen, environment


def secrets_read_by(service):
    """The secrets init creates that the service's wrapper names."""
    from elk_provision.init_secrets import KIBANA_KEYS, PASSWORDS

    _, script = wrapper(rendered("stack"), service)
    return [name for name in (*PASSWORDS, *KIBANA_KEYS) if re.search(rf"\b{name}\b", script)]


@pytest.mark.parametrize("service", sorted(WRAPPERS))
def test_wrapper_hands_every_secret_to_the_image(tmp_path, service):
    from elk_provision.init_secrets import KIBANA_KEYS

    names = secrets_read_by(service)
    assert names == {"logstash": ["logstash_writer_password"],
                     "kibana": ["kibana_system_password", *KIBANA_KEYS]}[service]
    values = {name: f"value-of-{name}-{i}" for i, name in enumerate(names)}
    result, seen, _ = run_wrapper(tmp_path, service, values)
    assert result.returncode == 0, result.stderr
    assert seen is not None
    for value in values.values():
        assert value in seen.values()


@pytest.mark.parametrize("content", [None, "", "\n"], ids=["missing", "empty", "newline"])
@pytest.mark.parametrize("service", sorted(WRAPPERS))
def test_wrapper_fails_loudly_on_a_missing_or_empty_secret(tmp_path, service, content):
    names = secrets_read_by(service)
    assert names
    for secret in names:
        values = {name: "x" * 32 for name in names if name != secret}
        if content is not None:
            values[secret] = content
        case = tmp_path / secret
        case.mkdir()
        result, seen, _ = run_wrapper(case, service, values)
        assert result.returncode != 0, secret
        assert seen is None, f"the image's program ran without {secret}"
        assert secret in result.stderr

def env2yaml_settings():
    lines = SETTINGS_FILE.read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def env2yaml_key(name):
    # Logstash's docker/data/logstash/env2yaml/.../Env2Yaml.java normalizeKey.
    return name.lower().replace(".", "").replace("_", "")


def test_env2yaml_key_matches_what_logstash_maps():
    settings = {env2yaml_key(s) for s in env2yaml_settings()}
    assert env2yaml_key("PIPELINE_WORKERS") in settings
    assert env2yaml_key("pipeline.workers") in settings
    assert env2yaml_key("LOG_LEVEL") in settings
    assert env2yaml_key("LOG_NAMESPACE") not in settings


@pytest.mark.parametrize("combination", ["stack", "cluster", "e2e"])
def test_no_variable_logstash_sees_names_a_logstash_setting(tmp_path, combination):
    """Logstash's entrypoint runs env2yaml over the whole environment and rewrites
    logstash.yml when a name matches a setting: on our read-only mount the start fails."""
    model = rendered(combination)
    values = {name: "x" * 32 for name in secrets_read_by("logstash")}
    result, seen, _ = run_wrapper(tmp_path, "logstash", values, model)
    assert result.returncode == 0, result.stderr
    settings = {env2yaml_key(s): s for s in env2yaml_settings()}
    clashes = {name: settings[env2yaml_key(name)] for name in seen
               if env2yaml_key(name) in settings}
    assert clashes == {}
    mounts = {m["target"]: m for m in model["services"]["logstash"]["volumes"]}
    assert mounts["/usr/share/logstash/config/logstash.yml"].get("read_only")


def test_secret_files_init_writes_pass_elasticsearchs_mode_check(tmp_path):
    """elasticsearch-env-from-file accepts a *_FILE secret only with mode 400 or 600."""
    from elk_provision.init_secrets import run_init

    run_init(tmp_path / "s", tmp_path / "c")
    stack = rendered("stack")
    path = stack["services"]["elasticsearch"]["environment"]["ELASTIC_PASSWORD_FILE"]
    secret = tmp_path / "s" / Path(path).relative_to(SECRETS_DIR)
    assert stat.S_IMODE(secret.stat().st_mode) in (0o400, 0o600)
