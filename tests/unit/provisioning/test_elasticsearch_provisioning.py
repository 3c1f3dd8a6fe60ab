"""The Elasticsearch provisioning step, through the official client, against a real socket."""

import secrets

import pytest

from elasticsearch import Elasticsearch
from elk_provision import cli
from elk_provision.elasticsearch_assets import (
    ElasticsearchProvisioner,
    load_asset,
    phase_order_error,
    wait_until_ready,
)
from elk_provision.errors import ProvisioningError
from tests.conftest import REPO_ROOT
from tests.support.fake_elasticsearch import FakeElasticsearch, Refusal, check_phase_timings

ASSETS = REPO_ROOT / "elasticsearch"
ENV = {"ACCESS_LOG_RETENTION": "14d", "APP_LOG_RETENTION": "30d"}


@pytest.fixture
def secrets_dir(tmp_path):
    for name in ("elastic_password", "kibana_system_password", "logstash_writer_password",
                 "logs_reader_password"):
        (tmp_path / name).write_text(secrets.token_urlsafe(24))
    return tmp_path


@pytest.fixture
def fake(secrets_dir):
    with FakeElasticsearch((secrets_dir / "elastic_password").read_text()) as server:
        yield server


def client(fake, secrets_dir):
    return Elasticsearch(fake.url, basic_auth=("elastic", (secrets_dir / "elastic_password")
                                               .read_text()), request_timeout=5)


def provision(fake, secrets_dir):
    return ElasticsearchProvisioner(client(fake, secrets_dir), ASSETS, secrets_dir, ENV).run()


def test_first_run_creates_everything_in_dependency_order(fake, secrets_dir):
    changes = provision(fake, secrets_dir)
    assert {c.action for c in changes if c.kind != "password"} == {"created"}
    paths = [path for _, path in fake.writes()]
    def first(prefix):
        return next(i for i, p in enumerate(paths) if p.startswith(prefix))
    assert first("/_security/user/kibana_system/_password") < first("/_security/role/")
    assert first("/_security/role/") < first("/_security/user/logs")
    assert first("/_ilm/policy/") < first("/_component_template/") < first("/_index_template/")
    assert set(fake.index_templates) == {"logs-flask-access", "logs-flask-app"}
    assert first("/_index_template/") < first("/_snapshot/") < first("/_slm/policy/")
    assert fake.repositories["flask-logs-backup"]["type"] == "fs"
    assert fake.slm["flask-logs-daily"]["repository"] == "flask-logs-backup"
    assert fake.ilm["flask-access-logs"]["policy"]["phases"]["delete"]["min_age"] == "14d"


def test_snapshot_location_and_opt_out_come_from_the_environment(fake, secrets_dir):
    es = client(fake, secrets_dir)
    ElasticsearchProvisioner(es, ASSETS, secrets_dir,
                             {**ENV, "SNAPSHOT_LOCATION": "/mnt/shared/es"}).run()
    assert fake.repositories["flask-logs-backup"]["settings"]["location"] == "/mnt/shared/es"
    fake.repositories.clear()
    fake.slm.clear()
    changes = ElasticsearchProvisioner(es, ASSETS, secrets_dir,
                                       {**ENV, "SNAPSHOTS_ENABLED": "false"}).run()
    assert not fake.repositories
    assert not fake.slm
    assert not [c for c in changes if c.kind.startswith("snapshot")]


def test_passwords_come_from_the_secrets_directory(fake, secrets_dir):
    provision(fake, secrets_dir)
    for user in ("kibana_system", "logstash_writer", "logs_reader"):
        assert fake.passwords[user] == (secrets_dir / f"{user}_password").read_text()
    assert "password" not in fake.users["logstash_writer"]


def test_second_run_changes_nothing(fake, secrets_dir):
    provision(fake, secrets_dir)
    writes_before = len(fake.writes())
    changes = provision(fake, secrets_dir)
    assert {c.action for c in changes} == {"unchanged"}
    assert len(fake.writes()) == writes_before


def test_an_edited_asset_is_put_back(fake, secrets_dir):
    provision(fake, secrets_dir)
    fake.roles["flask_logs_writer"]["indices"][0]["privileges"].append("delete_index")
    fake.roles["flask_logs_writer"]["metadata"]["bundle_hash"] = "tampered"
    changes = provision(fake, secrets_dir)
    assert [str(c) for c in changes if c.action != "unchanged"] == [
        "role flask_logs_writer: updated"]
    assert "delete_index" not in fake.roles["flask_logs_writer"]["indices"][0]["privileges"]


