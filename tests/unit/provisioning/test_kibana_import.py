"""The Kibana step imports every object in one upload, checks the body, names every error, and
keeps the alert rule in place without needless updates; against a fake as strict as Kibana."""

import itertools
import json
import random
import secrets

import pytest
import requests

from elk_provision import cli, kibana_objects
from elk_provision.errors import ProvisioningError
from elk_provision.kibana_objects import apply_rule, provision_kibana, wait_for_kibana
from tests.conftest import REPO_ROOT
from tests.support.fake_kibana import FakeKibana, import_objects, pinned_kibana_version

OBJECTS = REPO_ROOT / "kibana" / "saved_objects"
RULES = REPO_ROOT / "kibana" / "rules"
SHIPPED = [json.loads(line) for path in sorted(OBJECTS.glob("*.ndjson"))
           for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def kibana():
    with FakeKibana() as server:
        yield server


def run(kibana, timeout=5.0, objects_dir=OBJECTS, user="elastic", rules_dir=None):
    return provision_kibana(url=kibana.url, username=user, password="pw", ca_file=None,
                            objects_dir=objects_dir, timeout=timeout, rules_dir=rules_dir)


# ---------------------------------------------------------------- saved objects

def test_a_fresh_kibana_gets_every_shipped_object(kibana):
    # Defect 1: one file at a time, dashboards.ndjson went first and failed with
    # missing_references because the data view was not stored yet.
    lines = run(kibana)
    assert set(kibana.objects) == {(o["type"], o["id"]) for o in SHIPPED}
    assert ("dashboard", "flask-overview") in kibana.objects
    assert "dashboard flask-overview: imported" in lines
    assert "index-pattern flask-logs: imported" in lines


def test_everything_goes_up_in_one_upload_with_overwrite_xsrf_and_credentials(kibana):
    run(kibana)
    (upload,) = kibana.imports
    assert upload["path"] == "/api/saved_objects/_import?overwrite=true"
    assert upload["xsrf"] == "true"
    assert upload["field"] == "file"
    assert upload["filename"].endswith(".ndjson")
    assert upload["user"] == "elastic"
    sent = [json.loads(line) for line in upload["body"].splitlines()]
    assert sent == SHIPPED


def test_second_import_overwrites_instead_of_duplicating(kibana):
    first = run(kibana)
    second = run(kibana)
    assert len(first) == len(second) == len(kibana.objects) == len(SHIPPED)
    assert all(line.endswith("overwritten") for line in second)


def test_file_order_does_not_matter(kibana, tmp_path):
    # The dashboards sort before the data view they use: still one upload that resolves.
    (tmp_path / "a-dashboards.ndjson").write_text((OBJECTS / "dashboards.ndjson").read_text())
    (tmp_path / "z-data-view.ndjson").write_text((OBJECTS / "flask-logs.ndjson").read_text())
    run(kibana, objects_dir=tmp_path)
    assert ("dashboard", "flask-pipeline-health") in kibana.objects


@pytest.mark.parametrize("seed", range(40))
def test_any_split_of_the_objects_into_files_imports_into_an_empty_kibana(tmp_path, seed):
    # Seeded, so a failure names the split that broke; the fake's import rules decide.
    chance = random.Random(seed)
    shuffled = chance.sample(SHIPPED, len(SHIPPED))
    cuts = sorted(chance.sample(range(1, len(shuffled)), chance.randint(0, len(shuffled) - 1)))
    files = []
    for number, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(shuffled)], strict=True)):
        path = tmp_path / f"{chance.randint(0, 999):03d}-{number}.ndjson"
        path.write_text("".join(json.dumps(o) + "\n" for o in shuffled[start:end]))
        files.append(path)
    store = {}
    body = import_objects(store, [json.loads(line) for line in
                                  kibana_objects.bundle_ndjson(sorted(files)).splitlines()],
                          overwrite=True, kibana_version=pinned_kibana_version())
    assert body["success"] is True, body.get("errors")
    assert set(store) == {(o["type"], o["id"]) for o in SHIPPED}


def test_a_reference_kibana_lacks_fails_with_its_error_list_and_writes_nothing(kibana, tmp_path):
    (tmp_path / "dashboards.ndjson").write_text((OBJECTS / "dashboards.ndjson").read_text())
    with pytest.raises(ProvisioningError) as info:
        run(kibana, objects_dir=tmp_path)
    message = str(info.value)
    assert ("dashboard flask-overview: missing_references "
            "(index-pattern:flask-logs, search:flask-5xx, search:flask-errors)") in message
    assert "map flask-client-map: missing_references (index-pattern:flask-logs)" in message
    assert "dashboard flask-pipeline-health: missing_references (index-pattern:flask-logs)" in (
        message)
    assert "nothing was written" in message
    assert kibana.objects == {}


