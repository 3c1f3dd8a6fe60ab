"""The Kibana step imports with overwrite, checks the body, and names every error."""

import secrets

import pytest

from elk_provision import cli
from elk_provision.errors import ProvisioningError
from elk_provision.kibana_objects import provision_kibana, wait_for_kibana
from tests.conftest import REPO_ROOT
from tests.support.fake_kibana import FakeKibana

OBJECTS = REPO_ROOT / "kibana" / "saved_objects"


@pytest.fixture
def kibana():
    with FakeKibana() as server:
        yield server


def run(kibana, timeout=5.0):
    return provision_kibana(url=kibana.url, username="elastic", password="pw", ca_file=None,
                            objects_dir=OBJECTS, timeout=timeout)


def test_import_sends_ndjson_with_overwrite_and_xsrf(kibana):
    lines = run(kibana)
    assert sorted(u["filename"] for u in kibana.imports) == sorted(
        p.name for p in OBJECTS.glob("*.ndjson"))
    for upload in kibana.imports:
        assert upload["path"] == "/api/saved_objects/_import?overwrite=true"
        assert upload["xsrf"] == "true"
        assert upload["field"] == "file"
        assert upload["auth"].startswith("Basic ")
        assert upload["body"] == (OBJECTS / upload["filename"]).read_text()
    assert "index-pattern flask-logs: imported" in lines
    assert "dashboard flask-overview: imported" in lines


def test_second_import_overwrites_instead_of_duplicating(kibana):
    first = run(kibana)
    second = run(kibana)
    assert len(first) == len(second) == len(kibana.objects)
    assert all(line.endswith("overwritten") for line in second)


def test_http_200_with_errors_is_a_failure_that_lists_them(kibana):
    kibana.respond_with = (200, {"success": False, "successCount": 0, "errors": [
        {"type": "search", "id": "flask-errors", "error": {
            "type": "missing_references",
            "references": [{"type": "index-pattern", "id": "flask-logs"}]}},
        {"type": "dashboard", "id": "x", "error": {"type": "unknown", "message": "boom"}}]})
    with pytest.raises(ProvisioningError) as info:
        run(kibana)
    message = str(info.value)
    assert "search flask-errors: missing_references (index-pattern:flask-logs)" in message
    assert "dashboard x: unknown (boom)" in message


def test_non_200_is_reported_with_kibanas_message(kibana):
    kibana.respond_with = (403, {"message": "Unable to bulk_create index-pattern"})
    with pytest.raises(ProvisioningError, match="403: Unable to bulk_create"):
        run(kibana)


def test_waits_for_kibana_then_imports(kibana):
    kibana.unavailable_for = 2
    import requests

    wait_for_kibana(requests.Session(), kibana.url, timeout=10, sleep=lambda s: None)
    assert kibana.unavailable_for == 0


def test_gives_up_at_the_deadline(kibana):
    kibana.status_level = "degraded"
    with pytest.raises(ProvisioningError, match="not available after"):
        run(kibana, timeout=0.3)


def test_cli_kibana_step(kibana, tmp_path, capsys):
    (tmp_path / "elastic_password").write_text(secrets.token_urlsafe(20))
    args = ["kibana", "--kibana-url", kibana.url, "--secrets-dir", str(tmp_path),
            "--objects-dir", str(OBJECTS), "--kibana-timeout", "5"]
    assert cli.main([*args, "--rules-dir", str(RULES)]) == 0
    out = capsys.readouterr().out
    assert "saved objects and rules in place" in out
    assert "rule flask-error-rate: created" in out


RULES = REPO_ROOT / "kibana" / "rules"


def run_with_rules(kibana):
    return provision_kibana(url=kibana.url, username="elastic", password="pw", ca_file=None,
                            objects_dir=OBJECTS, timeout=5, rules_dir=RULES)


def test_alert_rule_is_created_then_left_alone_then_repaired(kibana):
    assert "rule flask-error-rate: created" in run_with_rules(kibana)
    rule = kibana.rules["flask-error-rate"]
    assert rule["rule_type_id"] == ".es-query"
    assert rule["params"]["index"] == ["logs-flask.*-*"]
    assert "rule flask-error-rate: unchanged" in run_with_rules(kibana)
    kibana.rules["flask-error-rate"]["params"]["threshold"] = [999]
    assert "rule flask-error-rate: updated" in run_with_rules(kibana)
    assert kibana.rules["flask-error-rate"]["params"]["threshold"] == [25]
    assert [m for m, _ in kibana.rule_calls].count("POST") == 1


def test_rule_fields_are_mapped():
    import json

    from tests.support import es_mappings

    mapped = {}
    for template in es_mappings.index_templates():
        mapped.update(es_mappings.mapped_fields(template))
    rule = json.loads((RULES / "flask-error-rate.json").read_text())
    query = json.loads(rule["params"]["esQuery"])
    fields = {next(iter(f["term"])) for f in query["query"]["bool"]["filter"]}
    fields.add(rule["params"]["timeField"])
    for name in fields:
        assert name in mapped, name