def test_a_rejected_asset_is_reported_with_its_name_and_reason(fake, secrets_dir, capsys,
                                                               monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    fake.fail[("PUT", "/_index_template/logs-flask-app")] = (400, {
        "error": {"type": "illegal_argument_exception",
                  "reason": "index template [logs-flask-app] has index patterns overlapping"}})
    args = ["elasticsearch", "--es-url", fake.url, "--secrets-dir", str(secrets_dir),
            "--assets-dir", str(ASSETS), "--timeout", "5"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "index template logs-flask-app" in err
    assert "400" in err
    assert "overlapping" in err


def test_cli_succeeds_and_summarises(fake, secrets_dir, capsys, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    args = ["elasticsearch", "--es-url", fake.url, "--secrets-dir", str(secrets_dir),
            "--assets-dir", str(ASSETS), "--timeout", "5"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0
    assert capsys.readouterr().out.strip().endswith("0 changed")


def test_readiness_waits_then_succeeds(fake, secrets_dir):
    fake.unavailable_for = 3
    wait_until_ready(client(fake, secrets_dir).options(max_retries=0), timeout=10,
                     sleep=lambda s: None)
    assert fake.unavailable_for == 0


def test_readiness_gives_up_at_the_deadline(fake, secrets_dir):
    fake.unavailable_for = 10**6
    with pytest.raises(ProvisioningError, match="not ready after 0s"):
        wait_until_ready(client(fake, secrets_dir).options(max_retries=0), timeout=0.2,
                         sleep=lambda s: None)


def test_wrong_elastic_password_is_named(fake, secrets_dir):
    es = Elasticsearch(fake.url, basic_auth=("elastic", "wrong-password-xx"), request_timeout=5)
    with pytest.raises(ProvisioningError, match="elastic user's password"):
        wait_until_ready(es, timeout=5, sleep=lambda s: None)


def test_bad_retention_value_is_rejected():
    with pytest.raises(ProvisioningError, match="ACCESS_LOG_RETENTION"):
        load_asset(ASSETS / "ilm/flask-access-logs.json", {"ACCESS_LOG_RETENTION": "two weeks"})


def test_missing_secret_is_named(fake, secrets_dir):
    (secrets_dir / "logs_reader_password").unlink()
    with pytest.raises(ProvisioningError, match="logs_reader_password"):
        provision(fake, secrets_dir)


def test_a_retention_shorter_than_the_warm_phase_stops_before_anything_is_written(
        fake, secrets_dir):
    es = client(fake, secrets_dir)
    short = {**ENV, "ACCESS_LOG_RETENTION": "1d"}
    with pytest.raises(ProvisioningError) as raised:
        ElasticsearchProvisioner(es, ASSETS, secrets_dir, short).run()
    message = str(raised.value)
    assert "flask-access-logs" in message
    assert "ACCESS_LOG_RETENTION=1d" in message
    assert "warm phase (min_age 2d)" in message
    assert fake.writes() == []


def test_a_retention_equal_to_the_warm_phase_is_accepted(fake, secrets_dir):
    es = client(fake, secrets_dir)
    ElasticsearchProvisioner(es, ASSETS, secrets_dir, {**ENV, "APP_LOG_RETENTION": "48h"}).run()
    assert fake.ilm["flask-app-logs"]["policy"]["phases"]["delete"]["min_age"] == "48h"


def test_snapshot_repository_sends_booleans_and_a_rerun_leaves_it_alone(fake, secrets_dir):
    provision(fake, secrets_dir)
    assert fake.repositories["flask-logs-backup"]["settings"]["compress"] is True
    changes = provision(fake, secrets_dir)
    assert "snapshot repository flask-logs-backup: unchanged" in [str(c) for c in changes]


def test_every_body_provisioning_sends_is_checked_against_the_specification(fake, secrets_dir):
    # The fake validates each write against Elastic's 9.5 API specification
    # (tests/support/es_spec), after substitution and with the hash provisioning stamps in.
    provision(fake, secrets_dir)
    assert fake.refused == []
    assert len(fake.validated) == len(fake.writes())
    assert {operation for operation, _ in fake.validated} == {
        "PUT /_security/user/{username}/_password", "PUT /_security/role/{name}",
        "PUT /_security/user/{username}", "PUT /_ilm/policy/{policy}",
        "PUT /_component_template/{name}", "PUT /_index_template/{name}",
        "PUT /_snapshot/{repository}", "PUT /_slm/policy/{policy_id}"}
    ilm = [body for operation, body in fake.validated if operation.startswith("PUT /_ilm")]
    assert all(body["policy"]["_meta"]["bundle_hash"] for body in ilm)
    assert {body["policy"]["phases"]["delete"]["min_age"] for body in ilm} == {"14d", "30d"}


RETENTIONS = [f"{n}{unit}" for unit, values in {
    "ms": [0, 1, 172_799_999, 172_800_000], "s": [1, 172_799, 172_800, 172_801],
    "m": [1, 2_879, 2_880], "h": [0, 1, 47, 48, 49], "d": [0, 1, 2, 3, 30, 3650]}.items()
    for n in values]


@pytest.mark.parametrize("retention", RETENTIONS)
def test_provisioning_refuses_exactly_the_retentions_elasticsearch_refuses(retention):
    policy = load_asset(ASSETS / "ilm/flask-access-logs.json",
                        {"ACCESS_LOG_RETENTION": retention})["policy"]
    try:
        check_phase_timings(policy)
        elasticsearch_accepts = True
    except Refusal:
        elasticsearch_accepts = False
    assert (phase_order_error(policy) is None) is elasticsearch_accepts
