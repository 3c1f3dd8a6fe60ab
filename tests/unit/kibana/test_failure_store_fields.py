"""Panels that read the failure store are checked against the failure store's own mapping.

A failure document's mapping is fixed by Elasticsearch (object_fields.FAILURE_STORE_FIELDS,
from DataStreamFailureStoreDefinition.java), not by the bundle's templates: a field the
bundle maps (service.name) is absent there, and the refused event itself (document.source) is
not mapped at all. These tests show the walk refuses what Elasticsearch would not answer.
"""

import pytest

from tests.unit.kibana import object_fields
from tests.unit.kibana.query_fields import QueryError
from tests.unit.kibana.test_saved_objects import all_mapped_fields, load_builder, uses_of_a_build

FAILURES = "FROM logs-flask.*-*::failures"


def found(query):
    return object_fields.problems(list(object_fields.esql_uses("probe", query)),
                                  all_mapped_fields())


def test_the_fields_of_a_failure_document_are_readable():
    assert found(f"{FAILURES} | STATS n = COUNT(*) BY error.type, document.index") == []


@pytest.mark.parametrize("field", ["service.name", "document.source.message", "error.typ"])
def test_a_field_the_failure_store_does_not_map_is_refused(field):
    assert found(f"{FAILURES} | STATS n = COUNT(*) BY {field}") == [
        f"probe: {field} is not mapped in the failure store"]


def test_the_same_field_read_from_the_streams_is_judged_by_the_bundles_mapping():
    assert found("FROM logs-flask.*-* | STATS n = COUNT(*) BY service.name") == []


def test_a_field_mapped_differently_in_data_and_failure_indices_is_refused():
    # error.stack_trace: wildcard in the bundle's templates, text in failure indices; ES|QL
    # reads such a field as `unsupported`.
    problems = found("FROM logs-flask.*-*, logs-flask.*-*::failures | "
                     "STATS n = COUNT(*) BY error.stack_trace")
    assert any("mapped differently" in p and "error.stack_trace" in p for p in problems)


def test_a_source_outside_the_bundles_streams_is_refused():
    assert found("FROM logs-flsk.*-*::failures | STATS n = COUNT(*)") == [
        "probe: source logs-flsk.*-* matches no bundle stream"]


def test_an_unknown_selector_is_refused():
    with pytest.raises(QueryError, match="unknown selector"):
        list(object_fields.esql_uses("probe", "FROM logs-flask.*-*::failure | STATS n = COUNT(*)"))


def test_renaming_the_failure_panels_field_to_one_the_failure_store_lacks_fails():
    builder = load_builder()
    builder.FAILURE_STORE_ESQL = builder.FAILURE_STORE_ESQL.replace("error.type", "error.kind")
    problems = object_fields.problems(uses_of_a_build(builder), all_mapped_fields())
    assert "dashboard flask-pipeline-health panel failure-store failure-store-layer: " \
           "error.kind is not mapped in the failure store" in problems


def test_the_failure_panel_reads_the_failure_store_at_all():
    builder = load_builder()
    uses = [u for u in uses_of_a_build(builder) if "failure-store" in u.where]
    assert {u.component for u in uses if u.field == "error.type"} >= {"failures"}
