"""Build the bundle's Kibana objects and alert rules from the compact specs below.

    python kibana/build_saved_objects.py      # rewrites the files below; commit them all

Writes saved_objects/flask-logs.ndjson (data view, saved searches), saved_objects/
dashboards.ndjson (map, dashboards) and rules/*.json (alert rules, thresholds from .env).
Objects are in the 8.x saved-object format Kibana's own sample data uses (dashboard
typeMigrationVersion 8.7.0 with Lens panels by value, reference names
`<panel>:indexpattern-datasource-layer-<layer>`), so Kibana 8.19 and 9.x migrate them on import.
Tests check that the committed files equal a fresh build.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OBJECTS_DIR = HERE / "saved_objects"
RULES_DIR = HERE / "rules"
ENV_FILE = HERE.parent / ".env"
DATA_VIEW = "flask-logs"
DATA_VIEW_PATTERN = "logs-flask.*-*"
ACCESS_STREAMS = "logs-flask.access-*"
PANEL_VERSION = "8.11.0"
CORE_VERSION = "8.8.0"

ACCESS = 'event.dataset : "flask.access"'
SERVER_ERROR = "http.response.status_code >= 500"
CLIENT_ERROR = "http.response.status_code >= 400 and http.response.status_code < 500"
# The delivery-loss report the logging package sends (app/flask_logstash delivery losses): an
# event with this event.action carrying the number of events lost since the last report, per
# cause, as numbers under LOSS_FIELDS (mapped as long in flask-logs@mappings.json).
DELIVERY_LOSS = 'event.action : "delivery-loss-report"'
LOSS_FIELDS = "flask.delivery_loss"
LOSS_CAUSES = ("queue_full", "memory_cap", "disk_cap", "unformattable")
# Documents Elasticsearch refused (mapping or ingest failure) are kept in each stream's failure
# store, read with the `::failures` selector (IndexComponentSelector: `data` or `failures`).
FAILURE_STORE = DATA_VIEW_PATTERN + "::failures"
FAILURE_TAGS = 'tags : ("_jsonparsefailure" or "_redaction_failure")'
REQUEST_STORY = "flask-request-story"


def settings() -> dict[str, str]:
    """The .env values (the project's one place for settings)."""
    pairs = (line.split("=", 1) for line in ENV_FILE.read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


# ---------------------------------------------------------------- Lens columns

NS_TO_MS = {"id": "duration", "params": {"fromUnit": "nanoseconds",
                                          "toUnit": "asMilliseconds", "decimals": 1}}
PERCENT = {"id": "percent", "params": {"decimals": 1}}


def date_histogram() -> dict[str, Any]:
    return {"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
            "sourceField": "@timestamp", "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}


def _shifted(column: dict[str, Any], kql: str | None, shift: str | None) -> dict[str, Any]:
    if kql:
        column["filter"] = {"query": kql, "language": "kuery"}
    if shift:
        # Lens "previous" = the same length of time just before the dashboard's range.
        column["timeShift"] = shift
    return column


def count(label: str = "Events", kql: str | None = None, shift: str | None = None,
          per_second: bool = False) -> dict[str, Any]:
    column = {"label": label, "dataType": "number", "operationType": "count",
              "sourceField": "___records___", "isBucketed": False, "scale": "ratio",
              "params": {"emptyAsNull": False}, "customLabel": True}
    if per_second:
        column["timeScale"] = "s"
    return _shifted(column, kql, shift)


def percentile(source: str, pct: int, label: str, shift: str | None = None,
               duration: bool = True) -> dict[str, Any]:
    params: dict[str, Any] = {"percentile": pct}
    if duration:
        params["format"] = NS_TO_MS
    return _shifted({"label": label, "dataType": "number", "operationType": "percentile",
                     "sourceField": source, "isBucketed": False, "scale": "ratio",
                     "params": params, "customLabel": True}, None, shift)


def unique_count(source: str, label: str, shift: str | None = None) -> dict[str, Any]:
    return _shifted({"label": label, "dataType": "number", "operationType": "unique_count",
                     "sourceField": source, "isBucketed": False, "scale": "ratio",
                     "params": {"emptyAsNull": False}, "customLabel": True}, None, shift)


def sum_of(source: str, label: str) -> dict[str, Any]:
    return {"label": label, "dataType": "number", "operationType": "sum",
            "sourceField": source, "isBucketed": False, "scale": "ratio",
            "params": {"emptyAsNull": False}, "customLabel": True}


def terms(source: str, label: str, order_by: str, size: int = 10,
          data_type: str = "string") -> dict[str, Any]:
    return {"label": label, "dataType": data_type, "operationType": "terms",
            "sourceField": source, "isBucketed": True, "scale": "ordinal", "customLabel": True,
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by},
                       "orderDirection": "desc", "otherBucket": True, "missingBucket": False}}


def histogram(source: str, label: str) -> dict[str, Any]:
    return {"label": label, "dataType": "number", "operationType": "range",
            "sourceField": source, "isBucketed": True, "scale": "interval", "customLabel": True,
            "params": {"type": "histogram", "maxBars": "auto", "includeEmptyRows": True,
                       "ranges": [{"from": 0, "to": 1000, "label": ""}], "format": NS_TO_MS}}


def static_value(value: float, label: str) -> dict[str, Any]:
    return {"label": label, "dataType": "number", "operationType": "static_value",
            "isStaticValue": True, "isBucketed": False, "scale": "ratio",
            "params": {"value": str(value), "format": PERCENT}, "references": [],
            "customLabel": True}


def share(column_id: str, label: str, part_kql: str, shift: str | None = None,
          whole_kql: str | None = None) -> dict[str, dict[str, Any]]:
    """A Lens formula `count(kql=part) / count()` with the helper columns Lens persists.

    Kibana stores a formula as its text plus the columns it compiles to (two counts and the
    `divide` math over them); the tests read the helpers to prove what is divided by what.
    """
    def arg(kql: str | None) -> str:
        parts = ([f"kql='{kql}'"] if kql else []) + ([f"shift='{shift}'"] if shift else [])
        return ", ".join(parts)

    text = f"count({arg(part_kql)}) / count({arg(whole_kql)})"
    part, whole, math = f"{column_id}X0", f"{column_id}X1", f"{column_id}X2"
    hidden = {"customLabel": True}
    return {
        column_id: {"label": label, "dataType": "number", "operationType": "formula",
                    "isBucketed": False, "scale": "ratio", "references": [math],
                    "params": {"formula": text, "isFormulaBroken": False, "format": PERCENT},
                    "customLabel": True},
        part: {**count(f"Part of {label}", part_kql, shift), **hidden},
        whole: {**count(f"Part of {label}", whole_kql, shift), **hidden},
        math: {"label": f"Part of {label}", "dataType": "number", "operationType": "math",
               "isBucketed": False, "scale": "ratio", "references": [part, whole],
               "params": {"tinymathAst": {"type": "function", "name": "divide",
                                          "args": [part, whole],
                                          "location": {"min": 0, "max": len(text)},
                                          "text": text}},
               "customLabel": True},
    }


# ---------------------------------------------------------------- panels

@dataclass
class Layer:
    """One Lens layer; `kind` "referenceLine" draws static values (thresholds)."""

    id: str
    columns: dict[str, dict[str, Any]]
    series: str = "line"
    x: str | None = None
    split: str | None = None
    y: list[str] = field(default_factory=list)
    right_axis: bool = False
    kind: str = "data"

    def visible_columns(self) -> list[str]:
        """Columns a table shows: not the helpers a formula compiles to."""
        helpers = {ref for column in self.columns.values()
                   for ref in column.get("references", [])}
        return [c for c in self.columns if c not in helpers]

    def xy(self) -> dict[str, Any]:
        layer: dict[str, Any] = {"layerId": self.id, "layerType": self.kind,
                                 "accessors": self.y}
        if self.kind == "data":
            layer.update(seriesType=self.series, xAccessor=self.x)
            if self.split:
                layer["splitAccessor"] = self.split
        axis = "right" if self.right_axis else "left"
        layer["yConfig"] = [{"forAccessor": a, "axisMode": axis}
                            | ({"lineStyle": "dashed", "lineWidth": 2, "color": "#BD271E"}
                               if self.kind == "referenceLine" else {}) for a in self.y]
        return layer


@dataclass
class Panel:
    """A Lens panel: what question it answers, its layers, its place on the 48-column grid."""

    id: str
    title: str
    question: str
    grid: tuple[int, int, int, int]  # x, y, w, h
    chart: str  # line | bar_stacked | bar | bar_horizontal | metric | table
    layers: list[Layer]
    query: str = ""
    metric: str | None = None
    previous: str | None = None
    sort_by: str | None = None

    def visualization(self) -> tuple[str, dict[str, Any]]:
        first = self.layers[0]
        if self.chart == "metric":
            vis = {"layerId": first.id, "layerType": "data", "metricAccessor": self.metric}
            if self.previous:
                vis["secondaryMetricAccessor"] = self.previous
                vis["secondaryPrefix"] = "previous period:"
            return "lnsMetric", vis
        if self.chart == "table":
            vis = {"layerId": first.id, "layerType": "data",
                   "columns": [{"columnId": c} for c in first.visible_columns()]}
            if self.sort_by:
                vis["sorting"] = {"columnId": self.sort_by, "direction": "desc"}
            return "lnsDatatable", vis
        return "lnsXY", {"preferredSeriesType": self.chart,
                         "layers": [layer.xy() for layer in self.layers],
                         "legend": {"isVisible": True, "position": "right"},
                         "valueLabels": "hide", "fittingFunction": "None"}

    def lens_attributes(self) -> dict[str, Any]:
        vis_type, visualization = self.visualization()
        return {
            "title": self.title, "visualizationType": vis_type, "type": "lens",
            "references": [{"type": "index-pattern", "id": DATA_VIEW,
                            "name": f"indexpattern-datasource-layer-{layer.id}"}
                           for layer in self.layers],
            "state": {
                "visualization": visualization,
                "query": {"query": self.query, "language": "kuery"},
                "filters": [],
                "datasourceStates": {"formBased": {"layers": {layer.id: {
                    "columns": layer.columns, "columnOrder": list(layer.columns),
                    "incompleteColumns": {}} for layer in self.layers}}},
                "internalReferences": [], "adHocDataViews": {},
            },
        }

    def dashboard_panel(self) -> dict[str, Any]:
        return {**_grid_panel(self.id, "lens", self.title, self.grid),
                "embeddableConfig": {"attributes": self.lens_attributes(), "enhancements": {}}}

    def references(self) -> list[dict[str, str]]:
        return [{"type": "index-pattern", "id": DATA_VIEW,
                 "name": f"{self.id}:indexpattern-datasource-layer-{layer.id}"}
                for layer in self.layers]


@dataclass
class Linked:
    """A panel showing a stored object (saved search or map) by reference."""

    id: str
    kind: str  # search | map
    target: str
    title: str
    question: str
    grid: tuple[int, int, int, int]

    def dashboard_panel(self) -> dict[str, Any]:
        return {**_grid_panel(self.id, self.kind, self.title, self.grid),
                "embeddableConfig": {"enhancements": {}}, "panelRefName": f"panel_{self.id}"}

    def references(self) -> list[dict[str, str]]:
        return [{"name": f"{self.id}:panel_{self.id}", "type": self.kind, "id": self.target}]


@dataclass
class Markdown:
    """A markdown panel by value (a legacy `visualization` embeddable, as in Kibana's samples)."""

    id: str
    title: str
    question: str
    grid: tuple[int, int, int, int]
    text: str

    def dashboard_panel(self) -> dict[str, Any]:
        saved_vis = {"title": self.title, "description": "", "type": "markdown",
                     "params": {"fontSize": 12, "openLinksInNewTab": False,
                                "markdown": self.text},
                     "uiState": {}, "data": {"aggs": [], "searchSource": {}}}
        return {**_grid_panel(self.id, "visualization", self.title, self.grid),
                "embeddableConfig": {"savedVis": saved_vis, "enhancements": {}}}

    def references(self) -> list[dict[str, str]]:
        return []


@dataclass
class EsqlPanel:
    """A Lens XY panel on the ES|QL (`textBased`) datasource, by value.

    The form is the one Kibana persists for an ES|QL chart (Lens config_builder test fixture
    kbn-lens-embeddable-utils/config_builder/tests/xy/esqlXY.mock.ts, "generated from
    kibana"; layer fields as in lens datasources/text_based/text_based_languages.tsx): the
    layer holds the query, the columns the query returns (`fieldName` = ES|QL column name,
    `meta.type` its Kibana type) and `timeField`; its `index` names an ad-hoc data view, which
    Lens records in `internalReferences` as `textBasedLanguages-datasource-layer-<layer>`, so
    the panel refers to no stored data view. Kibana applies the dashboard's time range as a
    range filter on `timeField` and binds `?_tstart`/`?_tend` (data plugin
    common/search/expressions/esql.ts).
    """

    id: str
    title: str
    question: str
    grid: tuple[int, int, int, int]
    esql: str
    columns: list[tuple[str, str, str]]  # ES|QL column, Kibana type, label
    x: str
    y: list[str]
    split: str | None = None
    chart: str = "bar_stacked"

    @property
    def layer_id(self) -> str:
        return f"{self.id}-layer"

    @property
    def view_id(self) -> str:
        # Kibana names the ad-hoc view of an ES|QL query sha256("esql-" + its index pattern)
        # (kbn-esql-utils get_esql_adhoc_dataview.ts) and rebuilds it when the panel loads.
        return hashlib.sha256(f"esql-{self.sources()}".encode()).hexdigest()

    def sources(self) -> str:
        return self.esql.split("|", 1)[0].split(None, 1)[1].split(" METADATA ")[0].replace(
            " ", "").strip()

    def lens_attributes(self) -> dict[str, Any]:
        layer = {"layerId": self.layer_id, "layerType": "data", "seriesType": self.chart,
                 "xAccessor": self.x, "accessors": self.y}
        if self.split:
            layer["splitAccessor"] = self.split
        columns = [{"columnId": name, "fieldName": name, "label": label, "customLabel": True,
                    "meta": {"type": kind}} for name, kind, label in self.columns]
        return {
            "title": self.title, "visualizationType": "lnsXY", "type": "lens",
            "references": [],
            "state": {
                "visualization": {"preferredSeriesType": self.chart, "layers": [layer],
                                  "legend": {"isVisible": True, "position": "right"},
                                  "valueLabels": "hide", "fittingFunction": "None"},
                "query": {"esql": self.esql},
                "filters": [],
                "datasourceStates": {"textBased": {"layers": {self.layer_id: {
                    "index": self.view_id, "query": {"esql": self.esql},
                    "columns": columns, "timeField": "@timestamp"}}}},
                "internalReferences": [{
                    "type": "index-pattern", "id": self.view_id,
                    "name": f"textBasedLanguages-datasource-layer-{self.layer_id}"}],
                "adHocDataViews": {self.view_id: {
                    "id": self.view_id, "title": self.sources(), "name": self.sources(),
                    "timeFieldName": "@timestamp", "type": "esql", "sourceFilters": [],
                    "fieldFormats": {}, "runtimeFieldMap": {}, "allowNoIndex": True,
                    "allowHidden": False}},
            },
        }

    def dashboard_panel(self) -> dict[str, Any]:
        return {**_grid_panel(self.id, "lens", self.title, self.grid),
                "embeddableConfig": {"attributes": self.lens_attributes(), "enhancements": {}}}

    def references(self) -> list[dict[str, str]]:
        return []


def _grid_panel(panel_id: str, kind: str, title: str,
                grid: tuple[int, int, int, int]) -> dict[str, Any]:
    x, y, w, h = grid
    return {"version": PANEL_VERSION, "type": kind, "panelIndex": panel_id, "title": title,
            "gridData": {"x": x, "y": y, "w": w, "h": h, "i": panel_id}}


def headline(panel_id: str, title: str, question: str, x: int,
             columns_for: Any) -> Panel:
    """A metric with the same measure over the previous period as its secondary value."""
    columns = {**columns_for("v", None), **columns_for("prev", "previous")}
    return Panel(panel_id, title, question, (x, 0, 8, 6), "metric",
                 [Layer(f"{panel_id}-layer", columns)], query=ACCESS, metric="v",
                 previous="prev")


# Controls (options lists) filter every panel of the overview dashboard.
CONTROLS = [("service.name", "Service"), ("service.environment", "Environment"),
            ("flask.route", "Route"), ("host.name", "Host")]


def overview_panels(threshold: float) -> list[Any]:
    return [
        headline("kpi-requests", "Requests", "How many requests were served, against the "
                 "previous period?", 0, lambda c, s: {c: count("Requests", shift=s)}),
        headline("kpi-5xx", "5xx share", "What share of all requests failed on the server "
                 "(5xx / all)?", 8, lambda c, s: share(c, "5xx share", SERVER_ERROR, s)),
        headline("kpi-4xx", "4xx share", "What share of all requests were refused as client "
                 "errors (4xx / all)?", 16, lambda c, s: share(c, "4xx share", CLIENT_ERROR, s)),
        headline("kpi-p95", "p95 latency", "How slow are the slowest 5% of requests?", 24,
                 lambda c, s: {c: percentile("event.duration", 95, "p95", s)}),
        headline("kpi-p99", "p99 latency", "How slow are the slowest 1% of requests?", 32,
                 lambda c, s: {c: percentile("event.duration", 99, "p99", s)}),
        headline("kpi-clients", "Distinct clients", "How many different client addresses "
                 "sent requests?", 40, lambda c, s: {c: unique_count("client.ip", "Clients", s)}),
        Panel("traffic", "Requests and 5xx share (dashed: alert threshold)",
              "How many requests arrive, what share fails with 5xx, and how close is that "
              "share to the alert threshold?", (0, 6, 24, 13), "bar",
              [Layer("traffic-requests", {"t": date_histogram(), "n": count("Requests")},
                     "bar", "t", None, ["n"]),
               Layer("traffic-share", {"t": date_histogram(),
                                       **share("e", "5xx share", SERVER_ERROR)},
                     "line", "t", None, ["e"], right_axis=True),
               Layer("traffic-threshold", {"thr": static_value(threshold, "Alert threshold")},
                     y=["thr"], right_axis=True, kind="referenceLine")],
              query=ACCESS),
        Panel("latency", "Latency p50 / p95 / p99",
              "How fast are typical and slow requests over time?", (24, 6, 24, 13), "line",
              [Layer("latency-layer", {
                  "t": date_histogram(), "p50": percentile("event.duration", 50, "p50"),
                  "p95": percentile("event.duration", 95, "p95"),
                  "p99": percentile("event.duration", 99, "p99")},
                  "line", "t", None, ["p50", "p95", "p99"])], query=ACCESS),
        Panel("routes", "Routes by 5xx responses",
              "Which routes hurt users most: most 5xx responses, with their requests, 5xx "
              "share and p95 latency?", (0, 19, 30, 14), "table",
              [Layer("routes-layer", {
                  "r": terms("flask.route", "Route", "f", 20),
                  "f": count("5xx responses", SERVER_ERROR), "n": count("Requests"),
                  **share("e", "5xx share", SERVER_ERROR),
                  "p": percentile("event.duration", 95, "p95 latency")})],
              query=ACCESS, sort_by="f"),
        Panel("latency-histogram", "Latency distribution",
              "How are request durations distributed (is there a slow tail)?",
              (30, 19, 18, 14), "bar",
              [Layer("latency-histogram-layer", {
                  "d": histogram("event.duration", "Duration"), "n": count("Requests")},
                  "bar", "d", None, ["n"])], query=ACCESS),
        Linked("map", "map", "flask-client-map", "Client locations",
               "Where do requests come from?", (0, 33, 30, 15)),
        Panel("countries", "Top countries", "Which countries send the most requests?",
              (30, 33, 18, 15), "bar_horizontal",
              [Layer("countries-layer", {
                  "g": terms("client.geo.country_iso_code", "Country", "n"),
                  "n": count("Requests")}, "bar_horizontal", "g", None, ["n"])],
              query=ACCESS),
        Linked("latest-5xx", "search", "flask-5xx", "Latest 5xx requests",
               "Which requests failed last? (the request id opens all its events)",
               (0, 48, 48, 12)),
        Linked("latest-errors", "search", "flask-errors", "Latest errors with stack traces",
               "Which errors were logged last, and where? (the request id opens all its "
               "events)", (0, 60, 48, 14)),
        Markdown("help", "About this dashboard", "What does this dashboard show and where "
                 "does its data come from?", (0, 74, 48, 8), HELP),
    ]


HELP = """\
**Flask service overview.** Access events (`event.dataset: flask.access`, one per request) and \
application logs of the Flask services, written by the `flask_logstash` package, enriched by \
Logstash (GeoIP, user agent) into the `logs-flask.*-*` data streams.

- The controls at the top filter every panel by service, environment, route and host.
- Headline numbers compare the selected time range with the previous period of the same length.
- *5xx share* is 5xx responses divided by all requests; the dashed line is the error-ratio \
alert's threshold (`ALERT_ERROR_RATIO` in `.env`).
- Latencies are `event.duration`, measured in the app from request start to response.
- In the two tables, the request id links to every event of that request.
- Delivery, parsing and ingest problems: [Logging pipeline health](#/view/flask-pipeline-health).
"""


# ES|QL reads a failure store with `FROM <pattern>::failures` (x-pack/plugin/esql antlr
# EsqlBaseParser.g4 `indexPattern`, parser/IdentifierBuilder.java); Kibana's Streams app counts
# failure documents the same way (streams_app hooks/stream_management/
# use_streams_doc_counts_fetch.ts, `FROM <stream>,<stream>::failures`). Both components are read
# so the query resolves before the first refused event (a failure store gets its first index
# lazily; querying `<stream>::failures` before that fails until elastic/elasticsearch#144872),
# and the `.fs-` prefix of failure indices (DataStream.FAILURE_STORE_PREFIX) keeps only failure
# documents. Fields: Elasticsearch's own failure store mapping
# (server/.../cluster/metadata/DataStreamFailureStoreDefinition.java), not the bundle's.
FAILURE_STORE_ESQL = (
    f"FROM {DATA_VIEW_PATTERN}, {FAILURE_STORE} METADATA _index\n"
    '| WHERE STARTS_WITH(_index, ".fs-")\n'
    "| STATS failed = COUNT(*) BY bucket = BUCKET(@timestamp, 50, ?_tstart, ?_tend), "
    "error.type")


def pipeline_panels() -> list[Any]:
    return [
        Panel("streams", "Events per second per dataset",
              "How many events per second does each dataset receive?", (0, 0, 24, 12),
              "line", [Layer("streams-layer", {
                  "t": date_histogram(), "n": count("Events per second", per_second=True),
                  "d": terms("data_stream.dataset", "Dataset", "n", 5)},
                  "line", "t", "d", ["n"])]),
        Panel("lag", "Ingest lag p95 (event.ingested - @timestamp)",
              "How long do events take from the app to Elasticsearch?", (24, 0, 24, 12),
              "line", [Layer("lag-layer", {
                  "t": date_histogram(),
                  "p95": percentile("flask.ingest_lag_ms", 95, "p95 (ms)", duration=False),
                  "p99": percentile("flask.ingest_lag_ms", 99, "p99 (ms)", duration=False)},
                  "line", "t", None, ["p95", "p99"])]),
        Panel("failures", "Events tagged with failures",
              "How many events failed JSON parsing or redaction in Logstash?",
              (0, 12, 24, 12), "bar_stacked", [Layer("failures-layer", {
                  "t": date_histogram(), "n": count(),
                  "g": terms("tags", "Tag", "n", 5)}, "bar_stacked", "t", "g", ["n"])],
              query=FAILURE_TAGS),
        EsqlPanel("failure-store", "Events Elasticsearch refused (failure store)",
                  "How many events did Elasticsearch refuse to index (mapping or ingest "
                  "failure), and with which error?", (24, 12, 24, 12), FAILURE_STORE_ESQL,
                  [("failed", "number", "Refused events"), ("bucket", "date", "@timestamp"),
                   ("error.type", "string", "Error type")], "bucket", ["failed"],
                  "error.type"),
        Panel("losses", "Events lost before reaching Logstash, by cause",
              "How many log events did the logging package lose before they reached "
              "Logstash, and why?", (0, 24, 24, 12), "bar_stacked", [Layer("losses-layer", {
                  "t": date_histogram(),
                  **{cause: sum_of(f"{LOSS_FIELDS}.{cause}", cause.replace("_", " "))
                     for cause in LOSS_CAUSES}},
                  "bar_stacked", "t", None, list(LOSS_CAUSES))], query=DELIVERY_LOSS),
        Panel("tags", "All tags", "Which tags does Logstash set, and how often?",
              (24, 24, 24, 12), "bar_horizontal", [Layer("tags-layer", {
                  "g": terms("tags", "Tag", "n", 15), "n": count()},
                  "bar_horizontal", "g", None, ["n"])]),
        Panel("instances", "Events per service instance",
              "Which services and hosts send events, and how many?", (0, 36, 48, 12),
              "table", [Layer("instances-layer", {
                  "s": terms("service.name", "Service", "n"),
                  "h": terms("host.name", "Host", "n", 20), "n": count()})]),
    ]


def control_group(controls: list[tuple[str, str]]) -> tuple[dict[str, Any], list[dict]]:
    """Options-list controls in the 8.x `controlGroupInput` form; each refers to the data view
    as `controlGroup_<id>:optionsListDataView` (dashboard reference extraction)."""
    panels = {}
    references = []
    for order, (field_name, title) in enumerate(controls):
        control_id = "control-" + field_name.replace(".", "-")
        panels[control_id] = {"order": order, "width": "medium", "grow": True,
                              "type": "optionsListControl",
                              "explicitInput": {"id": control_id, "fieldName": field_name,
                                                "title": title, "selectedOptions": [],
                                                "enhancements": {}}}
        references.append({"name": f"controlGroup_{control_id}:optionsListDataView",
                           "type": "index-pattern", "id": DATA_VIEW})
    group = {"controlStyle": "oneLine", "chainingSystem": "HIERARCHICAL",
             "ignoreParentSettingsJSON": json.dumps({
                 "ignoreFilters": False, "ignoreQuery": False, "ignoreTimerange": False,
                 "ignoreValidations": False}),
             "panelsJSON": json.dumps(panels)}
    return group, references


def dashboard(dash_id: str, title: str, description: str, panels: list[Any],
              controls: list[tuple[str, str]]) -> dict[str, Any]:
    references = [ref for p in panels for ref in p.references()]
    attributes: dict[str, Any] = {
        "title": title, "description": description, "version": 1,
        "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 30000},
        "optionsJSON": json.dumps({"useMargins": True, "syncColors": False,
                                   "syncCursor": True, "syncTooltips": False,
                                   "hidePanelTitles": False}),
        "panelsJSON": json.dumps([p.dashboard_panel() for p in panels]),
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
            {"query": {"query": "", "language": "kuery"}, "filter": []})},
    }
    if controls:
        attributes["controlGroupInput"], control_refs = control_group(controls)
        references.extend(control_refs)
    return {"type": "dashboard", "id": dash_id, "attributes": attributes,
            "references": references,
            "coreMigrationVersion": CORE_VERSION, "typeMigrationVersion": "8.7.0"}


