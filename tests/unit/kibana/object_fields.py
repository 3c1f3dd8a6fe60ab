"""Every field a saved object or rule uses, with what it is used for, checked against mappings.

Walks data views (field formats), saved searches (query, columns, sort), dashboards (query,
controls, every Lens layer's query, column filters, formulas and source fields), maps (layer
queries, geo fields) and alert rules (ES|QL). The types each use needs are those Elasticsearch
and Kibana accept for it; the mapped types come from elasticsearch/ (tests/support/es_mappings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.support import es_mappings
from tests.unit.kibana.query_fields import QueryError, esql_fields, kql_clauses

NUMERIC = es_mappings.NUMERIC_TYPES
DATES = frozenset({"date", "date_nanos"})
# Aggregatable types: terms, unique counts and options-list controls need doc values.
AGGREGATABLE = frozenset({"keyword", "constant_keyword", "ip", "boolean"}) | NUMERIC | DATES
# Wildcard values in KQL become `wildcard` queries: string types only.
WILDCARD_OK = frozenset({"keyword", "constant_keyword", "wildcard", "text", "match_only_text"})
RANGE_OK = NUMERIC | DATES | {"ip"}
GEO = frozenset({"geo_point", "geo_shape"})

# What each use needs. None: any mapped type.
NEEDS: dict[str, frozenset[str] | None] = {
    "exists": None, "match": None, "column": None, "sort": AGGREGATABLE,
    "wildcard": WILDCARD_OK, "range": RANGE_OK, "terms": AGGREGATABLE,
    "unique_count": AGGREGATABLE, "numeric": NUMERIC, "date_histogram": DATES,
    "histogram": NUMERIC, "control": AGGREGATABLE, "geo": GEO, "time": DATES,
    "format:duration": NUMERIC, "format:url": WILDCARD_OK, "compare:number": NUMERIC | DATES,
    "compare:string": WILDCARD_OK | {"ip"},
}
_LENS_OPS = {"terms": "terms", "unique_count": "unique_count", "date_histogram":
             "date_histogram", "range": "histogram", "percentile": "numeric",
             "average": "numeric", "sum": "numeric", "median": "numeric", "max": "numeric",
             "min": "numeric", "last_value": "column"}
_FORMULA_KQL = re.compile(r"kql='((?:[^'\\]|\\.)*)'")


@dataclass(frozen=True)
class Use:
    where: str
    field: str
    kind: str


def mapped_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    for template in es_mappings.index_templates():
        fields.update(es_mappings.mapped_fields(template))
    return fields


def kql_uses(where: str, query: str) -> Iterator[Use]:
    for clause in kql_clauses(query):
        if clause.exists:
            kind = "exists"
        elif clause.operator != ":":
            kind = "range"
        elif clause.wildcard:
            kind = "wildcard"
        else:
            kind = "match"
        yield Use(where, clause.field, kind)
        if kind == "match" and re.fullmatch(r"-?\d+(\.\d+)?", clause.value) is None:
            # A non-numeric value against a numeric field fails the whole query in ES.
            yield Use(where, clause.field, "compare:string")


def _search_source_uses(where: str, raw: str) -> Iterator[Use]:
    source = json.loads(raw)
    query = source.get("query", {})
    if query.get("language", "kuery") != "kuery":
        raise QueryError(f"{where}: only KQL is checked, found {query.get('language')}")
    yield from kql_uses(f"{where} query", query.get("query", ""))
    if source.get("filter"):
        raise QueryError(f"{where}: stored filters are not checked; use the query")


def _lens_uses(where: str, attributes: dict[str, Any]) -> Iterator[Use]:
    state = attributes["state"]
    yield from kql_uses(f"{where} query", state["query"]["query"])
    if state.get("filters"):
        raise QueryError(f"{where}: stored filters are not checked; use the query")
    for layer_id, layer in state["datasourceStates"]["formBased"]["layers"].items():
        for column_id, column in layer["columns"].items():
            at = f"{where} {layer_id}.{column_id}"
            if column.get("filter"):
                yield from kql_uses(f"{at} filter", column["filter"]["query"])
            if column["operationType"] == "formula":
                for kql in _FORMULA_KQL.findall(column["params"]["formula"]):
                    yield from kql_uses(f"{at} formula", kql)
            source = column.get("sourceField")
            if source and source != "___records___":
                kind = _LENS_OPS.get(column["operationType"])
                if kind is None:
                    raise QueryError(f"{at}: operation {column['operationType']} not checked")
                yield Use(at, source, kind)


def _dashboard_uses(obj: dict[str, Any]) -> Iterator[Use]:
    where = f"dashboard {obj['id']}"
    attributes = obj["attributes"]
    yield from _search_source_uses(where, attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    controls = json.loads((attributes.get("controlGroupInput") or {}).get("panelsJSON", "{}"))
    for control_id, control in controls.items():
        yield Use(f"{where} control {control_id}", control["explicitInput"]["fieldName"],
                  "control")
    for panel in json.loads(attributes["panelsJSON"]):
        lens = panel.get("embeddableConfig", {}).get("attributes")
        if panel["type"] == "lens":
            yield from _lens_uses(f"{where} panel {panel['panelIndex']}", lens)


def _map_uses(obj: dict[str, Any]) -> Iterator[Use]:
    where = f"map {obj['id']}"
    state = json.loads(obj["attributes"]["mapStateJSON"])
    yield from kql_uses(f"{where} query", state["query"]["query"])
    for layer in json.loads(obj["attributes"]["layerListJSON"]):
        at = f"{where} layer {layer['id']}"
        if layer.get("query"):
            yield from kql_uses(f"{at} query", layer["query"]["query"])
        source = layer["sourceDescriptor"]
        if source.get("geoField"):
            yield Use(at, source["geoField"], "geo")
        for metric in source.get("metrics", []):
            if metric.get("field"):
                yield Use(at, metric["field"], "numeric")
        if source.get("type", "").startswith("ES_") and not source.get("geoField"):
            raise QueryError(f"{at}: an Elasticsearch source without a geo field")


def object_uses(obj: dict[str, Any]) -> Iterator[Use]:
    kind = obj["type"]
    if kind == "index-pattern":
        yield Use(f"data view {obj['id']}", obj["attributes"]["timeFieldName"], "time")
        for field, spec in json.loads(obj["attributes"].get("fieldFormatMap") or "{}").items():
            yield Use(f"data view {obj['id']} format", field, f"format:{spec['id']}")
    elif kind == "search":
        where = f"search {obj['id']}"
        attributes = obj["attributes"]
        yield from _search_source_uses(
            where, attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        yield from (Use(f"{where} columns", c, "column") for c in attributes["columns"])
        yield from (Use(f"{where} sort", f, "sort") for f, _ in attributes["sort"])
    elif kind == "dashboard":
        yield from _dashboard_uses(obj)
    elif kind == "map":
        yield from _map_uses(obj)
    else:
        raise QueryError(f"{kind} {obj['id']}: no field walk for this type")


def rule_uses(rule_id: str, rule: dict[str, Any]) -> Iterator[Use]:
    params = rule["params"]
    where = f"rule {rule_id}"
    yield Use(where, params["timeField"], "time")
    if params["searchType"] != "esqlQuery":
        raise QueryError(f"{where}: only ES|QL rules are walked")
    for use in esql_fields(params["esqlQuery"]["esql"]):
        if use.function in ("PERCENTILE", "AVG", "SUM", "MEDIAN", "MIN", "MAX"):
            kind = "numeric"
        elif use.compared_with:
            kind = f"compare:{use.compared_with}"
        else:
            kind = "terms"  # BY and KEEP columns: grouping needs doc values
        yield Use(where, use.field, kind)


def problems(uses: list[Use], mapped: dict[str, str]) -> list[str]:
    found = []
    for use in uses:
        kind = mapped.get(use.field)
        if kind is None:
            found.append(f"{use.where}: {use.field} is not mapped")
            continue
        allowed = NEEDS[use.kind]
        if allowed is not None and kind not in allowed:
            found.append(f"{use.where}: {use.kind} on {use.field}, mapped as {kind}")
    return found
