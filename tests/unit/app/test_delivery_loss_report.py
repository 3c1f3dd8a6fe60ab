"""The delivery-loss report carries, as numbers, the counts the pipeline-health dashboard sums,
under the names the dashboard uses (one source of truth: the package's constants)."""

import json

import pytest

from flask_logstash.delivery import losses
from flask_logstash.ecs_formatter import EcsEventFormatter
from flask_logstash.settings import LoggingSettings
from tests.support import es_mappings
from tests.unit.kibana.query_fields import Clause, kql_clauses
from tests.unit.kibana.test_saved_objects import load_builder


def report_event(counts):
    ledger = losses.LossLedger()
    for cause, n in counts.items():
        ledger.add(cause, n)
    record = ledger.due_report()
    assert record is not None
    return json.loads(EcsEventFormatter(LoggingSettings()).format(record))


def nested(event, dotted):
    for part in dotted.split("."):
        event = event[part]
    return event


def test_the_report_event_carries_every_cause_and_the_total_as_numbers(capfd):
    event = report_event({losses.QUEUE_FULL: 3, losses.DISK_CAP: 2})
    assert event["event"]["action"] == losses.REPORT_ACTION
    assert nested(event, losses.REPORT_FIELDS) == {
        "queue_full": 3, "memory_cap": 0, "disk_cap": 2, "unformattable": 0, "total": 5}
    # The free-form copy stays where it was (under the flattened flask.extra).
    assert event["flask"]["extra"]["lost_events"] == {"queue_full": 3, "disk_cap": 2}
    assert "lost 5 log events" in capfd.readouterr().err


@pytest.mark.parametrize("cause", losses.CAUSES)
def test_each_cause_alone_is_counted_under_its_own_field(cause, capfd):
    counts = nested(report_event({cause: 7}), losses.REPORT_FIELDS)
    assert counts[cause] == counts["total"] == 7
    assert sum(v for k, v in counts.items() if k != "total") == 7


def test_every_number_the_report_carries_is_mapped_as_a_number(capfd):
    event = report_event({cause: 1 for cause in losses.CAUSES})
    mapped = {}
    for template in es_mappings.index_templates():
        if any(p.startswith("logs-flask.app") for p in template.patterns):
            mapped.update(es_mappings.mapped_fields(template))
    for name, value in es_mappings.leaf_values(nested(event, losses.REPORT_FIELDS),
                                                f"{losses.REPORT_FIELDS}."):
        assert isinstance(value, int), name
        assert mapped.get(name) in es_mappings.NUMERIC_TYPES, name
    assert mapped.get("event.action") == "keyword"


def test_the_dashboard_selects_and_sums_the_names_the_package_emits():
    builder = load_builder()
    assert kql_clauses(builder.DELIVERY_LOSS) == [
        Clause("event.action", ":", losses.REPORT_ACTION, True)]
    assert builder.LOSS_FIELDS == losses.REPORT_FIELDS
    assert tuple(builder.LOSS_CAUSES) == losses.CAUSES
    # ...and the committed panel sums exactly those fields.
    (losses_panel,) = [p for p in builder.pipeline_panels() if p.id == "losses"]
    summed = {c["sourceField"] for layer in losses_panel.layers for c in layer.columns.values()
              if c["operationType"] == "sum"}
    assert summed == {f"{losses.REPORT_FIELDS}.{cause}" for cause in losses.CAUSES}
