"""Build kibana/saved_objects/dashboards.ndjson from the compact panel specs below.

    python kibana/build_saved_objects.py      # rewrites the NDJSON; commit both

The NDJSON is in the 8.x saved-object format Kibana's own sample data uses (dashboard
typeMigrationVersion 8.7.0 with Lens panels by value, reference names
`<panel>:indexpattern-datasource-layer-<layer>`), so Kibana 8.19 and 9.x migrate it on import.
A test checks that the committed file equals a fresh build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_VIEW = "flask-logs"
OUT = Path(__file__).resolve().parent / "saved_objects" / "dashboards.ndjson"
PANEL_VERSION = "8.11.0"


def date_histogram() -> dict[str, Any]:
    return {"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
            "sourceField": "@timestamp", "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}


def count(label: str = "Events") -> dict[str, Any]:
    return {"label": label, "dataType": "number", "operationType": "count",
            "sourceField": "___records___", "isBucketed": False, "scale": "ratio",
            "params": {"emptyAsNull": False}, "customLabel": True}


def percentile(source: str, pct: int, label: str) -> dict[str, Any]:
    return {"label": label, "dataType": "number", "operationType": "percentile",
            "sourceField": source, "isBucketed": False, "scale": "ratio",
            "params": {"percentile": pct, "format": {"id": "duration", "params": {
                "fromUnit": "nanoseconds", "toUnit": "asMilliseconds", "decimals": 1}}},
            "customLabel": True}


def average(source: str, label: str) -> dict[str, Any]:
    return {"label": label, "dataType": "number", "operationType": "average",
            "sourceField": source, "isBucketed": False, "scale": "ratio", "customLabel": True}


def terms(source: str, label: str, order_by: str, size: int = 10,
          data_type: str = "string") -> dict[str, Any]:
    return {"label": label, "dataType": data_type, "operationType": "terms",
            "sourceField": source, "isBucketed": True, "scale": "ordinal", "customLabel": True,
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by},
                       "orderDirection": "desc", "otherBucket": True, "missingBucket": False}}


@dataclass
class Panel:
    """One Lens panel: named columns, the chart, and where it sits on the 48-column grid."""

    id: str
    title: str
    grid: tuple[int, int, int, int]  # x, y, w, h
    chart: str  # line | bar_stacked | bar_percentage_stacked | bar_horizontal | metric | table
    columns: dict[str, dict[str, Any]]
    x: str | None = None
    split: str | None = None
    y: list[str] = field(default_factory=list)
    query: str = ""

    @property
    def layer(self) -> str:
        return f"{self.id}-layer"

    def visualization(self) -> tuple[str, dict[str, Any]]:
        if self.chart == "metric":
            return "lnsMetric", {"layerId": self.layer, "layerType": "data",
                                 "metricAccessor": self.y[0]}
        if self.chart == "table":
            return "lnsDatatable", {"layerId": self.layer, "layerType": "data",
                                    "columns": [{"columnId": c} for c in self.columns]}
        layer = {"layerId": self.layer, "layerType": "data", "seriesType": self.chart,
                 "xAccessor": self.x, "accessors": self.y}
        if self.split:
            layer["splitAccessor"] = self.split
        return "lnsXY", {"preferredSeriesType": self.chart, "layers": [layer],
                         "legend": {"isVisible": True, "position": "right"},
                         "valueLabels": "hide", "fittingFunction": "None"}

    def lens_attributes(self) -> dict[str, Any]:
        vis_type, visualization = self.visualization()
        return {
            "title": self.title, "visualizationType": vis_type, "type": "lens",
            "references": [{"type": "index-pattern", "id": DATA_VIEW,
                            "name": f"indexpattern-datasource-layer-{self.layer}"}],
            "state": {
                "visualization": visualization,
                "query": {"query": self.query, "language": "kuery"},
                "filters": [],
                "datasourceStates": {"formBased": {"layers": {self.layer: {
                    "columns": self.columns, "columnOrder": list(self.columns),
                    "incompleteColumns": {}}}}},
                "internalReferences": [], "adHocDataViews": {},
            },
        }

    def dashboard_panel(self) -> dict[str, Any]:
        x, y, w, h = self.grid
        return {"version": PANEL_VERSION, "type": "lens",
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": self.id},
                "panelIndex": self.id, "title": self.title,
                "embeddableConfig": {"attributes": self.lens_attributes(), "enhancements": {}}}


def search_panel(panel_id: str, search_id: str, grid: tuple[int, int, int, int],
                 title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    x, y, w, h = grid
    panel = {"version": PANEL_VERSION, "type": "search",
             "gridData": {"x": x, "y": y, "w": w, "h": h, "i": panel_id},
             "panelIndex": panel_id, "title": title, "embeddableConfig": {"enhancements": {}},
             "panelRefName": f"panel_{panel_id}"}
    reference = {"name": f"{panel_id}:panel_{panel_id}", "type": "search", "id": search_id}
    return panel, reference


ACCESS = 'event.dataset : "flask.access"'

OVERVIEW = [
    Panel("rate", "Requests by status class", (0, 0, 24, 12), "bar_stacked",
          {"t": date_histogram(), "n": count("Requests"),
           "c": terms("flask.status_class", "Status class", "n", 5)},
          x="t", split="c", y=["n"], query=ACCESS),
    Panel("errors", "Error rate (outcome share)", (24, 0, 24, 12), "bar_percentage_stacked",
          {"t": date_histogram(), "n": count("Requests"),
           "o": terms("event.outcome", "Outcome", "n", 3)},
          x="t", split="o", y=["n"], query=ACCESS),
    Panel("latency", "Latency p50 / p95 / p99", (0, 12, 24, 12), "line",
          {"t": date_histogram(), "p50": percentile("event.duration", 50, "p50"),
           "p95": percentile("event.duration", 95, "p95"),
           "p99": percentile("event.duration", 99, "p99")},
          x="t", y=["p50", "p95", "p99"], query=ACCESS),
    Panel("routes", "Top routes by requests", (24, 12, 12, 12), "bar_horizontal",
          {"r": terms("flask.route", "Route", "n"), "n": count("Requests")},
          x="r", y=["n"], query=ACCESS),
    Panel("slowroutes", "Top routes by p95 latency", (36, 12, 12, 12), "bar_horizontal",
          {"r": terms("flask.route", "Route", "p"),
           "p": percentile("event.duration", 95, "p95")},
          x="r", y=["p"], query=ACCESS),
    Panel("status", "Status codes", (0, 24, 16, 12), "bar_horizontal",
          {"s": terms("http.response.status_code", "Status", "n", 15, "number"),
           "n": count("Requests")},
          x="s", y=["n"], query=ACCESS),
    Panel("levels", "Log levels over time", (16, 24, 32, 12), "bar_stacked",
          {"t": date_histogram(), "n": count(), "l": terms("log.level", "Level", "n", 5)},
          x="t", split="l", y=["n"]),
    Panel("clients", "Top clients", (0, 36, 16, 12), "bar_horizontal",
          {"c": terms("client.ip", "Client", "n", 10, "ip"), "n": count("Requests")},
          x="c", y=["n"], query=ACCESS),
    Panel("geo", "Requests by country", (16, 36, 16, 12), "bar_horizontal",
          {"g": terms("client.geo.country_iso_code", "Country", "n"), "n": count("Requests")},
          x="g", y=["n"], query=ACCESS),
    Panel("agents", "User agents", (32, 36, 16, 12), "bar_horizontal",
          {"a": terms("user_agent.name", "Browser / client", "n"), "n": count("Requests")},
          x="a", y=["n"], query=ACCESS),
]

PIPELINE = [
    Panel("streams", "Events per data stream", (0, 0, 24, 12), "bar_stacked",
          {"t": date_histogram(), "n": count(),
           "d": terms("data_stream.dataset", "Dataset", "n", 5)},
          x="t", split="d", y=["n"]),
    Panel("lag", "Ingest lag (event.ingested - @timestamp, ms)", (24, 0, 24, 12), "line",
          {"t": date_histogram(), "avg": average("flask.ingest_lag_ms", "Average"),
           "p99": {**percentile("flask.ingest_lag_ms", 99, "p99"),
                   "params": {"percentile": 99}}},
          x="t", y=["avg", "p99"]),
    Panel("tags", "Tagged events (parse, geo, redaction, slow)", (0, 12, 24, 12),
          "bar_horizontal",
          {"g": terms("tags", "Tag", "n", 15), "n": count()}, x="g", y=["n"]),
    Panel("instances", "Events per service instance", (24, 12, 24, 12), "table",
          {"s": terms("service.name", "Service", "n"), "h": terms("host.name", "Host", "n", 20),
           "n": count()}),
]


def dashboard(dash_id: str, title: str, description: str, panels: list[Panel],
              searches: list[tuple[str, str, tuple[int, int, int, int], str]]) -> dict[str, Any]:
    panel_json = [p.dashboard_panel() for p in panels]
    references = [{"type": "index-pattern", "id": DATA_VIEW,
                   "name": f"{p.id}:indexpattern-datasource-layer-{p.layer}"} for p in panels]
    for panel_id, search_id, grid, search_title in searches:
        panel, reference = search_panel(panel_id, search_id, grid, search_title)
        panel_json.append(panel)
        references.append(reference)
    return {
        "type": "dashboard", "id": dash_id,
        "attributes": {
            "title": title, "description": description, "version": 1,
            "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 30000},
            "optionsJSON": json.dumps({"useMargins": True, "syncColors": False,
                                       "syncCursor": True, "syncTooltips": False,
                                       "hidePanelTitles": False}),
            "panelsJSON": json.dumps(panel_json),
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": []})},
        },
        "references": references,
        "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "8.7.0",
    }


def build() -> str:
    objects = [
        dashboard("flask-overview", "Flask service overview",
                  "Traffic, errors, latency, routes, clients and recent errors of the Flask "
                  "services.", OVERVIEW,
                  [("recent", "flask-errors", (0, 48, 48, 14), "Recent errors")]),
        dashboard("flask-pipeline-health", "Logging pipeline health",
                  "Events per data stream, ingest lag, tagged events and senders.", PIPELINE,
                  []),
    ]
    return "".join(json.dumps(o, separators=(",", ":"), sort_keys=True) + "\n" for o in objects)


def lens_columns(dashboard_object: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Lens column of a built dashboard (for the field checks)."""
    columns = []
    for panel in json.loads(dashboard_object["attributes"]["panelsJSON"]):
        attributes = panel["embeddableConfig"].get("attributes")
        if not attributes:
            continue
        layers = attributes["state"]["datasourceStates"]["formBased"]["layers"]
        for layer in layers.values():
            columns.extend(layer["columns"].values())
    return columns


if __name__ == "__main__":
    OUT.write_text(build())
    print(f"wrote {OUT}")
