"""What each branch of the flask pipeline writes where, checked against the events the
sample app really emits (tests/support/app_events.py) and with the ruby filters run for real."""

import json
import re

import pytest

from tests.conftest import REPO_ROOT
from tests.support.app_events import capture_sample_events
from tests.support.logstash_config import parse_file
from tests.unit.logstash.ruby_filters import ruby_plugin, run_ruby

CONFIG = parse_file(REPO_ROOT / "logstash/pipeline/flask.conf")


@pytest.fixture(scope="module")
def app_events():
    return capture_sample_events().events


def dataset_written_by(plugin) -> str | None:
    for key in ("add_field", "replace"):
        value = plugin.options.get(key)
        if isinstance(value, dict) and "[@metadata][dataset]" in value:
            return value["[@metadata][dataset]"]
    if plugin.options.get("copy", {}).get("[event][dataset]") == "[@metadata][dataset]":
        return "<event.dataset>"
    return None


def routing() -> dict[tuple[str, ...], str]:
    table = {}
    for plugin in CONFIG.plugins("filter", "mutate"):
        dataset = dataset_written_by(plugin)
        if dataset is not None:
            table[plugin.conditions] = dataset
    return table


def test_each_routing_branch_writes_its_dataset():
    table = routing()
    assert table == {
        ('"_jsonparsefailure" in [tags]',): "flask.unparsed",
        ('[event][dataset] in ["flask.access", "flask.app"]',): "<event.dataset>",
        ("else",): "flask.unparsed",
    }


def test_unknown_datasets_are_tagged_as_such():
    (unknown,) = [p for p in CONFIG.plugins("filter", "mutate") if p.conditions == ("else",)
                  and dataset_written_by(p)]
    assert unknown.options["add_tag"] == ["unknown_dataset"]


def test_the_app_emits_only_the_datasets_the_known_branch_routes(app_events):
    (known,) = [c for c in routing() if c != ("else",) and "in [" in c[0] and "tags" not in c[0]]
    listed = set(re.findall(r'"([^"]+)"', known[0]))
    assert {e["event"]["dataset"] for e in app_events} == listed


def test_the_stream_fields_come_from_the_routing_and_replace_what_is_there():
    (route,) = [p for p in CONFIG.plugins("filter", "mutate")
                if p.options.get("id") == "route_to_data_stream"]
    assert route.conditions == ()
    assert "add_field" not in route.options  # add_field appends to a field that exists
    assert route.options["replace"]["[data_stream][dataset]"] == "%{[@metadata][dataset]}"
    assert route.options["replace"]["[data_stream][type]"] == "logs"


def test_ecs_normalise_sets_the_status_class_from_what_the_app_sends(app_events):
    access = [e for e in app_events if e["event"]["dataset"] == "flask.access"]
    assert access
    outcomes = run_ruby(ruby_plugin(CONFIG, "ecs_normalise"), access)
    for sent, outcome in zip(access, outcomes, strict=True):
        assert outcome.exception is None, outcome.exception
        code = sent["http"]["response"]["status_code"]
        assert outcome.get("flask.status_class") == f"{code // 100}xx"
        assert outcome.get("event.ingested")
        assert isinstance(outcome.get("flask.ingest_lag_ms"), int)


def test_slow_requests_are_tagged_from_the_app_duration(app_events):
    slow = [e for e in app_events if e["event"]["dataset"] == "flask.access"
            and e.get("url", {}).get("path") == "/api/slow"]
    assert slow
    (outcome,) = run_ruby(ruby_plugin(CONFIG, "slow_requests"), slow[:1],
                          env={"SLOW_REQUEST_MS": "1"})
    assert "slow_request" in outcome.tags
    (fast,) = run_ruby(ruby_plugin(CONFIG, "slow_requests"), slow[:1],
                       env={"SLOW_REQUEST_MS": "60000"})
    assert "slow_request" not in fast.tags


def fields_read() -> set[str]:
    """Dotted names of event fields the pipeline reads: conditions, sprintf references,
    source options and event.get in ruby code (not @metadata, not tags)."""
    refs: set[str] = set()
    for condition in CONFIG.conditions:
        refs.update(re.findall(r"((?:\[[^\]\[,\"]+\])+)", condition))
    for plugin in CONFIG.all_plugins:
        text = json.dumps(plugin.options)
        refs.update(re.findall(r"%\{([^}]+)\}", text))
        source = plugin.options.get("source")
        refs.update(source if isinstance(source, list) else [source] if source else [])
        for key in ("code", "init"):
            refs.update(re.findall(r'event\.get\("([^"]+)"\)', plugin.options.get(key) or ""))
    dotted = {".".join(re.findall(r"\[([^\]]+)\]", r)) if r.startswith("[") else r for r in refs}
    return {d for d in dotted if not d.startswith("@metadata") and d not in {"tags", "message"}}


# Read for other senders only; the app never sends them (documented in docs/logstash.md).
NOT_FROM_THE_APP = {"host"}


def test_every_field_the_pipeline_reads_exists_in_what_the_app_emits(app_events):
    def present(event, dotted):
        node = event
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    read = fields_read()
    assert {"http.response.status_code", "event.duration", "client.ip"} <= read
    missing = {f for f in read - NOT_FROM_THE_APP if not any(present(e, f) for e in app_events)}
    assert not missing, f"the pipeline reads fields the app never sends: {sorted(missing)}"


def test_the_apps_own_events_pass_the_second_line_unchanged(app_events):
    # The app redacts before sending: the second line must not alter its events (no false
    # positives), and keeps their event.id as the document id source.
    lines = [{"message": json.dumps(e), "@timestamp": "2026-11-29T10:00:00Z"} for e in app_events]
    outcomes = run_ruby(ruby_plugin(CONFIG, "redact_and_parse"), lines)
    for sent, outcome in zip(app_events, outcomes, strict=True):
        assert outcome.exception is None
        assert json.loads(outcome.metadata["line"]) == sent
        assert "redacted" not in outcome.metadata
        assert outcome.metadata["id_source"] == sent["event"]["id"]