def test_an_error_of_one_object_only_does_not_claim_nothing_was_written(kibana, tmp_path):
    (tmp_path / "x.ndjson").write_text(json.dumps({"type": "no-such-type", "id": "x"}) + "\n"
                                       + (OBJECTS / "flask-logs.ndjson").read_text())
    with pytest.raises(ProvisioningError) as info:
        run(kibana, objects_dir=tmp_path)
    assert "(the objects listed were not written): no-such-type x: unsupported_type" in str(
        info.value)
    assert ("index-pattern", "flask-logs") in kibana.objects


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


def test_http_200_saying_success_false_without_errors_is_still_a_failure(kibana):
    kibana.respond_with = (200, {"success": False, "successCount": 0})
    with pytest.raises(ProvisioningError, match="no error list given"):
        run(kibana)


def test_kibana_system_is_refused_and_the_refusal_is_reported(kibana):
    with pytest.raises(ProvisioningError, match="403: Unable to bulk_create"):
        run(kibana, user="kibana_system")
    assert kibana.objects == {}


def test_an_object_newer_than_the_running_kibana_is_reported(kibana, tmp_path):
    (view,) = [o for o in SHIPPED if o["type"] == "index-pattern"]
    newer = dict(view, typeMigrationVersion="99.0.0")
    (tmp_path / "newer.ndjson").write_text(json.dumps(newer) + "\n")
    with pytest.raises(ProvisioningError, match=r"422: .*more recent version of Kibana"):
        run(kibana, objects_dir=tmp_path)


def test_a_type_and_id_in_two_files_is_refused_before_upload(kibana, tmp_path):
    line = json.dumps(SHIPPED[0])
    (tmp_path / "a.ndjson").write_text(line + "\n")
    (tmp_path / "b.ndjson").write_text(line + "\n")
    with pytest.raises(ProvisioningError, match=r"is in both a\.ndjson:1 and b\.ndjson:1"):
        run(kibana, objects_dir=tmp_path)
    assert kibana.imports == []


@pytest.mark.parametrize("errors", [["not an object"], "a string", [{"error": "flat"}]])
def test_an_error_list_of_unexpected_shape_is_still_a_clear_failure(kibana, errors):
    kibana.respond_with = (200, {"success": False, "errors": errors})
    with pytest.raises(ProvisioningError, match="unreadable error entry"):
        run(kibana)


def test_a_broken_line_names_file_and_line(tmp_path):
    (tmp_path / "x.ndjson").write_text('{"type": "search", "id": "a"}\n{oops\n')
    with pytest.raises(ProvisioningError, match=r"x.ndjson:2 is not JSON"):
        kibana_objects.bundle_ndjson([tmp_path / "x.ndjson"])


def test_files_without_final_newline_do_not_merge_lines(tmp_path):
    (tmp_path / "a.ndjson").write_text('{"type": "search", "id": "a"}')
    (tmp_path / "b.ndjson").write_text('{"type": "search", "id": "b"}')
    body = kibana_objects.bundle_ndjson([tmp_path / "a.ndjson", tmp_path / "b.ndjson"])
    assert [json.loads(x)["id"] for x in body.splitlines()] == ["a", "b"]


def test_waits_for_kibana_then_imports(kibana):
    kibana.unavailable_for = 2
    wait_for_kibana(requests.Session(), kibana.url, timeout=10, sleep=lambda s: None)
    assert kibana.unavailable_for == 0


def test_a_status_answer_of_another_shape_is_waited_out_not_a_crash(kibana, monkeypatch):
    session = requests.Session()
    monkeypatch.setattr(session, "get", lambda *a, **k: FakeResponse(200, ["available"]))
    with pytest.raises(ProvisioningError, match="not available after"):
        wait_for_kibana(session, kibana.url, timeout=0.2, sleep=lambda s: None)


class FakeResponse:
    def __init__(self, status, body):
        self.status_code = status
        self._body = body
        self.text = json.dumps(body)

    def json(self):
        return self._body


def test_gives_up_at_the_deadline(kibana):
    kibana.status_level = "degraded"
    with pytest.raises(ProvisioningError, match="not available after"):
        run(kibana, timeout=0.3)


def test_cli_kibana_step(kibana, tmp_path, capsys):
    password = secrets.token_urlsafe(20)
    (tmp_path / "elastic_password").write_text(password)
    kibana.users["elastic"] = (password, True)
    args = ["kibana", "--kibana-url", kibana.url, "--secrets-dir", str(tmp_path),
            "--objects-dir", str(OBJECTS), "--kibana-timeout", "5"]
    assert cli.main([*args, "--rules-dir", str(RULES)]) == 0
    out = capsys.readouterr().out
    assert "saved objects and rules in place" in out
    assert "rule flask-error-rate: created" in out


