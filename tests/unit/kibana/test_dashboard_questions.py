"""Each panel of the committed dashboards computes what its title and docs promise.

Read from the committed NDJSON (what Kibana gets), not from the builder's specs."""

import json
import re

import pytest

from tests.conftest import REPO_ROOT
from tests.support import es_mappings
from tests.unit.kibana.query_fields import (
    Clause,
    esql_metadata,
    esql_sources,
    kql_clauses,
    split_selector,
)

OBJECTS = [json.loads(line) for path in sorted((REPO_ROOT / "kibana/saved_objects")
                                               .glob("*.ndjson"))
           for line in path.read_text().splitlines()]
BY_ID = {(o["type"], o["id"]): o for o in OBJECTS}
ACCESS = [Clause("event.dataset", ":", "flask.access", True)]
SERVER_ERROR = [Clause("http.response.status_code", ">=", "500", False)]
CLIENT_ERROR = [Clause("http.response.status_code", ">=", "400", False),
                Clause("http.response.status_code", "<", "500", False)]


def dotenv():
    pairs = (line.split("=", 1) for line in (REPO_ROOT / ".env").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def panels(dashboard_id):
    board = BY_ID[("dashboard", dashboard_id)]
    return {p["panelIndex"]: p for p in json.loads(board["attributes"]["panelsJSON"])}


def lens(dashboard_id, panel_id):
    return panels(dashboard_id)[panel_id]["embeddableConfig"]["attributes"]


def layers(dashboard_id, panel_id):
    return lens(dashboard_id, panel_id)["state"]["datasourceStates"]["formBased"]["layers"]


def columns(dashboard_id, panel_id):
    found = {}
    for layer in layers(dashboard_id, panel_id).values():
        found.update(layer["columns"])
    return found


def panel_filter(dashboard_id, panel_id):
    return kql_clauses(lens(dashboard_id, panel_id)["state"]["query"]["query"])


def column_filter(column):
    return kql_clauses(column["filter"]["query"]) if column.get("filter") else []


def division(cols, formula_id):
    """(numerator column, denominator column) of a Lens formula `a / b`."""
    formula = cols[formula_id]
    assert formula["operationType"] == "formula"
    (math_id,) = formula["references"]
    math = cols[math_id]
    assert math["params"]["tinymathAst"]["name"] == "divide"
    top, bottom = math["params"]["tinymathAst"]["args"]
    # The formula text Kibana re-parses says the same as the compiled columns.
    text = formula["params"]["formula"]
    for side, column in (("numerator", cols[top]), ("denominator", cols[bottom])):
        assert column["operationType"] == "count", side
        kql = column.get("filter", {}).get("query")
        assert (f"kql='{kql}'" in text) == bool(kql), (side, text)
    return cols[top], cols[bottom]


def assert_share(cols, formula_id, part):
    top, bottom = division(cols, formula_id)
    assert column_filter(top) == part
    assert column_filter(bottom) == []  # all requests, not "all but 4xx"
    assert top.get("timeShift") == bottom.get("timeShift")


# ---------------------------------------------------------------- overview

@pytest.mark.parametrize(("panel_id", "part"), [("kpi-5xx", SERVER_ERROR),
                                                ("kpi-4xx", CLIENT_ERROR)])
def test_error_share_headlines_divide_their_class_by_all_requests(panel_id, part):
    assert panel_filter("flask-overview", panel_id) == ACCESS
    cols = columns("flask-overview", panel_id)
    assert_share(cols, "v", part)
    assert_share(cols, "prev", part)


@pytest.mark.parametrize("panel_id", ["kpi-requests", "kpi-5xx", "kpi-4xx", "kpi-p95",
                                      "kpi-p99", "kpi-clients"])
def test_every_headline_compares_with_the_previous_period(panel_id):
    attributes = lens("flask-overview", panel_id)
    vis = attributes["state"]["visualization"]
    assert attributes["visualizationType"] == "lnsMetric"
    cols = columns("flask-overview", panel_id)
    now_id, before_id = vis["metricAccessor"], vis["secondaryMetricAccessor"]
    if cols[now_id]["operationType"] == "formula":
        # A formula's shift sits on the counts it divides (and in its text).
        now, before = division(cols, now_id), division(cols, before_id)
        assert "shift='previous'" in cols[before_id]["params"]["formula"]
    else:
        now, before = (cols[now_id],), (cols[before_id],)
    for current, previous in zip(now, before, strict=True):
        assert "timeShift" not in current
        assert previous["timeShift"] == "previous"
        # Same measure, only shifted.
        assert {k: v for k, v in previous.items() if k != "timeShift"} == current


@pytest.mark.parametrize(("panel_id", "operation", "field", "pct"), [
    ("kpi-p95", "percentile", "event.duration", 95),
    ("kpi-p99", "percentile", "event.duration", 99),
    ("kpi-clients", "unique_count", "client.ip", None),
    ("kpi-requests", "count", "___records___", None),
])
def test_the_other_headlines_measure_what_they_are_called(panel_id, operation, field, pct):
    column = columns("flask-overview", panel_id)["v"]
    assert (column["operationType"], column["sourceField"]) == (operation, field)
    assert column.get("params", {}).get("percentile") == pct
    assert panel_filter("flask-overview", panel_id) == ACCESS


def test_traffic_shows_requests_and_5xx_share_against_the_alert_threshold():
    state = lens("flask-overview", "traffic")["state"]
    xy = {layer["layerId"]: layer for layer in state["visualization"]["layers"]}
    cols = layers("flask-overview", "traffic")
    assert cols["traffic-requests"]["columns"]["n"]["operationType"] == "count"
    assert_share(cols["traffic-share"]["columns"], "e", SERVER_ERROR)
    threshold = cols["traffic-threshold"]["columns"]["thr"]
    assert threshold["operationType"] == "static_value"
    assert float(threshold["params"]["value"]) == float(dotenv()["ALERT_ERROR_RATIO"])
    assert xy["traffic-threshold"]["layerType"] == "referenceLine"
    # The line and its threshold share an axis, or the line would not be comparable.
    share_axis = {c["axisMode"] for c in xy["traffic-share"]["yConfig"]}
    assert share_axis == {c["axisMode"] for c in xy["traffic-threshold"]["yConfig"]} == {"right"}
    assert panel_filter("flask-overview", "traffic") == ACCESS


def test_latency_over_time_is_p50_p95_p99_of_event_duration():
    cols = columns("flask-overview", "latency")
    assert cols["t"]["operationType"] == "date_histogram"
    assert sorted((c["sourceField"], c["params"]["percentile"]) for c in cols.values()
                  if c["operationType"] == "percentile") == [
        ("event.duration", 50), ("event.duration", 95), ("event.duration", 99)]


def test_latency_distribution_is_a_histogram_of_event_duration():
    cols = columns("flask-overview", "latency-histogram")
    assert cols["d"]["operationType"] == "range"
    assert cols["d"]["params"]["type"] == "histogram"
    assert cols["d"]["sourceField"] == "event.duration"


def test_the_route_table_puts_the_routes_with_most_5xx_first():
    vis = lens("flask-overview", "routes")["state"]["visualization"]
    cols = columns("flask-overview", "routes")
    route = cols["r"]
    assert route["sourceField"] == "flask.route"
    ordering = cols[route["params"]["orderBy"]["columnId"]]
    assert ordering["operationType"] == "count"
    assert column_filter(ordering) == SERVER_ERROR
    assert route["params"]["orderDirection"] == "desc"
    assert vis["sorting"] == {"columnId": route["params"]["orderBy"]["columnId"],
                              "direction": "desc"}
    shown = [c["columnId"] for c in vis["columns"]]
    assert_share(cols, "e", SERVER_ERROR)
    assert {"r", "n", "e", "p"} <= set(shown)
    assert not any(c.endswith(("X0", "X1", "X2")) for c in shown)  # formula helpers hidden
    assert cols["p"]["params"]["percentile"] == 95


def test_the_map_shows_client_locations_and_countries_sit_beside_it():
    panel = panels("flask-overview")["map"]
    board = BY_ID[("dashboard", "flask-overview")]
    ref = next(r for r in board["references"] if r["name"] == f"map:{panel['panelRefName']}")
    the_map = BY_ID[("map", ref["id"])]
    layer_list = json.loads(the_map["attributes"]["layerListJSON"])
    geo = [layer["sourceDescriptor"] for layer in layer_list
           if layer["sourceDescriptor"].get("geoField")]
    assert [s["geoField"] for s in geo] == ["client.geo.location"]
    names = {r["name"] for r in the_map["references"]}
    assert {s["indexPatternRefName"] for s in geo} <= names
    assert columns("flask-overview", "countries")["g"]["sourceField"] == (
        "client.geo.country_iso_code")


def search_query(search_id):
    source = json.loads(BY_ID[("search", search_id)]["attributes"]["kibanaSavedObjectMeta"]
                        ["searchSourceJSON"])
    return kql_clauses(source["query"]["query"])


def test_latest_5xx_and_latest_errors_link_each_row_to_its_requests_events():
    by_search = {}
    board = BY_ID[("dashboard", "flask-overview")]
    for panel_id in ("latest-5xx", "latest-errors"):
        name = f"{panel_id}:{panels('flask-overview')[panel_id]['panelRefName']}"
        by_search[panel_id] = next(r["id"] for r in board["references"] if r["name"] == name)
        attributes = BY_ID[("search", by_search[panel_id])]["attributes"]
        assert "http.request.id" in attributes["columns"]
        assert attributes["sort"] == [["@timestamp", "desc"]]
    assert search_query(by_search["latest-5xx"]) == ACCESS + SERVER_ERROR
    errors = search_query(by_search["latest-errors"])
    assert Clause("error.stack_trace", ":", "*", False) in errors
    # The link: the data view renders every request id as a URL to the saved search of all
    # events, queried by that id.
    view = BY_ID[("index-pattern", "flask-logs")]
    link = json.loads(view["attributes"]["fieldFormatMap"])["http.request.id"]
    assert link["id"] == "url"
    template = link["params"]["urlTemplate"]
    target = re.match(r"/app/discover#/view/([\w-]+)\?", template)[1]
    assert ("search", target) in BY_ID
    query = re.search(r"query:'(.*)'\)\)$", template)[1]
    assert kql_clauses(query) == [Clause("http.request.id", ":", "{{value}}", True)]
    story = search_query(target)
    assert [c.field for c in story] == ["http.request.id"]


def test_controls_filter_by_service_environment_route_and_host():
    group = BY_ID[("dashboard", "flask-overview")]["attributes"]["controlGroupInput"]
    controls = json.loads(group["panelsJSON"]).values()
    assert {c["type"] for c in controls} == {"optionsListControl"}
    assert [c["explicitInput"]["fieldName"] for c in sorted(controls, key=lambda c: c["order"])
            ] == ["service.name", "service.environment", "flask.route", "host.name"]


def test_the_help_panel_explains_the_parts_and_links_the_pipeline_dashboard():
    text = panels("flask-overview")["help"]["embeddableConfig"]["savedVis"]["params"][
        "markdown"]
    assert "(#/view/flask-pipeline-health)" in text
    assert ("dashboard", "flask-pipeline-health") in BY_ID
    for part in ("controls", "previous period", "5xx share", "threshold", "request id"):
        assert part in text


# ---------------------------------------------------------------- pipeline health

def test_events_per_second_per_dataset():
    cols = columns("flask-pipeline-health", "streams")
    assert cols["n"]["operationType"] == "count"
    assert cols["n"]["timeScale"] == "s"
    assert cols["d"]["sourceField"] == "data_stream.dataset"


def test_ingest_lag_includes_p95():
    cols = columns("flask-pipeline-health", "lag")
    assert ("flask.ingest_lag_ms", 95) in {(c.get("sourceField"), c["params"]["percentile"])
                                           for c in cols.values()
                                           if c["operationType"] == "percentile"}


def test_failure_panel_selects_parse_and_redaction_failures():
    clauses = panel_filter("flask-pipeline-health", "failures")
    assert {(c.field, c.value) for c in clauses} == {("tags", "_jsonparsefailure"),
                                                      ("tags", "_redaction_failure")}


def loss_count_fields():
    """The numeric delivery-loss counts the templates map, one per cause (and the total)."""
    fields = {}
    for template in es_mappings.index_templates():
        fields.update(es_mappings.mapped_fields(template))
    return {f for f, kind in fields.items()
            if f.startswith("flask.delivery_loss.") and kind in es_mappings.NUMERIC_TYPES}


def test_delivery_loss_panel_sums_the_lost_events_of_each_cause_over_time():
    assert panel_filter("flask-pipeline-health", "losses") == [
        Clause("event.action", ":", "delivery-loss-report", True)]
    cols = columns("flask-pipeline-health", "losses")
    (layer,) = lens("flask-pipeline-health", "losses")["state"]["visualization"]["layers"]
    assert cols[layer["xAccessor"]]["operationType"] == "date_histogram"
    # One report stands for many lost events: the panel sums its counts, it does not count
    # reports, and it stacks every cause but not the total (which would count them twice).
    summed = [cols[a] for a in layer["accessors"]]
    assert {c["operationType"] for c in summed} == {"sum"}
    assert {c["sourceField"] for c in summed} == loss_count_fields() - {
        "flask.delivery_loss.total"}
    assert len(summed) >= 4
    assert layer["seriesType"] == "bar_stacked"


def esql_layer(dashboard_id, panel_id):
    attributes = lens(dashboard_id, panel_id)
    (layer,) = attributes["state"]["datasourceStates"]["textBased"]["layers"].values()
    return attributes, layer


def test_failure_store_panel_counts_refused_events_by_error_type_in_the_time_range():
    attributes, layer = esql_layer("flask-pipeline-health", "failure-store")
    esql = layer["query"]["esql"]
    view = BY_ID[("index-pattern", "flask-logs")]["attributes"]["title"]
    sources = [split_selector(s) for s in esql_sources(esql)]
    # It reads the failure store of exactly the bundle's streams...
    assert (view, "failures") in sources
    assert {pattern for pattern, _ in sources} == {view}
    # ...and, when it also names the streams' data, keeps failure indices only (.fs-...).
    if (view, "data") in sources:
        assert "_index" in esql_metadata(esql)
        assert re.search(r'\|\s*WHERE\s+STARTS_WITH\(_index,\s*"\.fs-"\)\s*\|', esql)
    stats = re.search(r"\|\s*STATS\s+(\w+)\s*=\s*COUNT\(\*\)\s+BY\s+(\w+)\s*=\s*"
                      r"BUCKET\(@timestamp,\s*\d+,\s*\?_tstart,\s*\?_tend\),\s*error\.type\s*$",
                      esql)
    assert stats, esql
    counted, bucket = stats.groups()
    # The dashboard's time range reaches the query: Kibana filters on timeField and binds
    # ?_tstart/?_tend (data plugin common/search/expressions/esql.ts).
    assert layer["timeField"] == "@timestamp"
    by_id = {c["columnId"]: c for c in layer["columns"]}
    (xy,) = attributes["state"]["visualization"]["layers"]
    assert by_id[xy["xAccessor"]]["fieldName"] == bucket
    assert by_id[xy["xAccessor"]]["meta"]["type"] == "date"
    assert [by_id[a]["fieldName"] for a in xy["accessors"]] == [counted]
    assert by_id[xy["splitAccessor"]]["fieldName"] == "error.type"
    assert attributes["state"]["query"] == layer["query"]


# ---------------------------------------------------------------- docs

def panel_fields(board, panel):
    """Fields a committed panel reads (its own definition or the object it shows)."""
    from tests.unit.kibana import object_fields

    if panel["type"] == "lens":
        uses = [u for u in object_fields._lens_uses("doc", panel["embeddableConfig"]["attributes"])
                if u.kind != "source"]
    elif "panelRefName" in panel:
        name = f"{panel['panelIndex']}:{panel['panelRefName']}"
        ref = next(r for r in board["references"] if r["name"] == name)
        uses = object_fields.object_uses(BY_ID[(ref["type"], ref["id"])])
    else:
        uses = []
    return {u.field for u in uses} - {"@timestamp"}


def test_docs_list_every_panel_with_its_question_and_fields():
    from tests.unit.kibana.test_saved_objects import load_builder

    docs = (REPO_ROOT / "docs" / "kibana.md").read_text()
    rows = {line.split(" | ")[0][2:]: line for line in docs.splitlines()
            if line.startswith("| ")}
    specs = load_builder().all_panels()
    for dashboard_id, specified in specs.items():
        board = BY_ID[("dashboard", dashboard_id)]
        committed = panels(dashboard_id)
        assert [p.id for p in specified] == list(committed)
        for spec in specified:
            panel = committed[spec.id]
            row = rows.get(panel["title"])
            assert row, f"docs/kibana.md has no row for {panel['title']!r}"
            assert f"| {spec.question} |" in row
            for field in panel_fields(board, panel):
                assert f"`{field}`" in row, (panel["title"], field)
