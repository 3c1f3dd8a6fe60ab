"""The shipped alert rule is one Kibana 9.5 accepts, and it says what Kibana will store."""

import json

from tests.conftest import REPO_ROOT
from tests.support.fake_kibana import validate_es_query_params

RULE = json.loads((REPO_ROOT / "kibana" / "rules" / "flask-error-rate.json").read_text())


def test_each_run_counts_the_whole_window():
    # With Kibana's default (true) each run counts only hits newer than the last run's, so a
    # steady stream of errors fires, recovers and fires again instead of staying active.
    assert RULE["params"]["excludeHitsFromPreviousRun"] is False


def test_the_file_states_every_param_kibana_would_default():
    # Kibana stores params validated and defaulted; a file that already holds them reads the
    # same as what GET returns.
    assert validate_es_query_params(RULE["params"]) == RULE["params"]


def test_only_keys_the_create_api_takes():
    assert set(RULE) <= {"name", "rule_type_id", "consumer", "tags", "schedule", "params",
                         "actions", "enabled", "throttle", "notify_when"}
    assert RULE["rule_type_id"] == ".es-query"
