"""The whole bundle on a Docker host: app -> Logstash -> Elasticsearch -> Kibana.

Runs the real docker-compose.yml (plus tests/e2e/compose.e2e.yml: no demo traffic, ephemeral
host ports; ELK_E2E_OVERLAY=cluster adds the three-node overlay). Not yet run on a Docker
host (docs/e2e.md). Tests that stop or reconfigure part of the stack are marked `disruptive`
and run after every other test (tests/e2e/ordering.py), whatever their place in this file.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import uuid

import pytest
import requests

from elk_provision.elasticsearch_assets import SNAPSHOT_REPOSITORY
from elk_provision.init_secrets import KIBANA_KEYS, PASSWORDS, SECRET_MODE
from tests.conftest import REPO_ROOT
from tests.e2e.compose_project import failed_jobs, one_shot_jobs
from tests.e2e.stack import (
    REPLAY_UNTIL,
    TEST_TIMEOUT,
    parse_time,
    poll,
    provisioning_counts,
    replayed_count,
)

pytestmark = [pytest.mark.e2e, pytest.mark.compose, pytest.mark.timeout(TEST_TIMEOUT)]
ACCESS = "logs-flask.access-default"
APP_STREAM = "logs-flask.app-default"
UNPARSED = "logs-flask.unparsed-default"
ARRIVAL = 120  # seconds for an event to go app -> Logstash -> Elasticsearch
RECENT = {"range": {"event.ingested": {"gte": "now-30m"}}}
RULES = sorted(p.stem for p in (REPO_ROOT / "kibana/rules").glob("*.json"))  # <id>.json


def call(stack, path, method="GET", body=None, request_id=None, headers=None):
    sent = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
            **({"X-Request-ID": request_id} if request_id else {}), **(headers or {})}
    return requests.request(method, stack.url("app") + path, json=body, headers=sent,
                            timeout=10).status_code


def docs(es, index, query, size=100, refresh=True):
    if refresh:  # needs more than read: the failure store and the reader search without it
        es.indices.refresh(index=index, ignore_unavailable=True)
    found = es.search(index=index, query=query, size=size, ignore_unavailable=True)
    return [hit["_source"] for hit in found["hits"]["hits"]]


def by_request(es, index, request_id):
    return docs(es, index, {"term": {"http.request.id": request_id}})


def backing_index(es, stream):
    """A concrete backing index of `stream`, checked to exist (as the superuser)."""
    name = es.indices.get_data_stream(name=stream)["data_streams"][0]["indices"][0]["index_name"]
    assert es.indices.exists(index=name)
    return name


def refused(action):
    """The status of an error the call raised; fails when the call succeeded."""
    from elasticsearch import ApiError

    with pytest.raises(ApiError) as caught:
        action()
    return caught.value.meta.status


def test_one_shot_jobs_succeeded_and_every_service_is_healthy(stack):
    containers = stack.project.containers()
    jobs = one_shot_jobs(stack.model)
    assert {"setup", "provision-es", "provision-kibana"} <= set(jobs)
    assert failed_jobs(containers, jobs) == []
    states = {c["Service"]: (c["State"], c.get("Health", "")) for c in containers}
    for name, service in stack.model["services"].items():
        if name not in jobs and service.get("healthcheck"):
            assert states.get(name) == ("running", "healthy"), name


def test_the_cluster_has_every_elasticsearch_node(stack):
    # Early: later tests create failure-store indices, whose replica settings are
    # Elasticsearch's, not the bundle's.
    es = stack.es()
    nodes = [name for name, svc in stack.model["services"].items()
             if "elasticsearch/elasticsearch" in svc.get("image", "")]
    health = poll(lambda: (h := es.cluster.health())["status"] == "green" and h,
                  ARRIVAL, "a green cluster")
    assert health["number_of_nodes"] == len(nodes)


def test_provisioning_is_idempotent(stack):
    es_run = stack.project.check("run", "--rm", "--no-deps", "-T", "provision-es")
    checked, changed = provisioning_counts(es_run)
    assert checked > 0
    assert changed == 0, es_run

    auth = ("elastic", stack.secret("elastic_password"))

    def saved_objects():
        return {kind: requests.get(f"{stack.url('kibana')}/api/saved_objects/_find",
                                   params={"type": kind, "per_page": 1}, auth=auth,
                                   timeout=30).json()["total"]
                for kind in ("index-pattern", "search", "dashboard")}

    def rule():
        return {rule_id: requests.get(f"{stack.url('kibana')}/api/alerting/rule/{rule_id}",
                                      auth=auth, timeout=30).json()
                for rule_id in RULES}

    before, rule_before = saved_objects(), rule()
    kibana_run = stack.project.check("run", "--rm", "--no-deps", "-T", "provision-kibana")
    rules = re.findall(r"^rule (\S+): (\w+)$", kibana_run, re.M)
    assert rules, kibana_run
    assert {rule_id for rule_id, _ in rules} == set(RULES), kibana_run
    assert {action for _, action in rules} == {"unchanged"}, kibana_run
    assert saved_objects() == before
    # Kibana mints a new API key on every update of an enabled rule (update_rule.ts): an
    # untouched rule keeps its update time, revision and key owner.
    rule_after = rule()
    for rule_id in RULES:
        assert rule_before[rule_id].get("updated_at"), rule_before[rule_id]
        for key in ("updated_at", "revision", "api_key_owner", "api_key_created_by_user"):
            assert rule_after[rule_id].get(key) == rule_before[rule_id].get(key), (rule_id, key)


def test_requests_become_enriched_documents(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    trace = secrets.token_hex(16)
    assert call(stack, "/api/items", request_id=rid,
                headers={"traceparent": f"00-{trace}-{'1' * 16}-01",
                         "X-Forwarded-For": "8.8.8.8"}) == 200
    (access,) = poll(lambda: by_request(es, ACCESS, rid), ARRIVAL, "the access event")
    assert access["event"]["duration"] > 0
    assert access["http"]["response"]["status_code"] == 200
    assert access["service"]["name"] == "flask-sample"
    assert access["user_agent"]["name"] == "Firefox"
    assert access["trace"]["id"] == trace
    assert parse_time(access["event"]["ingested"]) >= parse_time(access["@timestamp"])
    assert access["flask"]["status_class"] == "2xx"
    assert access["client"]["ip"] == "8.8.8.8"
    assert "geo" in access["client"]


def test_exceptions_keep_their_stack_trace(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    assert call(stack, "/api/fail", request_id=rid) == 500
    events = poll(lambda: [d for d in by_request(es, APP_STREAM, rid)
                           if d["log"]["level"] == "error"], ARRIVAL, "the error event")
    assert "ZeroDivisionError" in events[0]["error"]["stack_trace"]


def test_the_login_event_is_stored_with_its_secrets_redacted(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    password, token = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
    call(stack, "/api/login", "POST", {"username": "demo", "password": password,
                                       "token": token}, request_id=rid)
    # The event that carried the credentials must exist, or "no secret stored" proves nothing.
    (login,) = poll(lambda: [d for d in by_request(es, APP_STREAM, rid)
                             if "login attempt" in d.get("message", "")],
                    ARRIVAL, "the login event")
    assert "[REDACTED]" in json.dumps(login["flask"]["extra"])
    poll(lambda: by_request(es, ACCESS, rid), ARRIVAL, "the login access event")
    stored = json.dumps(docs(es, "logs-flask.*-*", {"term": {"http.request.id": rid}}))
    for secret in (password, token):
        assert secret not in stored
        assert secret not in stack.logs("logstash")


def test_stream_uses_the_bundle_template_and_ilm_policy(stack):
    es = stack.es()
    call(stack, "/api/items")
    stream = poll(lambda: es.indices.get_data_stream(name=ACCESS)["data_streams"], ARRIVAL,
                  "the access data stream")[0]
    assert stream["template"] == "logs-flask-access"
    assert stream["ilm_policy"] == "flask-access-logs"
    explain = es.ilm.explain_lifecycle(index=stream["indices"][0]["index_name"])
    (state,) = explain["indices"].values()
    assert state["managed"] is True
    assert state["policy"] == "flask-access-logs"


def test_an_unparsed_line_is_kept(stack):
    es = stack.es()
    marker = f"not-json-{uuid.uuid4().hex}"
    stack.send_to_logstash(f"this line is {marker}")

    def kept():
        # event.original is stored but not indexed (ECS: index false): select on indexed
        # fields, then look for the marker in the stored line.
        candidates = docs(es, UNPARSED, {"bool": {"filter": [
            {"term": {"tags": "_jsonparsefailure"}}, RECENT]}}, size=1000)
        return [d for d in candidates if marker in d.get("event", {}).get("original", "")]

    (line,) = poll(kept, ARRIVAL, "the unparsed line")
    assert line["event"]["original"] == f"this line is {marker}"
    assert line["message"].startswith("unparsed line from ")


def test_a_line_that_is_not_utf8_leaves_no_secret_in_logstashs_log(stack):
    # The line codec would log such a line whole at WARN before any filter ran
    # (logstash/config/log4j2.properties says why it cannot).
    es = stack.es()
    marker, password = uuid.uuid4().hex, secrets.token_urlsafe(18)
    stack.send_to_logstash(f"{marker} password={password} ".encode() + b"\xff\xfe")

    def kept():
        candidates = docs(es, UNPARSED, {"bool": {"filter": [
            {"term": {"tags": "_jsonparsefailure"}}, RECENT]}}, size=1000)
        return [d for d in candidates if marker in d.get("event", {}).get("original", "")]

    (line,) = poll(kept, ARRIVAL, "the line that is not UTF-8")
    assert password not in json.dumps(line)
    assert password not in stack.logs("logstash")


def test_a_badly_typed_event_lands_in_the_failure_store(stack):
    """On 9.2+ `logs@settings` enables the failure store: a mapping failure is stored in
    `<stream>::failures` (Elasticsearch answers 2xx, so Logstash's DLQ never sees it)."""
    es = stack.es()
    event_id = uuid.uuid4().hex
    stack.send_to_logstash(json.dumps({
        "message": "badly typed", "event": {"id": event_id, "dataset": "flask.app"},
        # log.logger is a keyword: an object there fails mapping (ignore_malformed does not
        # cover keyword fields).
        "log": {"level": "info", "logger": {"not": "a string"}}}))

    def in_failure_store():
        found = docs(es, f"{APP_STREAM}::failures",
                     {"range": {"@timestamp": {"gte": "now-30m"}}}, size=1000, refresh=False)
        return [d for d in found
                if d.get("document", {}).get("source", {}).get("event", {}).get("id")
                == event_id]

    (failure,) = poll(in_failure_store, ARRIVAL, "the event in the failure store")
    assert "log.logger" in failure["error"]["message"]
    assert docs(es, APP_STREAM, {"term": {"event.id": event_id}}) == []
    dlq = stack.exec("logstash", "sh", "-c",
                     "cat /usr/share/logstash/data/dead_letter_queue/*/*.log* 2>/dev/null "
                     f"| grep -c {event_id} || true").strip()
    assert dlq in ("", "0")


def test_the_same_event_sent_twice_is_stored_once(stack):
    es = stack.es()
    event_id = uuid.uuid4().hex
    line = json.dumps({"@timestamp": "2026-01-01T00:00:00.000Z", "message": "dup",
                       "event": {"id": event_id, "dataset": "flask.app"},
                       "log": {"level": "info", "logger": "e2e"}})

    def refused_so_far():
        # Logstash creates a counter on its first increment.
        documents = stack.logstash_output_stats().get("documents", {})
        return documents.get("non_retryable_failures", 0)

    baseline = refused_so_far()
    stack.send_to_logstash(line, line)
    (first,) = poll(lambda: docs(es, APP_STREAM, {"term": {"event.id": event_id}}), ARRIVAL,
                    "the event")
    # Logstash counts a 409 (create with an existing _id) as a non-retryable failure: once it
    # has counted one per copy re-sent, every duplicate reached Elasticsearch and was refused.
    poll(lambda: refused_so_far() >= baseline + 1, ARRIVAL, "the duplicate's 409")
    stack.send_to_logstash(line)
    poll(lambda: refused_so_far() >= baseline + 2, ARRIVAL, "the re-sent event's 409")
    assert docs(es, APP_STREAM, {"term": {"event.id": event_id}}) == [first]


def test_kibana_has_the_data_view_dashboards_and_rule(stack):
    kibana = stack.url("kibana")
    auth = ("elastic", stack.secret("elastic_password"))
    found = requests.get(f"{kibana}/api/saved_objects/_find",
                         params={"type": "dashboard", "per_page": 100}, auth=auth,
                         timeout=30).json()
    assert {"flask-overview", "flask-pipeline-health"} <= {o["id"] for o in found["saved_objects"]}
    view = requests.get(f"{kibana}/api/data_views/data_view/flask-logs", auth=auth, timeout=30)
    assert view.status_code == 200
    for dashboard in ("flask-overview", "flask-pipeline-health"):
        resolved = requests.get(f"{kibana}/api/saved_objects/dashboard/{dashboard}",
                                auth=auth, timeout=30).json()
        refs = [{"type": r["type"], "id": r["id"]} for r in resolved["references"]]
        assert refs
        got = requests.post(f"{kibana}/api/saved_objects/_bulk_get", json=refs, auth=auth,
                            headers={"kbn-xsrf": "true"}, timeout=30).json()
        assert not [o for o in got["saved_objects"] if "error" in o]
    for rule_id in RULES:
        rule = requests.get(f"{kibana}/api/alerting/rule/{rule_id}", auth=auth, timeout=30)
        assert rule.status_code == 200, rule_id


def test_every_shipped_saved_object_exists_after_the_first_start(stack):
    # The stack was started fresh (`down -v` first), so this is a first import.
    shipped = [{"type": obj["type"], "id": obj["id"]}
               for path in sorted((REPO_ROOT / "kibana/saved_objects").glob("*.ndjson"))
               for obj in map(json.loads, filter(str.strip, path.read_text().splitlines()))]
    got = requests.post(f"{stack.url('kibana')}/api/saved_objects/_bulk_get", json=shipped,
                        auth=("elastic", stack.secret("elastic_password")),
                        headers={"kbn-xsrf": "true"}, timeout=30).json()
    missing = [(o["type"], o["id"]) for o in got["saved_objects"] if "error" in o]
    assert len(got["saved_objects"]) == len(shipped)
    assert missing == []


def test_the_snapshot_repository_verifies_on_the_fresh_volume(stack):
    # Verification makes every node write to and read from the repository: it fails when
    # the es-snapshots volume is not writable for Elasticsearch's uid.
    environment = stack.model["services"]["provision-es"].get("environment") or {}
    if str(environment.get("SNAPSHOTS_ENABLED", "true")).lower() == "false":
        pytest.skip("SNAPSHOTS_ENABLED=false in this configuration")
    es = stack.es()
    verified = es.snapshot.verify_repository(name=SNAPSHOT_REPOSITORY)
    assert len(verified["nodes"]) == es.cluster.health()["number_of_nodes"]


def test_secret_files_are_private_to_their_reader_and_elasticsearch_took_them(stack):
    names = [f"/run/elk-secrets/{name}" for name in (*PASSWORDS, *KIBANA_KEYS)]
    listing = stack.project.check("run", "--rm", "--no-deps", "-T", "--entrypoint", "stat",
                                  "setup", "-c", "%n %a %u:%g", *names)
    modes = dict(line.split(" ", 1) for line in listing.strip().splitlines())
    command = stack.model["services"]["setup"]["command"]
    owner = command[command.index("--owner") + 1]  # the readers' uid:gid, as setup is told
    assert modes == dict.fromkeys(names, f"{SECRET_MODE:o} {owner}")
    # Elasticsearch's image read ELASTIC_PASSWORD_FILE at start (it exits on a mode it
    # refuses): the bootstrap password it set is the one in the file.
    assert stack.es().security.authenticate()["username"] == "elastic"


def test_a_retention_elasticsearch_would_refuse_is_named_and_nothing_changes(stack):
    es = stack.es()
    policy = "flask-access-logs"
    before = es.ilm.get_lifecycle(name=policy)[policy]["policy"]
    # Shorter than the warm phase's min_age (elasticsearch/ilm/flask-access-logs.json).
    done = stack.project.cli("run", "--rm", "--no-deps", "-T", "-e", "ACCESS_LOG_RETENTION=1d",
                             "provision-es")
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert f"ilm policy {policy}" in said
    assert "ACCESS_LOG_RETENTION=1d" in said
    assert es.ilm.get_lifecycle(name=policy)[policy]["policy"] == before


def test_anonymous_requests_are_rejected(stack):
    anonymous = requests.get(f"{stack.url('elasticsearch', 'https')}/_cat/indices",
                             verify=str(stack.ca_file), timeout=30)
    assert anonymous.status_code == 401
    kibana = requests.get(f"{stack.url('kibana')}/api/saved_objects/_find?type=dashboard",
                          timeout=30)
    assert kibana.status_code == 401


def test_the_logstash_writer_can_only_append(stack):
    es = stack.es()
    call(stack, "/api/items")
    poll(lambda: es.indices.get_data_stream(name=ACCESS)["data_streams"], ARRIVAL,
         "the access data stream")
    target = backing_index(es, ACCESS)
    writer = stack.es("logstash_writer")
    # A concrete name: a wildcard delete is refused with 400 for every user before any
    # authorization (action.destructive_requires_name), which would prove nothing here.
    assert refused(lambda: writer.indices.delete(index=target)) == 403
    assert es.indices.exists(index=target)
    assert refused(lambda: writer.search(index=ACCESS)) == 403
    assert refused(lambda: writer.search(index=".kibana*")) == 403


def test_the_logs_reader_can_read_but_not_change(stack):
    es = stack.es()
    rid = f"e2e-{uuid.uuid4().hex}"
    assert call(stack, "/api/items", request_id=rid) == 200
    reader = stack.es("logs_reader")
    (seen,) = poll(lambda: docs(reader, ACCESS, {"term": {"http.request.id": rid}},
                                refresh=False), ARRIVAL, "the access event, as the reader")
    assert seen["http"]["request"]["id"] == rid
    target = backing_index(es, ACCESS)
    assert refused(lambda: reader.create(
        index=ACCESS, id=uuid.uuid4().hex,
        document={"@timestamp": "2026-01-01T00:00:00Z", "message": "forged"})) == 403
    assert refused(lambda: reader.delete_by_query(
        index=ACCESS, query={"term": {"http.request.id": rid}})) == 403
    assert refused(lambda: reader.indices.delete(index=target)) == 403
    assert es.indices.exists(index=target)
    assert len(by_request(es, ACCESS, rid)) == 1


def dead_letter(stack, es, stream, event_id):
    """Send a badly typed event that Elasticsearch refuses with 400 (the stream's failure store
    is switched off meanwhile), and wait until Logstash has written it to its DLQ."""
    previous = es.indices.get_data_stream_options(name=stream)["data_streams"][0].get(
        "options") or {}
    es.indices.put_data_stream_options(name=stream, failure_store={"enabled": False})
    try:
        stack.send_to_logstash(json.dumps({
            "message": "dead-lettered", "event": {"id": event_id, "dataset": "flask.app"},
            "log": {"level": "info", "logger": {"not": "a string"}}}))
        # Sealed segments only: the replay's input reads those (the writer seals the head
        # segment after its flush interval).
        poll(lambda: stack.exec("logstash", "sh", "-c",
                                "grep -l -F -- " + shlex.quote(event_id)
                                + " /usr/share/logstash/data/dead_letter_queue/flask/*.log"
                                " 2>/dev/null || true").strip(),
             ARRIVAL, "the event in Logstash's dead letter queue")
    finally:
        if previous.get("failure_store"):
            es.indices.put_data_stream_options(name=stream,
                                               failure_store=previous["failure_store"])
        else:
            es.indices.delete_data_stream_options(name=stream)


def replay(stack, want):
    """The documented replay in a one-off logstash container, stopped once it has sent `want`
    events on (tests/e2e/stack.py, REPLAY_UNTIL)."""
    script = (REPO_ROOT / "logstash/bin/dlq-replay").read_text()
    said = stack.project.check("run", "--rm", "--no-deps", "-T", "--entrypoint", "bash",
                               "logstash", "-c", REPLAY_UNTIL, "dlq-replay-until", script,
                               str(want), timeout=900)
    return replayed_count(said)


def replayed(es, event_id):
    # The replay keeps the original @timestamp and sets no event.ingested (dlq_replay.conf).
    found = docs(es, UNPARSED, {"bool": {"filter": [
        {"term": {"tags": "dlq_replayed"}}, {"term": {"error.type": "dead_letter_queue"}},
        {"range": {"@timestamp": {"gte": "now-30m"}}}]}}, size=1000)
    return [d for d in found if event_id in d.get("event", {}).get("original", "")]


@pytest.mark.disruptive  # switches a stream's failure store off for a moment
def test_the_documented_dlq_replay_stores_each_rejected_event_once(stack):
    es = stack.es()
    stack.send_to_logstash(json.dumps({"message": "stream exists", "event": {
        "id": uuid.uuid4().hex, "dataset": "flask.app"}, "log": {"level": "info"}}))
    poll(lambda: es.indices.get_data_stream(name=APP_STREAM)["data_streams"], ARRIVAL,
         "the app data stream")

    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    dead_letter(stack, es, APP_STREAM, first)
    assert replay(stack, want=1) >= 1
    (stored,) = poll(lambda: replayed(es, first), ARRIVAL, "the replayed event")
    assert stored["data_stream"] == {"type": "logs", "dataset": "flask.unparsed",
                                     "namespace": UNPARSED.rsplit("-", 1)[1]}
    assert stored["message"] == "replayed from the dead letter queue"
    assert "log.logger" in stored["error"]["message"]
    assert docs(es, APP_STREAM, {"term": {"event.id": first}}) == []

    # A second run continues where the first stopped: the next entry it replays is the new
    # one (the DLQ is read in order, so a re-read of the first would come before it).
    dead_letter(stack, es, APP_STREAM, second)
    assert replay(stack, want=1) == 1
    poll(lambda: replayed(es, second), ARRIVAL, "the second replayed event")
    assert len(replayed(es, first)) == 1
    assert len(replayed(es, second)) == 1


@pytest.mark.disruptive  # stops Logstash
def test_nothing_is_lost_while_logstash_restarts(stack):
    es = stack.es()
    # /api/items, never /healthz: Logstash keeps only one in ten successful health probes by
    # design, so only never-sampled requests can show that nothing was lost.
    ids = [f"outage-{uuid.uuid4().hex[:8]}-{n}" for n in range(40)]
    stack.project.check("stop", "logstash")
    try:
        for rid in ids[:20]:
            assert call(stack, "/api/items", request_id=rid) == 200
    finally:
        stack.project.check("start", "logstash")
    for rid in ids[20:]:
        assert call(stack, "/api/items", request_id=rid) == 200

    def all_stored():
        found = docs(es, ACCESS, {"terms": {"http.request.id": ids}}, size=200)
        return {d["http"]["request"]["id"] for d in found} == set(ids) and found

    found = poll(all_stored, 300, "every request made during and after the outage")
    assert len(found) == len(ids)