# ---------------------------------------------------------------- the alert rule

SHIPPED_RULES = sorted(p.stem for p in RULES.glob("*.json"))


def test_every_shipped_rule_is_created_then_left_alone_then_repaired(kibana):
    assert SHIPPED_RULES == ["flask-error-rate", "flask-latency-p95"]
    first = run(kibana, rules_dir=RULES)
    for rule_id in SHIPPED_RULES:
        assert f"rule {rule_id}: created" in first
        rule = kibana.rules[rule_id]
        assert rule["rule_type_id"] == ".es-query"
        assert rule["params"]["searchType"] == "esqlQuery"
        assert rule["params"] == json.loads((RULES / f"{rule_id}.json").read_text())["params"]
    second = run(kibana, rules_dir=RULES)
    assert [f"rule {r}: unchanged" for r in SHIPPED_RULES] == second[-2:]
    shipped_esql = kibana.rules["flask-error-rate"]["params"]["esqlQuery"]["esql"]
    kibana.rules["flask-error-rate"]["params"]["esqlQuery"] = {"esql": "FROM x | LIMIT 1"}
    third = run(kibana, rules_dir=RULES)
    assert "rule flask-error-rate: updated (params)" in third
    assert "rule flask-latency-p95: unchanged" in third
    assert kibana.rules["flask-error-rate"]["params"]["esqlQuery"]["esql"] == shipped_esql
    assert [m for m, _ in kibana.rule_calls].count("POST") == 2
    assert kibana.api_keys_minted == 3  # two creates, one repair


def test_a_pre_esql_rule_under_our_id_is_replaced_by_the_ratio_rule(kibana, tmp_path):
    # Installs provisioned before issue 17 hold the count-of-failures rule under this id.
    session = session_for(kibana)
    apply_rule(session, kibana.url, write_rule(tmp_path))
    assert kibana.rules["flask-error-rate"]["params"]["searchType"] == "esQuery"
    assert apply_rule(session, kibana.url, RULES / "flask-error-rate.json") == (
        "rule flask-error-rate: updated (name, params)")
    params = kibana.rules["flask-error-rate"]["params"]
    assert params["searchType"] == "esqlQuery"
    assert "index" not in params
    assert "esQuery" not in params


# A Query DSL rule in the shape the bundle shipped before the ES|QL rules; the tests of
# Kibana's param defaults use it because the DSL mode has the most defaulted params.
DSL_RULE = {
    "name": "Flask: error rate above threshold", "rule_type_id": ".es-query",
    "consumer": "stackAlerts", "tags": ["flask-elk-bundle"], "schedule": {"interval": "1m"},
    "params": {"index": ["logs-flask.*-*"], "timeField": "@timestamp",
               "esQuery": json.dumps({"query": {"term": {"event.outcome": "failure"}}}),
               "size": 10, "threshold": [25], "thresholdComparator": ">",
               "timeWindowSize": 5, "timeWindowUnit": "m"},
    "actions": [],
}


def write_rule(tmp_path, **params_override):
    rule = json.loads(json.dumps(DSL_RULE))
    rule["params"].update(params_override)
    path = tmp_path / "flask-error-rate.json"
    path.write_text(json.dumps(rule))
    return path


def test_a_rule_relying_on_kibanas_defaults_is_left_alone_and_mints_no_new_api_key(
        kibana, tmp_path):
    # Defect 8: Kibana returns the params defaulted; comparing them with the file's made every
    # run an update, and every update a new API key.
    path = write_rule(tmp_path)
    session = requests.Session()
    session.auth = ("elastic", "pw")
    assert apply_rule(session, kibana.url, path) == "rule flask-error-rate: created"
    assert kibana.rules["flask-error-rate"]["params"]["aggType"] == "count"
    assert apply_rule(session, kibana.url, path) == "rule flask-error-rate: unchanged"
    assert apply_rule(session, kibana.url, path) == "rule flask-error-rate: unchanged"
    assert kibana.api_keys_minted == 1
    assert [m for m, _ in kibana.rule_calls].count("PUT") == 0


DEFAULTED = ("aggType", "groupBy", "excludeHitsFromPreviousRun", "searchType")


@pytest.mark.parametrize("stated", [c for n in range(len(DEFAULTED) + 1)
                                    for c in itertools.combinations(DEFAULTED, n)])
def test_stating_any_of_kibanas_defaults_or_none_reads_as_unchanged(kibana, tmp_path, stated):
    defaults = {"aggType": "count", "groupBy": "all", "excludeHitsFromPreviousRun": True,
                "searchType": "esQuery"}
    path = write_rule(tmp_path, **{k: defaults[k] for k in stated})
    apply_rule(session_for(kibana), kibana.url, path)
    assert apply_rule(session_for(kibana), kibana.url, path) == "rule flask-error-rate: unchanged"
    assert kibana.api_keys_minted == 1


