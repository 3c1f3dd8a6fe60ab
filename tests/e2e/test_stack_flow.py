"""The whole bundle on a Docker host: app -> Logstash -> Elasticsearch -> Kibana.

Runs the real docker-compose.yml (plus tests/e2e/compose.e2e.yml: no demo traffic). Expect
8-12 minutes on a first run (image pulls and builds) and about 6 GB of memory.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
import uuid

import pytest
import requests

from tests.e2e.stack import LONG_RUNNING, poll

pytestmark = [pytest.mark.e2e, pytest.mark.compose]
APP = "http://localhost:8000"
KIBANA = "http://localhost:5601"
ACCESS = "logs-flask.access-default"
APP_STREAM = "logs-flask.app-default"


def call(path, method="GET", body=None, request_id=None, headers=None):
    req = urllib.request.Request(APP + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0")
    if request_id:
        req.add_header("X-Request-ID", request_id)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def docs(es, index, query, size=100):
    es.indices.refresh(index=index, ignore_unavailable=True)
    return [h["_source"] for h in es.search(index=index, query=query, size=size,
                                            ignore_unavailable=True)["hits"]["hits"]]


def by_request(es, index, request_id):
    return docs(es, index, {"term": {"http.request.id": request_id}})


def test_every_long_running_service_is_healthy(stack):
    states = {c.Service: (c.State, c.Health) for c in stack.compose.get_containers()}
    for service in LONG_RUNNING:
        assert states[service] == ("running", "healthy"), service


def test_provisioning_is_idempotent(stack):
    for job in ("provision-es", "provision-kibana"):
        done = stack.compose_cli("run", "--rm", job)
        assert done.returncode == 0, done.stderr
        if job == "provision-es":
            assert "0 changed" in done.stdout
        assert "created" not in done.stdout


def test_requests_become_enriched_documents(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    trace = secrets.token_hex(16)
    assert call("/api/items", request_id=rid,
                headers={"traceparent": f"00-{trace}-{'1' * 16}-01",
                         "X-Forwarded-For": "8.8.8.8"}) == 200
    (access,) = poll(lambda: by_request(es, ACCESS, rid), 120, "the access event")
    assert access["event"]["duration"] > 0
    assert access["http"]["response"]["status_code"] == 200
    assert access["service"]["name"] == "flask-sample"
    assert access["user_agent"]["name"] == "Firefox"
    assert access["trace"]["id"] == trace
    assert access["event"]["ingested"] >= access["@timestamp"]
    assert access["flask"]["status_class"] == "2xx"
    assert access["client"]["ip"] == "8.8.8.8"
    assert "geo" in access["client"]


def test_exceptions_keep_their_stack_trace(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    assert call("/api/fail", request_id=rid) == 500
    events = poll(lambda: [d for d in by_request(es, APP_STREAM, rid)
                           if d["log"]["level"] == "error"], 120, "the error event")
    assert "ZeroDivisionError" in events[0]["error"]["stack_trace"]


def test_no_secret_from_the_login_body_reaches_elasticsearch(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    password, token = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
    call("/api/login", "POST", {"username": "demo", "password": password, "token": token},
         request_id=rid)
    poll(lambda: by_request(es, ACCESS, rid), 120, "the login access event")
    stored = json.dumps(docs(es, "logs-flask.*-*", {"match_all": {}}, size=10000))
    assert password not in stored
    assert token not in stored
    for secret in (password, token):
        hits = es.search(index="logs-flask.*-*", query={"query_string": {
            "query": f'"{secret}"', "default_field": "*"}})["hits"]["total"]["value"]
        assert hits == 0


def test_stream_uses_the_bundle_template_and_ilm_policy(stack):
    es = stack.es()
    call("/api/items")
    stream = poll(lambda: es.indices.get_data_stream(name=ACCESS)["data_streams"], 120,
                  "the access data stream")[0]
    assert stream["template"] == "logs-flask-access"
    assert stream["ilm_policy"] == "flask-access-logs"
    explain = es.ilm.explain_lifecycle(index=stream["indices"][0]["index_name"])
    (state,) = explain["indices"].values()
    assert state["managed"] is True
    assert state["policy"] == "flask-access-logs"


def test_bad_input_is_kept_not_lost(stack):
    es = stack.es()
    marker = f"not-json-{uuid.uuid4().hex}"
    conflict_id = uuid.uuid4().hex
    stack.send_to_logstash(
        f"this line is {marker}",
        json.dumps({"event": {"id": conflict_id, "dataset": "flask.app"}, "message": "x",
                    "http": {"response": {"status_code": {"not": "a number"}}}}),
    )
    poll(lambda: docs(es, "logs-flask.unparsed-default",
                      {"match_phrase": {"event.original": marker}}), 120, "the unparsed line")

    def conflict_kept():
        # 9.2+: the failure store keeps it; 8.x: the Logstash DLQ does; or it was stored with
        # the bad value ignored (ignore_malformed).
        stored = docs(es, "logs-flask.*-*", {"term": {"event.id": conflict_id}})
        failures = es.search(index=f"{APP_STREAM}::failures", q=conflict_id,
                             ignore_unavailable=True)["hits"]["total"]["value"]
        dlq = stack.exec("logstash", "sh", "-c",
                         "cat /usr/share/logstash/data/dead_letter_queue/flask/*.log "
                         "2>/dev/null | grep -c " + conflict_id + " || true").strip()
        return stored or failures or dlq not in ("", "0")

    poll(conflict_kept, 120, "the conflicting event in the stream, failure store or DLQ")


def test_the_same_event_sent_twice_is_stored_once(stack):
    es = stack.es()
    event_id = uuid.uuid4().hex
    line = json.dumps({"@timestamp": "2026-01-01T00:00:00.000Z", "message": "dup",
                       "event": {"id": event_id, "dataset": "flask.app"},
                       "log": {"level": "info", "logger": "e2e"}})
    stack.send_to_logstash(line, line)
    poll(lambda: docs(es, APP_STREAM, {"term": {"event.id": event_id}}), 120, "the event")
    stack.send_to_logstash(line)
    time.sleep(10)  # give a duplicate every chance to arrive before counting
    assert len(docs(es, APP_STREAM, {"term": {"event.id": event_id}})) == 1


def test_nothing_is_lost_while_logstash_restarts(stack):
    es = stack.es()
    ids = [f"outage-{uuid.uuid4().hex[:8]}-{n}" for n in range(40)]
    assert stack.compose_cli("stop", "logstash").returncode == 0
    for rid in ids[:20]:
        assert call("/healthz", request_id=rid) == 200
    assert stack.compose_cli("start", "logstash").returncode == 0
    for rid in ids[20:]:
        assert call("/api/items", request_id=rid) == 200

    def all_stored():
        found = docs(es, ACCESS, {"terms": {"http.request.id": ids}}, size=200)
        return {d["http"]["request"]["id"] for d in found} >= set(ids[20:]) and found

    poll(all_stored, 300, "every request made during and after the outage")
    # /healthz successes are sampled by design (1 in 10 kept); the API calls must all arrive.


def test_kibana_has_the_data_view_dashboards_and_rule(stack):
    auth = ("elastic", stack.secret("elastic_password"))
    found = requests.get(f"{KIBANA}/api/saved_objects/_find", params={"type": "dashboard",
                         "per_page": 100}, auth=auth, timeout=30).json()
    assert {"flask-overview", "flask-pipeline-health"} <= {o["id"] for o in found["saved_objects"]}
    view = requests.get(f"{KIBANA}/api/data_views/data_view/flask-logs", auth=auth, timeout=30)
    assert view.status_code == 200
    for dashboard in ("flask-overview", "flask-pipeline-health"):
        resolved = requests.get(f"{KIBANA}/api/saved_objects/dashboard/{dashboard}",
                                auth=auth, timeout=30).json()
        refs = [{"type": r["type"], "id": r["id"]} for r in resolved["references"]]
        got = requests.post(f"{KIBANA}/api/saved_objects/_bulk_get", json=refs, auth=auth,
                            headers={"kbn-xsrf": "true"}, timeout=30).json()
        assert not [o for o in got["saved_objects"] if "error" in o]
    rule = requests.get(f"{KIBANA}/api/alerting/rule/flask-error-rate", auth=auth, timeout=30)
    assert rule.status_code == 200


def test_anonymous_requests_are_rejected(stack):
    anonymous = requests.get("https://localhost:9200/_cat/indices", verify=str(stack.ca_file),
                             timeout=30)
    assert anonymous.status_code == 401
    kibana = requests.get(f"{KIBANA}/api/saved_objects/_find?type=dashboard", timeout=30)
    assert kibana.status_code == 401


def test_the_logstash_writer_can_only_append(stack):
    from elasticsearch import AuthorizationException

    writer = stack.es("logstash_writer")
    with pytest.raises(AuthorizationException):
        writer.indices.delete(index=".ds-logs-flask.access-default-*")
    with pytest.raises(AuthorizationException):
        writer.search(index=ACCESS)
    with pytest.raises(AuthorizationException):
        writer.search(index=".kibana*")
