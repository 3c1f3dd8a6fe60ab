"""The fake Kibana refuses what Kibana 9.5 refuses (each rule's source is named in the fake)."""

import json

import pytest
import requests

from tests.support.fake_kibana import FakeKibana, migration_refusal

VIEW = {"type": "index-pattern", "id": "v", "attributes": {"title": "logs-*"},
        "references": [], "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "7.11.0"}
SEARCH = {"type": "search", "id": "s", "attributes": {"title": "errors"},
          "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                          "type": "index-pattern", "id": "v"}],
          "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "7.9.3"}
BOARD = {"type": "dashboard", "id": "d", "attributes": {"title": "board"},
         "references": [{"name": "p1:panel_p1", "type": "search", "id": "s"},
                        {"name": "tag-ref", "type": "tag", "id": "not-stored"}],
         "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "8.7.0"}


@pytest.fixture
def kibana():
    with FakeKibana() as server:
        yield server


def upload(kibana, *objects, overwrite=True, user=("elastic", "pw"), name="x.ndjson",
           xsrf=True, field="file"):
    body = "".join(json.dumps(o) + "\n" for o in objects)
    return requests.post(f"{kibana.url}/api/saved_objects/_import",
                         params={"overwrite": str(overwrite).lower()}, auth=user,
                         headers={"kbn-xsrf": "true"} if xsrf else {},
                         files={field: (name, body.encode(), "application/ndjson")}, timeout=10)


# ---------------------------------------------------------------- import

def test_a_missing_reference_fails_that_object_with_200_and_nothing_is_written(kibana):
    resp = upload(kibana, VIEW, BOARD)
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is False
    (error,) = body["errors"]
    assert (error["type"], error["id"]) == ("dashboard", "d")
    assert error["error"] == {"type": "missing_references",
                              "references": [{"type": "search", "id": "s"}]}
    # Listed as a success, yet not written: create_saved_objects.ts skips bulkCreate.
    assert [r["id"] for r in body["successResults"]] == ["v"]
    assert kibana.objects == {}


def test_references_in_the_same_upload_resolve(kibana):
    resp = upload(kibana, BOARD, SEARCH, VIEW)
    assert resp.json()["success"] is True
    assert set(kibana.objects) == {("dashboard", "d"), ("search", "s"), ("index-pattern", "v")}


def test_references_stored_earlier_resolve_and_other_types_are_not_checked(kibana):
    assert upload(kibana, VIEW).json()["success"] is True
    assert upload(kibana, SEARCH).json()["success"] is True
    assert upload(kibana, BOARD).json()["success"] is True  # the tag reference is not validated


def test_without_overwrite_an_existing_object_is_a_conflict(kibana):
    upload(kibana, VIEW)
    body = upload(kibana, VIEW, overwrite=False).json()
    assert body["success"] is False
    assert body["errors"][0]["error"] == {"type": "conflict"}


def test_with_overwrite_an_existing_object_is_replaced_and_marked(kibana):
    upload(kibana, VIEW)
    body = upload(kibana, dict(VIEW, attributes={"title": "new-*"})).json()
    assert body["successResults"][0]["overwrite"] is True
    assert kibana.objects[("index-pattern", "v")]["attributes"]["title"] == "new-*"


@pytest.mark.parametrize("change", [{"typeMigrationVersion": "99.0.0"},
                                    {"coreMigrationVersion": "99.0.0"},
                                    {"coreMigrationVersion": "eight"}])
def test_an_object_from_a_newer_kibana_fails_the_whole_upload_with_422(kibana, change):
    resp = upload(kibana, dict(VIEW, **change), SEARCH)
    assert resp.status_code == 422
    assert "coreMigrationVersion" in resp.json()["message"] or (
        "more recent version of Kibana" in resp.json()["message"])
    assert kibana.objects == {}


def test_older_objects_are_migrated_to_the_latest_type_version(kibana):
    upload(kibana, VIEW)
    assert kibana.objects[("index-pattern", "v")]["typeMigrationVersion"] == "8.0.0"


def test_a_type_and_id_twice_in_one_upload_is_a_400(kibana):
    resp = upload(kibana, VIEW, VIEW)
    assert resp.status_code == 400
    assert "Non-unique import objects" in resp.json()["message"]


def test_an_unknown_type_is_an_unsupported_type_error(kibana):
    body = upload(kibana, {"type": "no-such-type", "id": "x", "attributes": {}}).json()
    assert body["errors"][0]["error"] == {"type": "unsupported_type"}


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"name": "x.json"}, 400),
    ({"xsrf": False}, 400),
    ({"field": "upload"}, 400),
    ({"user": ("elastic", "wrong")}, 401),
    ({"user": ("kibana_system", "pw")}, 403),
])
def test_refusals_of_the_request_itself(kibana, kwargs, status):
    assert upload(kibana, VIEW, **kwargs).status_code == status
    assert kibana.objects == {}


def test_a_line_that_is_not_json_is_a_400(kibana):
    resp = requests.post(f"{kibana.url}/api/saved_objects/_import", auth=("elastic", "pw"),
                         headers={"kbn-xsrf": "true"},
                         files={"file": ("x.ndjson", b"{oops\n", "application/ndjson")},
                         timeout=10)
    assert resp.status_code == 400


def test_status_answers_without_credentials(kibana):
    resp = requests.get(f"{kibana.url}/api/status", timeout=10)
    assert resp.json()["status"]["overall"]["level"] == "available"