def test_a_stored_param_the_file_dropped_is_an_update(kibana, tmp_path):
    session = requests.Session()
    session.auth = ("elastic", "pw")
    apply_rule(session, kibana.url, write_rule(tmp_path, aggType="max", aggField="event.duration"))
    assert apply_rule(session, kibana.url, write_rule(tmp_path)) == (
        "rule flask-error-rate: updated (params)")
    assert "aggField" not in kibana.rules["flask-error-rate"]["params"]
    assert kibana.rules["flask-error-rate"]["params"]["aggType"] == "count"


def test_the_update_never_sends_what_put_refuses(kibana):
    run(kibana, rules_dir=RULES)
    kibana.rules["flask-error-rate"]["name"] = "renamed by hand"
    assert "rule flask-error-rate: updated (name)" in run(kibana, rules_dir=RULES)
    shipped = json.loads((RULES / "flask-error-rate.json").read_text())
    assert kibana.rules["flask-error-rate"]["name"] == shipped["name"]


def test_a_rule_of_another_type_under_our_id_is_reported_not_patched(kibana):
    run(kibana, rules_dir=RULES)
    kibana.rules["flask-error-rate"]["rule_type_id"] = ".index-threshold"
    with pytest.raises(ProvisioningError, match=r"rule_type_id '\.index-threshold'.*delete"):
        run(kibana, rules_dir=RULES)


def session_for(kibana):
    session = requests.Session()
    session.auth = ("elastic", "pw")
    return session


def test_a_create_kibana_refuses_is_an_error_with_kibanas_message(kibana, tmp_path):
    # The mutation that ignored a non-2xx answer from the rule API survived every test.
    path = write_rule(tmp_path, threshold="25")
    with pytest.raises(ProvisioningError, match=r"rule flask-error-rate: Kibana said 400: .*"
                                                r"\[threshold\]"):
        apply_rule(session_for(kibana), kibana.url, path)
    assert kibana.rules == {}


def test_an_update_kibana_refuses_is_an_error(kibana, tmp_path):
    apply_rule(session_for(kibana), kibana.url, write_rule(tmp_path))
    path = write_rule(tmp_path, groupBy="row")
    with pytest.raises(ProvisioningError, match=r"Kibana said 400: .*groupBy"):
        apply_rule(session_for(kibana), kibana.url, path)


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("status", [400, 403, 500])
def test_any_answer_but_200_from_a_rule_write_fails(kibana, tmp_path, method, status):
    if method == "PUT":
        apply_rule(session_for(kibana), kibana.url, write_rule(tmp_path))
        kibana.rules["flask-error-rate"]["params"]["threshold"] = [1]
    kibana.rule_answer[method] = (status, {"message": f"refused with {status}"})
    with pytest.raises(ProvisioningError, match=f"Kibana said {status}: refused with {status}"):
        apply_rule(session_for(kibana), kibana.url, write_rule(tmp_path))


def test_a_rule_read_kibana_refuses_is_an_error(kibana):
    kibana.rule_answer["GET"] = (403, {"message": "Unauthorized to get a rule"})
    with pytest.raises(ProvisioningError, match="Kibana said 403: Unauthorized to get"):
        apply_rule(session_for(kibana), kibana.url, RULES / "flask-error-rate.json")


def test_a_rule_file_that_is_not_json_names_the_file(kibana, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{oops")
    with pytest.raises(ProvisioningError, match=r"rule file broken\.json is not JSON"):
        apply_rule(session_for(kibana), kibana.url, path)


def test_a_rule_answer_that_is_not_a_rule_is_an_error(kibana):
    kibana.rule_answer["GET"] = (200, ["not", "a", "rule"])
    with pytest.raises(ProvisioningError, match="not a rule"):
        apply_rule(session_for(kibana), kibana.url, RULES / "flask-error-rate.json")


def test_a_rule_kibana_refuses_does_not_keep_the_others_out(kibana, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    broken = json.loads((RULES / "flask-error-rate.json").read_text())
    broken["params"]["threshold"] = [1]  # ES|QL mode insists on [0]
    (rules / "a-broken.json").write_text(json.dumps(broken))
    for rule_id in SHIPPED_RULES:
        (rules / f"{rule_id}.json").write_text((RULES / f"{rule_id}.json").read_text())
    with pytest.raises(ProvisioningError) as info:
        run(kibana, rules_dir=rules)
    message = str(info.value)
    assert message.startswith("1 rule(s) failed: rule a-broken: Kibana said 400")
    assert "[threshold]: is required to be 0" in message
    assert "rule flask-error-rate: created; rule flask-latency-p95: created" in message
    assert sorted(kibana.rules) == SHIPPED_RULES
