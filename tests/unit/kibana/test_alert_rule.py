"""The shipped alert rules are ones Kibana 9.5 accepts, say what Kibana will store, ask the
question they are named for, and take their thresholds from .env."""

import json
import re

import pytest

from tests.conftest import REPO_ROOT
from tests.support.fake_kibana import validate_es_query_params
from tests.unit.kibana import object_fields
from tests.unit.kibana.query_fields import esql_sources

RULES_DIR = REPO_ROOT / "kibana" / "rules"
RULES = {p.stem: json.loads(p.read_text()) for p in sorted(RULES_DIR.glob("*.json"))}


def dotenv():
    pairs = (line.split("=", 1) for line in (REPO_ROOT / ".env").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def esql(rule_id):
    return RULES[rule_id]["params"]["esqlQuery"]["esql"]


def commands(rule_id):
    return [c.strip() for c in esql(rule_id).split("|")]


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_the_file_states_every_param_kibana_would_default(rule_id):
    # Kibana stores params validated and defaulted; a file that already holds them reads the
    # same as what GET returns.
    assert validate_es_query_params(RULES[rule_id]["params"]) == RULES[rule_id]["params"]


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_only_keys_the_create_api_takes(rule_id):
    assert set(RULES[rule_id]) <= {"name", "rule_type_id", "consumer", "tags", "schedule",
                                   "params", "actions", "enabled", "throttle", "notify_when"}
    assert RULES[rule_id]["rule_type_id"] == ".es-query"


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_each_run_reads_the_whole_window_from_env_on_the_access_streams(rule_id):
    params = RULES[rule_id]["params"]
    assert params["excludeHitsFromPreviousRun"] is False
    assert params["timeWindowSize"] == int(dotenv()["ALERT_WINDOW_MINUTES"])
    assert params["timeWindowUnit"] == "m"
    assert params["groupBy"] == "row"  # one alert per service
    assert esql_sources(esql(rule_id)) == ["logs-flask.access-*"]
    assert commands(rule_id)[1] == 'WHERE event.dataset == "flask.access"'


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_field_a_rule_reads_is_mapped_with_a_fitting_type(rule_id):
    uses = list(object_fields.rule_uses(rule_id, RULES[rule_id]))
    assert {u.field for u in uses} >= {"@timestamp", "event.dataset", "service.name"}
    assert object_fields.problems(uses, object_fields.mapped_fields()) == []


def test_the_rule_check_catches_an_unmapped_or_misused_field():
    rule = json.loads(json.dumps(RULES["flask-error-rate"]))
    rule["params"]["esqlQuery"]["esql"] = esql("flask-error-rate").replace(
        "http.response.status_code", "http.response.code").replace(
        "BY service.name", "BY message")
    found = object_fields.problems(list(object_fields.rule_uses("r", rule)),
                                   object_fields.mapped_fields())
    assert "rule r: http.response.code is not mapped" in found
    assert "rule r: terms on message, mapped as match_only_text" in found


def test_the_error_rule_divides_5xx_by_all_requests_with_a_minimum_count():
    env = dotenv()
    steps = commands("flask-error-rate")
    assert "EVAL server_error = CASE(http.response.status_code >= 500, 1, 0)" in steps
    assert ("STATS requests = COUNT(*), server_errors = SUM(server_error) BY service.name"
            in steps)
    # TO_DOUBLE: integer division would make every ratio below 1 zero.
    assert "EVAL error_ratio = TO_DOUBLE(server_errors) / requests" in steps
    condition = steps[steps.index("EVAL error_ratio = TO_DOUBLE(server_errors) / requests") + 1]
    assert condition == (f"WHERE requests >= {int(env['ALERT_MIN_REQUESTS'])} "
                         f"AND error_ratio > {float(env['ALERT_ERROR_RATIO'])}")


def test_the_latency_rule_compares_the_p95_in_milliseconds():
    env = dotenv()
    steps = commands("flask-latency-p95")
    assert ("STATS requests = COUNT(*), p95_ns = PERCENTILE(event.duration, 95) "
            "BY service.name") in steps
    # event.duration is in nanoseconds (ECS).
    assert "EVAL p95_ms = p95_ns / 1000000" in steps
    assert (f"WHERE requests >= {int(env['ALERT_MIN_REQUESTS'])} "
            f"AND p95_ms > {int(env['ALERT_P95_LATENCY_MS'])}") in steps


def test_rule_names_say_their_threshold():
    env = dotenv()
    assert re.search(rf"above {float(env['ALERT_ERROR_RATIO']):.0%}",
                     RULES["flask-error-rate"]["name"])
    assert f"above {env['ALERT_P95_LATENCY_MS']} ms" in RULES["flask-latency-p95"]["name"]


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_one_alert_per_service_that_stays_the_same_alert_across_runs(rule_id):
    # With groupBy "row" Kibana names each alert by the BY fields of the query's last STATS
    # that survive to the result (stack_alerts es_query lib/esql_query_utils.ts
    # getAlertIdFields); without them each row would be its own, ever-new alert.
    steps = commands(rule_id)
    last_stats = [s for s in steps if s.startswith("STATS ")][-1]
    assert last_stats.endswith(" BY service.name")
    keep = [s for s in steps if s.startswith("KEEP ")]
    assert keep
    assert "service.name" in [c.strip() for c in keep[-1][5:].split(",")]
    assert not [s for s in steps if s.startswith(("RENAME ", "DROP "))]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ALERT_ERROR_RATIO", "5%", "is not a number"),
    ("ALERT_ERROR_RATIO", "5", "must be between"),
    ("ALERT_ERROR_RATIO", "0.05 OR true", "is not a number"),  # it is written into ES|QL
    ("ALERT_MIN_REQUESTS", "0", "must be between"),
    ("ALERT_WINDOW_MINUTES", "5m", "is not a whole number"),
    ("ALERT_P95_LATENCY_MS", None, "is missing from .env"),
])
def test_an_unusable_alert_setting_is_a_clear_error(name, value, message):
    from tests.unit.kibana.test_saved_objects import load_builder

    builder = load_builder()
    env = dotenv()
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(builder.SettingError, match=f"{name}.*{message}"):
        builder.rules(env)
