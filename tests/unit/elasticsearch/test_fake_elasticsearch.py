"""The fake Elasticsearch refuses what Elasticsearch 9.5 refuses (for what our code relies on).

Each test sends what the real server refuses and expects the real server's status; the
positive twin beside it shows the refusal is about that one thing.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support import es_spec
from tests.support.fake_elasticsearch import FakeElasticsearch

PASSWORD = "elastic-password-for-tests"
POLICY = {"policy": {"phases": {
    "hot": {"min_age": "0ms", "actions": {"rollover": {"max_age": "1d"}}},
    "warm": {"min_age": "2d", "actions": {"forcemerge": {"max_num_segments": 1}}},
    "delete": {"min_age": "14d", "actions": {"delete": {}}}}}}


@pytest.fixture
def fake():
    with FakeElasticsearch(PASSWORD) as server:
        yield server


def call(fake: FakeElasticsearch, method: str, path: str, body: Any = None,
         user: tuple[str, str] | None = ("elastic", PASSWORD)) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fake.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if user is not None:
        token = base64.b64encode(":".join(user).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def reason(answer: Any) -> str:
    return answer["error"]["reason"]


def test_schemas_name_their_spec_commit_and_cover_every_call_provisioning_makes():
    assert len(es_spec.spec_commit()) == 40
    assert set(es_spec.operations()) >= {
        "PUT /_ilm/policy/{policy}", "PUT /_component_template/{name}",
        "PUT /_index_template/{name}", "PUT /_security/role/{name}",
        "PUT /_security/user/{username}", "PUT /_snapshot/{repository}",
        "PUT /_slm/policy/{policy_id}", "PUT /_security/user/{username}/_password"}


def test_a_valid_policy_is_accepted(fake):
    assert call(fake, "PUT", "/_ilm/policy/p", POLICY)[0] == 200
    assert fake.validated == [("PUT /_ilm/policy/{policy}", POLICY)]


@pytest.mark.parametrize(("body", "needle"), [
    ({"polcy": POLICY["policy"]}, "'polcy' was unexpected"),
    ({"policy": {"phases": {"delete": {"actions": {"delete": {}, "shred": {}}}}}},
     "'shred' was unexpected"),
    ({"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": 1}}}}}}, "max_age"),
    ({"policy": {"phases": {"hot": {"actions": {"set_priority": {"priority": "high"}}}}}},
     "priority"),
], ids=["misspelt-key", "unknown-ilm-action", "wrong-type-duration", "wrong-type-number"])
def test_ilm_bodies_outside_the_specification_are_refused(fake, body, needle):
    status, answer = call(fake, "PUT", "/_ilm/policy/p", body)
    assert status == 400
    assert needle in reason(answer)
    assert "p" not in fake.ilm


def test_a_later_phase_starting_earlier_is_refused(fake):
    body = json.loads(json.dumps(POLICY))
    body["policy"]["phases"]["delete"]["min_age"] = "1d"
    status, answer = call(fake, "PUT", "/_ilm/policy/p", body)
    assert status == 400
    assert answer["error"]["type"] == "action_request_validation_exception"
    assert "delete phase (min_age: 1d) before the warm phase (min_age: 2d)" in reason(answer)
    body["policy"]["phases"]["delete"]["min_age"] = "2d"  # equal is allowed
    assert call(fake, "PUT", "/_ilm/policy/p", body)[0] == 200


@pytest.mark.parametrize(("mapping", "accepted"), [
    ({"type": "keyword", "ignore_above": 1024}, True),
    ({"type": "keyword", "ignore_abov": 1024}, False),
    ({"type": "wildcard", "fields": {"text": {"type": "match_only_text"}}}, True),
    ({"type": "long", "index": "yes"}, False),
    ({"properties": {"inner": {"type": "ip"}}}, True),
    ({"properties": {"inner": {"type": "keywrod"}}}, False),
    ({"type": "keyword", "fields": {"text": {"type": "txt"}}}, False),
])
def test_mappings_are_checked_against_the_specification(fake, mapping, accepted):
    body = {"template": {"mappings": {"dynamic": True, "properties": {"f": mapping}}},
            "_meta": {"bundle_hash": "x", "nested": {"any": ["value"]}}}
    status, _ = call(fake, "PUT", "/_component_template/c", body)
    assert (status == 200) is accepted


def test_snapshot_repository_compress_is_a_boolean(fake):
    body = {"type": "fs", "settings": {"location": "/snapshots", "compress": "true"}}
    assert call(fake, "PUT", "/_snapshot/r", body)[0] == 400
    body["settings"]["compress"] = True
    assert call(fake, "PUT", "/_snapshot/r", body)[0] == 200
    answer = call(fake, "GET", "/_snapshot/r")[1]
    assert answer["r"]["settings"] == {"location": "/snapshots", "compress": "true"}


def test_index_template_needs_its_components_and_a_priority_above_the_builtin_logs(fake):
    template = {"index_patterns": ["logs-flask.x-*"], "data_stream": {}, "priority": 250,
                "composed_of": ["logs@mappings", "mine"]}
    status, answer = call(fake, "PUT", "/_index_template/t", template)
    assert status == 400
    assert "['mine'] that do not exist" in reason(answer)
    template["ignore_missing_component_templates"] = ["mine"]
    assert call(fake, "PUT", "/_index_template/t", template)[0] == 200
    template["priority"] = 100  # the built-in `logs` template: logs-*-* at 100
    status, answer = call(fake, "PUT", "/_index_template/t", template)
    assert status == 400
    assert "same priority [100]" in reason(answer)


def test_create_on_an_existing_template_is_refused(fake):
    body = {"template": {"settings": {"index": {"number_of_shards": 1}}}}
    assert call(fake, "PUT", "/_component_template/c?create=true", body)[0] == 200
    status, answer = call(fake, "PUT", "/_component_template/c?create=true", body)
    assert status == 400
    assert "already exists" in reason(answer)


def data_stream(fake):
    template = {"index_patterns": ["logs-flask.app-*"], "data_stream": {}, "priority": 250}
    assert call(fake, "PUT", "/_index_template/t", template)[0] == 200
    return "/logs-flask.app-default"


def test_create_with_an_existing_id_is_a_conflict_until_rollover(fake):
    stream = data_stream(fake)
    assert call(fake, "PUT", f"{stream}/_create/abc", {"message": "one"})[0] == 201
    status, answer = call(fake, "PUT", f"{stream}/_create/abc", {"message": "two"})
    assert status == 409
    assert answer["error"]["type"] == "version_conflict_engine_exception"
    assert call(fake, "POST", f"{stream}/_rollover")[0] == 200
    assert call(fake, "PUT", f"{stream}/_create/abc", {"message": "two"})[0] == 201


def test_data_streams_take_only_create(fake):
    stream = data_stream(fake)
    status, answer = call(fake, "PUT", f"{stream}/_doc/abc", {"message": "one"})
    assert status == 400
    assert "op_type of create" in reason(answer)
    assert call(fake, "PUT", f"{stream}/_doc/abc?op_type=create", {"message": "one"})[0] == 201


@pytest.mark.parametrize("target", ["logs-*", "_all", "*", "logs-flask.app-default,logs-*"])
def test_wildcard_deletes_are_refused_for_every_user_before_authorization(fake, target):
    stream = data_stream(fake)
    call(fake, "PUT", f"{stream}/_create/abc", {"message": "one"})
    call(fake, "PUT", "/_security/role/reader", {"indices": [
        {"names": ["logs-*"], "privileges": ["read"]}]})
    call(fake, "PUT", "/_security/user/reader", {"password": "reader-password-123",
                                                  "roles": ["reader"]})
    for user in (("elastic", PASSWORD), ("reader", "reader-password-123")):
        status, answer = call(fake, "DELETE", f"/{target}", user=user)
        assert status == 400, user
        assert "Wildcard expressions or all indices are not allowed" in reason(answer)
    # The same user naming the stream is refused by authorization, the superuser is not.
    reader = ("reader", "reader-password-123")
    assert call(fake, "DELETE", stream, user=reader)[0] == 403
    assert call(fake, "DELETE", stream, user=None)[0] == 401
    assert call(fake, "DELETE", stream)[0] == 200


def test_reads_come_back_the_way_elasticsearch_renders_them(fake):
    call(fake, "PUT", "/_security/role/r", {"indices": [{"names": ["a"], "privileges": ["read"]}]})
    role = call(fake, "GET", "/_security/role/r")[1]["r"]
    assert role["transient_metadata"] == {"enabled": True}
    assert role["indices"][0]["allow_restricted_indices"] is False
    call(fake, "PUT", "/_component_template/s", {"template": {"settings": {
        "number_of_shards": 1, "index.refresh_interval": "5s"}}})
    stored = call(fake, "GET", "/_component_template/s")[1]["component_templates"][0]
    assert stored["component_template"]["template"]["settings"] == {
        "index": {"number_of_shards": "1", "refresh_interval": "5s"}}