# ---------------------------------------------------------------- map, data view, searches

def client_map() -> dict[str, Any]:
    """A Maps object: basemap plus client locations clustered on a grid (`ES_GEO_GRID`).

    typeMigrationVersion 8.4.0 is the last migration of the maps plugin's own list
    (maps server/saved_objects/saved_object_migrations.ts); Kibana migrates it forward.
    """
    layers = [
        {"id": "basemap", "type": "EMS_VECTOR_TILE", "label": None, "visible": True,
         "alpha": 1, "includeInFitToBounds": True, "style": {"type": "EMS_VECTOR_TILE"},
         "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True,
                              "lightModeDefault": "road_map_desaturated"}},
        {"id": "clients", "type": "GEOJSON_VECTOR", "label": "Requests by client location",
         "visible": True, "alpha": 0.75, "includeInFitToBounds": True, "joins": [],
         "query": {"query": ACCESS, "language": "kuery"},
         "sourceDescriptor": {"type": "ES_GEO_GRID", "id": "clients-source",
                              "geoField": "client.geo.location", "requestType": "point",
                              "resolution": "COARSE", "metrics": [{"type": "count"}],
                              "applyGlobalQuery": True, "applyGlobalTime": True,
                              "applyForceRefresh": True,
                              "indexPatternRefName": "layer_1_source_index_pattern"},
         "style": {"type": "VECTOR", "isTimeAware": True, "properties": {
             "fillColor": {"type": "DYNAMIC", "options": {
                 "color": "Yellow to Red", "field": {"name": "doc_count", "origin": "source"},
                 "fieldMetaOptions": {"isEnabled": True, "sigma": 3}, "type": "ORDINAL"}},
             "iconSize": {"type": "DYNAMIC", "options": {
                 "minSize": 6, "maxSize": 30, "field": {"name": "doc_count", "origin": "source"},
                 "fieldMetaOptions": {"isEnabled": True, "sigma": 3}}},
             "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
             "lineWidth": {"type": "STATIC", "options": {"size": 1}}}}},
    ]
    return {"type": "map", "id": "flask-client-map",
            "attributes": {
                "title": "Flask: client locations",
                "description": "Requests clustered by client.geo.location (Logstash GeoIP).",
                "layerListJSON": json.dumps(layers),
                "mapStateJSON": json.dumps({"zoom": 1.2, "center": {"lon": 0, "lat": 20},
                                            "timeFilters": {"from": "now-24h", "to": "now"},
                                            "refreshConfig": {"isPaused": True, "interval": 0},
                                            "query": {"query": "", "language": "kuery"},
                                            "filters": [], "settings": {}}),
                "uiStateJSON": json.dumps({"isLayerTOCOpen": True, "openTOCDetails": []})},
            "references": [{"name": "layer_1_source_index_pattern", "type": "index-pattern",
                            "id": DATA_VIEW}],
            "coreMigrationVersion": CORE_VERSION, "typeMigrationVersion": "8.4.0"}


