"""DLQ replay: the pipeline sets fields without appending to what a dead-lettered event
carries, keeps a second rejection, and the replay command starts beside the running
Logstash with the writer's password read from its secret file."""

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.logstash_config import parse_file
from tests.unit.logstash.ruby_filters import ruby_plugin, run_ruby

CONFIG = parse_file(REPO_ROOT / "logstash/pipeline/dlq_replay.conf")
SCRIPT = REPO_ROOT / "logstash/bin/dlq-replay"
SETTINGS = yaml.safe_load((REPO_ROOT / "logstash/config/logstash.yml").read_text())

# What the flask pipeline sent and Elasticsearch refused with a 400, as the
# dead_letter_queue input hands it over (logstash-input-dead_letter_queue 2.0.2, run()).
DEAD = {
    "@timestamp": "2026-11-29T09:00:00.000Z",
    "@version": "1",
    "message": "boom",
    "event": {"dataset": "flask.app", "id": "e-9"},
    "error": {"type": "ValueError", "message": "app error"},
    "data_stream": {"type": "logs", "dataset": "flask.app", "namespace": "default"},
    "tags": ["slow_request"],
    "@metadata": {"dead_letter_queue": {
        "reason": "mapper_parsing_exception: failed to parse field [flask.route]",
        "plugin_id": "data_streams", "plugin_type": "elasticsearch",
        "entry_time": "2026-11-29T09:00:01.000Z"}},
}


def test_no_field_is_appended_to():
    # add_field on a field that exists appends: data_stream.dataset would become
    # ["flask.app", "flask.unparsed"], an invalid index name, a 400 (docs/logstash.md).
    for plugin in CONFIG.plugins("filter"):
        assert "add_field" not in plugin.options, plugin.options.get("id")
    (route,) = CONFIG.plugins("filter", "mutate")
    assert route.options["replace"] == {
        "[data_stream][type]": "logs", "[data_stream][dataset]": "flask.unparsed",
        "[data_stream][namespace]": "${LOG_NAMESPACE:default}"}
    assert route.conditions == ()


def test_flatten_keeps_the_original_whole_and_sets_single_values():
    (outcome,) = run_ruby(ruby_plugin(CONFIG, "dlq_flatten"), [DEAD])
    assert outcome.exception is None
    event = outcome.event
    original = json.loads(event["event"]["original"])
    expected = {k: v for k, v in DEAD.items() if k not in {"@timestamp", "@version", "@metadata"}}
    assert original == expected  # its own error, tags and stream included
    assert event["error"] == {"type": "dead_letter_queue",
                              "message": DEAD["@metadata"]["dead_letter_queue"]["reason"]}
    assert event["tags"] == ["dlq_replayed"]
    assert "data_stream" not in event  # set once, by the mutate that follows
    assert event["@timestamp"].startswith("2026-11-29T09:00:00")


def test_a_second_rejection_is_kept_not_skipped():
    # DeadLetterQueueWriter skips an event that carries [@metadata][dead_letter_queue].
    (outcome,) = run_ruby(ruby_plugin(CONFIG, "dlq_flatten"), [DEAD])
    assert "dead_letter_queue" not in outcome.metadata
    # ...and the replay runs with the shared logstash.yml, whose DLQ is on: a second 400
    # lands in the replay's own path.data.
    assert SETTINGS["dead_letter_queue.enable"] is True
    assert SETTINGS["queue.type"] == "persisted"


def test_flatten_survives_keys_that_are_not_field_references():
    odd = {**DEAD, "a]b": 1}
    (outcome,) = run_ruby(ruby_plugin(CONFIG, "dlq_flatten"), [odd])
    assert outcome.exception is None
    assert json.loads(outcome.event["event"]["original"])["a]b"] == 1


def test_replayed_documents_have_a_stable_id():
    (fingerprint,) = CONFIG.plugins("filter", "fingerprint")
    (output,) = CONFIG.plugins("output", "elasticsearch")
    assert output.options["document_id"] == "%{" + fingerprint.options["target"] + "}"
    assert "[event][original]" in fingerprint.options["source"]