def test_the_refusal_rule_on_versions():
    assert migration_refusal(VIEW, "9.5.6") is None
    assert migration_refusal(dict(VIEW, typeMigrationVersion="8.0.1"), "9.5.6")
    assert migration_refusal(dict(VIEW, coreMigrationVersion="9.5.7"), "9.5.6")
    assert migration_refusal(dict(VIEW, coreMigrationVersion="9.5.6"), "9.5.6") is None


# ---------------------------------------------------------------- rules

RULE = {"name": "r", "rule_type_id": ".es-query", "consumer": "stackAlerts",
        "schedule": {"interval": "1m"},
        "params": {"index": ["logs-*"], "timeField": "@timestamp",
                   "esQuery": '{"query": {"match_all": {}}}', "size": 0, "threshold": [1],
                   "thresholdComparator": ">", "timeWindowSize": 5, "timeWindowUnit": "m"}}


def rule_call(kibana, method, body, rule_id="r1"):
    return requests.request(method, f"{kibana.url}/api/alerting/rule/{rule_id}", json=body,
                            auth=("elastic", "pw"), headers={"kbn-xsrf": "true"}, timeout=10)


def test_params_are_stored_validated_and_defaulted(kibana):
    assert rule_call(kibana, "POST", RULE).status_code == 200
    stored = rule_call(kibana, "GET", None).json()
    assert stored["params"] == {**RULE["params"], "aggType": "count", "groupBy": "all",
                                "excludeHitsFromPreviousRun": True, "searchType": "esQuery"}
    assert stored["enabled"] is True
    assert kibana.api_keys_minted == 1


@pytest.mark.parametrize("params", [
    {"misspelt": 1},
    {"threshold": "1"},
    {"thresholdComparator": "between"},
    {"esQuery": "{}"},
    {"aggType": "avg"},
    {"groupBy": "row"},
    {"excludeHitsFromPreviousRun": "false"},
    {"timeWindowUnit": "w"},
])
def test_invalid_params_are_a_400(kibana, params):
    resp = rule_call(kibana, "POST", {**RULE, "params": {**RULE["params"], **params}})
    assert resp.status_code == 400
    assert kibana.rules == {}


@pytest.mark.parametrize("key", ["rule_type_id", "consumer", "enabled"])
def test_put_refuses_fields_fixed_at_creation(kibana, key):
    rule_call(kibana, "POST", RULE)
    body = {k: RULE[k] for k in ("name", "schedule", "params")}
    body[key] = RULE.get(key, True)
    resp = rule_call(kibana, "PUT", body)
    assert resp.status_code == 400
    assert f"[request body.{key}]: definition for this key is missing" in resp.json()["message"]


def test_every_update_of_an_enabled_rule_mints_an_api_key(kibana):
    rule_call(kibana, "POST", RULE)
    body = {k: RULE[k] for k in ("name", "schedule", "params")}
    assert rule_call(kibana, "PUT", body).status_code == 200
    assert kibana.api_keys_minted == 2


def test_create_twice_is_a_409_and_unknown_rule_a_404(kibana):
    rule_call(kibana, "POST", RULE)
    assert rule_call(kibana, "POST", RULE).status_code == 409
    assert rule_call(kibana, "GET", None, rule_id="nope").status_code == 404
    body = {k: RULE[k] for k in ("name", "schedule", "params")}
    assert rule_call(kibana, "PUT", body, rule_id="nope").status_code == 404


def test_esql_mode_needs_greater_than_zero(kibana):
    params = {"searchType": "esqlQuery", "esqlQuery": {"esql": "FROM logs-*"},
              "timeField": "@timestamp", "size": 0, "threshold": [5],
              "thresholdComparator": ">", "timeWindowSize": 5, "timeWindowUnit": "m"}
    assert rule_call(kibana, "POST", {**RULE, "params": params}).status_code == 400
    params["threshold"] = [0]
    assert rule_call(kibana, "POST", {**RULE, "params": params}).status_code == 200


ESQL_PARAMS = {"searchType": "esqlQuery", "esqlQuery": {"esql": "FROM logs-* | LIMIT 1"},
               "timeField": "@timestamp", "size": 0, "threshold": [0],
               "thresholdComparator": ">", "timeWindowSize": 5, "timeWindowUnit": "m"}


def test_esql_params_are_stored_defaulted_and_may_alert_per_row(kibana):
    params = {**ESQL_PARAMS, "groupBy": "row"}
    assert rule_call(kibana, "POST", {**RULE, "params": params}).status_code == 200
    stored = rule_call(kibana, "GET", None).json()["params"]
    assert stored == {**params, "aggType": "count", "excludeHitsFromPreviousRun": True}


@pytest.mark.parametrize("change", [
    {"esqlQuery": "FROM logs-* | LIMIT 1"},  # a string, not {esql: ...}
    {"esqlQuery": {"esql": ""}},
    {"esqlQuery": {"esql": "FROM logs-*", "query": "x"}},
    {"esqlQuery": {}},
    {"timeField": ""},
    {"timeField": None},
    {"thresholdComparator": ">="},
    {"threshold": [1]},
    {"index": ["logs-*"]},  # DSL-only keys are never allowed in ES|QL mode
    {"esQuery": '{"query": {"match_all": {}}}'},
    {"searchConfiguration": {}},
    {"timeWindowSize": 0},
])
def test_esql_params_kibana_refuses_are_a_400(kibana, change):
    params = {k: v for k, v in {**ESQL_PARAMS, **change}.items() if v is not None}
    if change == {"timeField": None}:
        params.pop("timeField", None)
    resp = rule_call(kibana, "POST", {**RULE, "params": params})
    assert resp.status_code == 400, resp.json()
    assert resp.json()["message"].startswith("params invalid")
    assert kibana.rules == {}