def data_view() -> dict[str, Any]:
    # The request id renders as a link to the saved search of every event with that id: the
    # "drilldown" from any row that shows it (Discover, saved-search panels). Field formatter
    # `url` (data field_formats url.ts) URL-encodes {{value}}.
    story = ("/app/discover#/view/" + REQUEST_STORY + "?_a=(query:(language:kuery,"
             "query:'http.request.id : \"{{value}}\"'))")
    formats = {
        "event.duration": {"id": "duration", "params": {
            "inputFormat": "nanoseconds", "outputFormat": "humanizePrecise",
            "outputPrecision": 1}},
        "http.request.id": {"id": "url", "params": {
            "type": "a", "urlTemplate": story, "labelTemplate": "{{value}}"}},
    }
    return {"type": "index-pattern", "id": DATA_VIEW,
            "attributes": {"title": DATA_VIEW_PATTERN, "name": "Flask logs",
                           "timeFieldName": "@timestamp",
                           "fieldFormatMap": json.dumps(formats)},
            "references": [], "coreMigrationVersion": CORE_VERSION,
            "typeMigrationVersion": "7.11.0"}


def saved_search(search_id: str, title: str, description: str, query: str,
                 columns: list[str]) -> dict[str, Any]:
    source = {"query": {"query": query, "language": "kuery"}, "filter": [],
              "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}
    return {"type": "search", "id": search_id,
            "attributes": {"title": title, "description": description, "columns": columns,
                           "sort": [["@timestamp", "desc"]],
                           "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source)}},
            "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                            "type": "index-pattern", "id": DATA_VIEW}],
            "coreMigrationVersion": CORE_VERSION, "typeMigrationVersion": "7.9.3"}


def searches() -> list[dict[str, Any]]:
    return [
        saved_search("flask-errors", "Flask: errors with stack traces",
                     "ERROR events that carry a stack trace, newest first.",
                     'log.level : "error" and error.stack_trace : *',
                     ["service.name", "error.type", "error.message", "url.path",
                      "http.request.id"]),
        saved_search("flask-5xx", "Flask: latest 5xx requests",
                     "Access events answered with a 5xx status, newest first.",
                     f"{ACCESS} and {SERVER_ERROR}",
                     ["service.name", "http.request.method", "flask.route",
                      "http.response.status_code", "event.duration", "http.request.id"]),
        saved_search("flask-slow-requests", "Flask: slow requests",
                     "Access events Logstash tagged slow_request (event.duration above "
                     "SLOW_REQUEST_MS).", f'{ACCESS} and tags : "slow_request"',
                     ["http.request.method", "flask.route", "http.response.status_code",
                      "event.duration", "http.request.id"]),
        saved_search(REQUEST_STORY, "Flask: one request's whole story",
                     "Every event of one request. Opened from a request id link, or replace "
                     "the example id in the query.",
                     'http.request.id : "paste-a-request-id-here"',
                     ["log.level", "log.logger", "message", "event.dataset", "event.duration"]),
    ]


# ---------------------------------------------------------------- alert rules

def esql_rule(name: str, esql: str, window_minutes: int) -> dict[str, Any]:
    """An `.es-query` rule in ES|QL mode: it fires for every row the query returns (Kibana
    requires thresholdComparator ">" and threshold [0] there; response-ops es_query/v1.ts), so
    the condition lives in the query's last WHERE; Kibana adds the time-window filter on
    timeField. Every param is stated so the file reads as Kibana stores it."""
    return {"name": name, "rule_type_id": ".es-query", "consumer": "stackAlerts",
            "tags": ["flask-elk-bundle"], "schedule": {"interval": "1m"},
            "params": {"searchType": "esqlQuery", "esqlQuery": {"esql": esql},
                       "timeField": "@timestamp", "size": 10, "aggType": "count",
                       "groupBy": "row", "excludeHitsFromPreviousRun": False,
                       "threshold": [0], "thresholdComparator": ">",
                       "timeWindowSize": window_minutes, "timeWindowUnit": "m"},
            "actions": []}


class SettingError(ValueError):
    """A .env value the rules cannot use."""


def setting(env: dict[str, str], name: str, kind: type, low: float, high: float) -> Any:
    """One alert setting, checked: it is written into ES|QL text, so only a plain number in
    range is accepted."""
    raw = env.get(name)
    if raw is None:
        raise SettingError(f"{name} is missing from .env")
    try:
        value = kind(raw)
    except ValueError:
        noun = "whole number" if kind is int else "number"
        raise SettingError(f"{name}={raw!r} in .env is not a {noun}") from None
    if not low <= value <= high:
        raise SettingError(f"{name}={raw} in .env must be between {low} and {high}")
    return value


def rules(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    window = setting(env, "ALERT_WINDOW_MINUTES", int, 1, 1440)
    ratio = setting(env, "ALERT_ERROR_RATIO", float, 0.0001, 0.9999)
    minimum = setting(env, "ALERT_MIN_REQUESTS", int, 1, 10**9)
    p95_ms = setting(env, "ALERT_P95_LATENCY_MS", int, 1, 10**7)
    error_ratio = (
        f"FROM {ACCESS_STREAMS}\n"
        '| WHERE event.dataset == "flask.access"\n'
        "| EVAL server_error = CASE(http.response.status_code >= 500, 1, 0)\n"
        "| STATS requests = COUNT(*), server_errors = SUM(server_error) BY service.name\n"
        "| EVAL error_ratio = TO_DOUBLE(server_errors) / requests\n"
        f"| WHERE requests >= {minimum} AND error_ratio > {ratio}\n"
        "| KEEP service.name, requests, server_errors, error_ratio")
    latency = (
        f"FROM {ACCESS_STREAMS}\n"
        '| WHERE event.dataset == "flask.access"\n'
        "| STATS requests = COUNT(*), p95_ns = PERCENTILE(event.duration, 95) BY service.name\n"
        "| EVAL p95_ms = p95_ns / 1000000\n"
        f"| WHERE requests >= {minimum} AND p95_ms > {p95_ms}\n"
        "| KEEP service.name, requests, p95_ms")
    return {
        "flask-error-rate": esql_rule(
            f"Flask: 5xx share above {ratio:.0%} over {window} min", error_ratio, window),
        "flask-latency-p95": esql_rule(
            f"Flask: p95 latency above {p95_ms} ms over {window} min", latency, window),
    }


# ---------------------------------------------------------------- output

def _ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, separators=(",", ":"), sort_keys=True) + "\n" for o in objects)


def build_all() -> dict[Path, str]:
    """Every generated file and its content."""
    env = settings()
    overview = overview_panels(setting(env, "ALERT_ERROR_RATIO", float, 0.0001, 0.9999))
    files = {
        OBJECTS_DIR / "flask-logs.ndjson": _ndjson([data_view(), *searches()]),
        OBJECTS_DIR / "dashboards.ndjson": _ndjson([
            client_map(),
            dashboard("flask-overview", "Flask service overview",
                      "Requests, error share, latency, routes, client locations and the "
                      "latest failures of the Flask services.", overview, CONTROLS),
            dashboard("flask-pipeline-health", "Logging pipeline health",
                      "Event rates, ingest lag, failed parsing or redaction, delivery losses "
                      "and senders.", pipeline_panels(), []),
        ]),
    }
    for rule_id, rule in rules(env).items():
        files[RULES_DIR / f"{rule_id}.json"] = json.dumps(rule, indent=2) + "\n"
    return files


def all_panels() -> dict[str, list[Any]]:
    """The panel specs per dashboard id (for the tests and the docs)."""
    return {"flask-overview": overview_panels(float(settings()["ALERT_ERROR_RATIO"])),
            "flask-pipeline-health": pipeline_panels()}


if __name__ == "__main__":
    try:
        built = build_all()
    except SettingError as exc:
        raise SystemExit(f"build_saved_objects: {exc}") from None
    for path, text in built.items():
        path.write_text(text)
        print(f"wrote {path}")