# -- the replay command -----------------------------------------------------------------

@pytest.fixture
def logstash_home(tmp_path: Path) -> Path:
    """An install layout with a logstash binary that records how it was started."""
    home = tmp_path / "ls"
    (home / "bin").mkdir(parents=True)
    (home / "config").mkdir()
    (home / "pipeline").mkdir()
    (home / "data/dead_letter_queue/flask").mkdir(parents=True)
    settings = (REPO_ROOT / "logstash/config/logstash.yml").read_text()
    (home / "config/logstash.yml").write_text(settings)
    (home / "pipeline/dlq_replay.conf").write_text("")
    fake = home / "bin/logstash"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD"\n'
                    'printf "%s" "$LOGSTASH_WRITER_PASSWORD" > "$RECORD.password"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return home


def replay(home: Path, secret: Path, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "LOGSTASH_HOME": str(home),
            "LOGSTASH_WRITER_PASSWORD_FILE": str(secret), "RECORD": str(home / "argv")}
    # As documented for compose: the script's text handed to `bash -c` (it is not mounted).
    command = ["bash", "-c", SCRIPT.read_text(), "dlq-replay"]
    return subprocess.run(command, env={**base, **env}, capture_output=True,
                          text=True, check=False, timeout=60)


def test_replay_starts_beside_the_running_logstash(logstash_home, tmp_path):
    secret = tmp_path / "logstash_writer_password"
    secret.write_text("s3cr3t-from-file")
    result = replay(logstash_home, secret)
    assert result.returncode == 0, result.stderr
    argv = (logstash_home / "argv").read_text().splitlines()
    options = dict(zip(argv[::2], argv[1::2], strict=False))
    assert int(options["--api.http.port"]) != SETTINGS["api.http.port"]
    main_data = logstash_home / "data"
    replay_data = Path(options["--path.data"])
    assert replay_data != main_data
    assert replay_data.parent == main_data  # on the same durable volume
    assert options["--pipeline.id"] == "dlq_replay"
    assert options["-f"] == str(logstash_home / "pipeline/dlq_replay.conf")
    assert (logstash_home / "argv.password").read_text() == "s3cr3t-from-file"
    assert "s3cr3t" not in result.stderr + result.stdout


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_replay_fails_loudly_without_the_password(logstash_home, tmp_path, content):
    secret = tmp_path / "logstash_writer_password"
    if content is not None:
        secret.write_text(content)
    result = replay(logstash_home, secret)
    assert result.returncode == 2
    assert str(secret) in result.stderr
    assert not (logstash_home / "argv").exists()


def test_replay_takes_the_password_from_the_environment_on_hosts(logstash_home, tmp_path):
    # Ansible hosts: systemd's environment file is sourced instead (docs/logstash.md).
    result = replay(logstash_home, tmp_path / "absent", LOGSTASH_WRITER_PASSWORD="from-env")
    assert result.returncode == 0, result.stderr
    assert (logstash_home / "argv.password").read_text() == "from-env"


def test_replay_refuses_the_main_path_data(logstash_home, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("x")
    result = replay(logstash_home, secret, DLQ_REPLAY_DATA=str(logstash_home / "data"))
    assert result.returncode == 2
    assert "path.data" in result.stderr


def test_replay_says_when_there_is_nothing_to_replay(logstash_home, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("x")
    (logstash_home / "data/dead_letter_queue/flask").rmdir()
    result = replay(logstash_home, secret)
    assert result.returncode == 3
    assert "nothing to replay" in result.stderr


def test_the_documented_commands_use_the_script():
    docs = (REPO_ROOT / "docs/logstash.md").read_text()
    assert 'docker compose run --rm --no-deps --entrypoint bash logstash' in docs
    assert '"$(cat logstash/bin/dlq-replay)"' in docs
    assert "--api.http.port" in docs  # the host procedure too
