"""Contracts between components: what one file promises, another must honour."""

import fnmatch
import json
import re

import pytest

from flask_logstash.settings import LoggingSettings
from tests.conftest import REPO_ROOT
from tests.support import es_mappings
from tests.support.app_events import capture_sample_events
from tests.support.logstash_config import parse_file

PIPELINE = parse_file(REPO_ROOT / "logstash/pipeline/flask.conf")
NAMESPACE = "default"


def dotenv():
    pairs = (line.split("=", 1) for line in (REPO_ROOT / ".env").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def datasets_written():
    """Datasets the main pipeline routes to, read from its own routing code."""
    names = set()
    for plugin in PIPELINE.plugins("filter", "mutate"):
        for key in ("add_field",):
            value = plugin.options.get(key, {})
            if isinstance(value, dict) and "[@metadata][dataset]" in value:
                names.add(value["[@metadata][dataset]"])
        if plugin.options.get("copy", {}).get("[event][dataset]") == "[@metadata][dataset]":
            (condition,) = [c for c in plugin.conditions if "[event][dataset] in" in c]
            names.update(re.findall(r'"([^"]+)"', condition))
    return names


def streams():
    return sorted(f"logs-{d}-{NAMESPACE}" for d in datasets_written())


def matching_template(stream):
    candidates = [t for t in es_mappings.index_templates()
                  if any(fnmatch.fnmatch(stream, p) for p in t.patterns)]
    assert candidates, f"no index template matches {stream}"
    best = max(candidates, key=lambda t: t.priority)
    assert [t.priority for t in candidates].count(best.priority) == 1
    return best


def test_pipeline_routes_to_the_datasets_of_the_contract():
    assert datasets_written() == {"flask.access", "flask.app", "flask.unparsed"}


@pytest.mark.parametrize("stream", streams())
def test_every_stream_logstash_writes_has_a_data_stream_template(stream):
    template = matching_template(stream)
    assert template.body["data_stream"] == {}
    assert template.priority > 100  # beats the built-in logs-*-* template


@pytest.mark.parametrize("stream", streams())
def test_the_template_names_an_ilm_policy_that_is_provisioned(stream):
    policy = matching_template(stream).lifecycle_name
    assert policy in es_mappings.ilm_policy_names()


@pytest.mark.parametrize("stream", streams())
def test_the_writer_role_may_write_every_stream(stream):
    role = json.loads((REPO_ROOT / "elasticsearch/roles/flask_logs_writer.json").read_text())
    grants = [e for e in role["indices"]
              if any(fnmatch.fnmatch(stream, n) for n in e["names"])]
    assert grants, f"writer role cannot reach {stream}"
    assert {"create_doc", "auto_configure"} <= set(grants[0]["privileges"])


def test_ilm_retention_placeholders_have_values_in_env():
    env = dotenv()
    for path in (REPO_ROOT / "elasticsearch/ilm").glob("*.json"):
        for var in re.findall(r"\$\{([A-Z_]+)\}", path.read_text()):
            assert re.fullmatch(r"\d+[dhm]", env[var]), var


@pytest.fixture(scope="module")
def app_events():
    return capture_sample_events().events


def mapped_type(fields, name):
    if name in fields:
        return fields[name]
    for prefix, kind in fields.items():
        if kind == "flattened" and name.startswith(prefix + "."):
            return kind
    return None


@pytest.mark.parametrize("dataset", ["flask.access", "flask.app"])
def test_every_field_the_app_emits_is_mapped_with_a_fitting_type(app_events, dataset):
    fields = es_mappings.mapped_fields(matching_template(f"logs-{dataset}-{NAMESPACE}"))
    events = [e for e in app_events if e["event"]["dataset"] == dataset]
    assert events
    problems = []
    for event in events:
        for name, value in es_mappings.leaf_values(event):
            kind = mapped_type(fields, name)
            if kind is None:
                problems.append(f"{name} is not mapped")
            elif kind != "flattened" and not es_mappings.type_accepts(kind, value):
                problems.append(f"{name}={value!r} does not fit {kind}")
    assert not sorted(set(problems))


def test_every_field_the_pipeline_sets_is_mapped():
    fields = es_mappings.mapped_fields(matching_template(f"logs-flask.app-{NAMESPACE}"))
    objects = {name.rsplit(".", 1)[0] for name in fields if "." in name}
    for name in PIPELINE.fields_set():
        if not name:  # built at run time from a path, checked by the app-field test
            continue
        assert name in fields or name in objects, f"pipeline sets {name}, which is not mapped"


def test_enrichment_fields_used_downstream_are_mapped_with_the_right_type():
    fields = es_mappings.mapped_fields(matching_template(f"logs-flask.access-{NAMESPACE}"))
    assert fields["event.duration"] == "long"
    assert fields["client.ip"] == "ip"
    assert fields["http.response.status_code"] == "long"
    assert fields["client.geo.location"] == "geo_point"
    assert fields["event.ingested"] == "date"
    for keyword in ("user_agent.name", "user_agent.os.name", "client.geo.country_iso_code",
                    "service.name", "flask.route", "log.level", "tags", "http.request.id"):
        assert fields[keyword] == "keyword", keyword


def test_app_default_port_is_the_logstash_input_port():
    (tcp,) = PIPELINE.plugins("input", "tcp")
    assert LoggingSettings().logstash_port == tcp.options["port"]


def test_app_image_serves_on_the_contract_port():
    dockerfile = (REPO_ROOT / "app/Dockerfile").read_text()
    assert "EXPOSE 8000" in dockerfile
    assert "| sample app (gunicorn) | `app` | 8000 |" in (
        REPO_ROOT / "docs/architecture.md").read_text()


def esql_panel_sources():
    """(panel, source) for every ES|QL Lens layer of the shipped dashboards."""
    from tests.unit.kibana.query_fields import esql_sources

    found = []
    for line in (REPO_ROOT / "kibana/saved_objects/dashboards.ndjson").read_text().splitlines():
        obj = json.loads(line)
        if obj["type"] != "dashboard":
            continue
        for panel in json.loads(obj["attributes"]["panelsJSON"]):
            state = panel.get("embeddableConfig", {}).get("attributes", {}).get("state", {})
            for layer in state.get("datasourceStates", {}).get("textBased", {}).get(
                    "layers", {}).values():
                found += [(panel["panelIndex"], s) for s in esql_sources(layer["query"]["esql"])]
    return found


def test_the_reader_may_read_every_stream_component_a_dashboard_panel_reads():
    # A panel reading <stream>::failures shows nothing to a user without read_failure_store
    # (Elasticsearch authorizes each index component separately, IndexComponentSelector-
    # Privilege), and nothing at all if the stream's failure store is off.
    from tests.unit.kibana.query_fields import split_selector

    role = json.loads((REPO_ROOT / "elasticsearch/roles/flask_logs_reader.json").read_text())
    needed = {"data": "read", "failures": "read_failure_store"}
    sources = esql_panel_sources()
    assert any(split_selector(s)[1] == "failures" for _, s in sources)
    for panel, source in sources:
        pattern, component = split_selector(source)
        covered = [s for s in streams() if fnmatch.fnmatch(s, pattern)]
        assert covered, (panel, source)
        for stream in covered:
            grants = [e for e in role["indices"] if any(fnmatch.fnmatch(stream, n)
                                                        for n in e["names"])]
            assert any(needed[component] in g["privileges"] for g in grants), (panel, stream)
            if component == "failures":
                options = matching_template(stream).body["template"]["data_stream_options"]
                assert options["failure_store"]["enabled"] is True, stream
