"""Every field a saved object or rule uses, with what it is used for, checked against mappings.

Walks data views (field formats), saved searches (query, columns, sort), dashboards (query,
controls, every Lens layer's query, column filters, formulas and source fields, the ES|QL of
Lens ES|QL layers), maps (layer queries, geo fields) and alert rules (ES|QL). The types each
use needs are those Elasticsearch and Kibana accept for it; the mapped types come from
elasticsearch/ (tests/support/es_mappings), except for documents read through the `::failures`
selector: those live in failure indices whose mapping is Elasticsearch's own (below).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.support import es_mappings
from tests.unit.kibana.query_fields import (
    EsqlUse,
    QueryError,
    esql_fields,
    esql_sources,
    kql_clauses,
    split_selector,
)

# The mapping of every failure index, fixed by Elasticsearch and applied instead of the
# template's (MetadataIndexTemplateService discards template mappings for failure indices):
# server/src/main/java/org/elasticsearch/cluster/metadata/DataStreamFailureStoreDefinition.java,
# documented in docs-content manage-data/data-store/data-streams/failure-store.md ("Failure
# document structure"). `dynamic: false`, and `document.source` (the refused event) is kept
# in _source only: no query or aggregation can use its fields.
FAILURE_STORE_FIELDS: dict[str, str] = {
    "@timestamp": "date",
    "document.id": "keyword",
    "document.routing": "keyword",
    "document.index": "keyword",
    "error.message": "match_only_text",
    "error.stack_trace": "text",
    "error.type": "keyword",
    "error.pipeline": "keyword",
    "error.pipeline_trace": "keyword",
    "error.processor_tag": "keyword",
    "error.processor_type": "keyword",
}

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
    "compare:string": WILDCARD_OK | {"ip"}, "bucket": NUMERIC | DATES,
}
_ESQL_NUMERIC = ("PERCENTILE", "AVG", "SUM", "MEDIAN", "MIN", "MAX")
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
    component: str = "data"  # "failures": the field is read from failure indices


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


def _esql_kind(use: EsqlUse) -> str:
    if use.function in _ESQL_NUMERIC:
        return "numeric"
    if use.function == "BUCKET":
        return "bucket"
    if use.compared_with:
        return f"compare:{use.compared_with}"
    return "terms"  # BY and KEEP columns: grouping needs doc values


def esql_uses(where: str, query: str) -> Iterator[Use]:
    """Every source an ES|QL query reads (it must cover a bundle stream) and every field, once
    per index component it reads the field from."""
    components = set()
    for source in esql_sources(query):
        pattern, component = split_selector(source)
        components.add(component)
        yield Use(where, pattern, "source", component)
    for use in esql_fields(query):
        for component in sorted(components):
            yield Use(where, use.field, _esql_kind(use), component)


def _lens_uses(where: str, attributes: dict[str, Any]) -> Iterator[Use]:
    state = attributes["state"]
    if state.get("filters"):
        raise QueryError(f"{where}: stored filters are not checked; use the query")
    datasources = state["datasourceStates"]
    for layer_id, layer in datasources.get("textBased", {}).get("layers", {}).items():
        if layer["query"] != state["query"]:
            raise QueryError(f"{where} {layer_id}: layer and panel hold different ES|QL")
        yield from esql_uses(f"{where} {layer_id}", layer["query"]["esql"])
        yield Use(f"{where} {layer_id}", layer["timeField"], "time")
    if "esql" in state["query"]:
        return
    yield from kql_uses(f"{where} query", state["query"]["query"])
    for layer_id, layer in datasources["formBased"]["layers"].items():
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
    yield from esql_uses(where, params["esqlQuery"]["esql"])


def covers_a_bundle_stream(pattern: str) -> bool:
    """Whether an index pattern matches a stream of one of the bundle's index templates."""
    streams = [p.replace("*", "default") for t in es_mappings.index_templates()
               for p in t.patterns]
    return any(fnmatch.fnmatchcase(stream, part) for part in pattern.split(",")
               for stream in streams)


def problems(uses: list[Use], mapped: dict[str, str]) -> list[str]:
    """What is wrong with each use, judged against `mapped` (the bundle's templates) or, for
    failure-store reads, against Elasticsearch's failure store mapping."""
    found = []
    types_read: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for use in uses:
        if use.kind == "source":
            if not covers_a_bundle_stream(use.field):
                found.append(f"{use.where}: source {use.field} matches no bundle stream")
            continue
        mapping = FAILURE_STORE_FIELDS if use.component == "failures" else mapped
        kind = mapping.get(use.field)
        if kind is None:
            found.append(f"{use.where}: {use.field} is not mapped"
                         + (" in the failure store" if use.component == "failures" else ""))
            continue
        types_read[(use.where, use.field)][use.component] = kind
        allowed = NEEDS[use.kind]
        if allowed is not None and kind not in allowed:
            found.append(f"{use.where}: {use.kind} on {use.field}, mapped as {kind}")
    for (where, field), by_component in types_read.items():
        if len(set(by_component.values())) > 1:
            # ES|QL reads a field mapped differently across the indices as `unsupported`.
            found.append(f"{where}: {field} is mapped differently across components "
                         f"{dict(sorted(by_component.items()))}")
    return found
