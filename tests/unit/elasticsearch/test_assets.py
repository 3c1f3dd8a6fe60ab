"""The Elasticsearch asset files have the shape the APIs take and keep their promises."""

import json
import re

import pytest

from tests.conftest import REPO_ROOT
from tests.support import es_mappings

ASSETS = REPO_ROOT / "elasticsearch"
PHASE_ACTIONS = {
    "hot": {"rollover", "set_priority", "unfollow", "readonly", "downsample", "shrink",
            "forcemerge", "searchable_snapshot"},
    "warm": {"set_priority", "unfollow", "readonly", "downsample", "shrink", "forcemerge",
             "allocate", "migrate"},
    "cold": {"set_priority", "unfollow", "readonly", "downsample", "searchable_snapshot",
             "allocate", "migrate"},
    "frozen": {"unfollow", "searchable_snapshot"},
    "delete": {"wait_for_snapshot", "delete"},
}
INDEX_PRIVILEGES = {"all", "auto_configure", "create", "create_doc", "create_index",
                    "delete", "delete_index", "index", "maintenance", "manage",
                    "manage_follow_index", "manage_ilm", "manage_leader_index", "monitor",
                    "read", "read_cross_cluster", "view_index_metadata", "write",
                    "read_failure_store", "manage_failure_store"}


def age_seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def test_every_asset_is_json():
    files = list(ASSETS.rglob("*.json"))
    assert len(files) >= 10
    for path in files:
        json.loads(path.read_text())


@pytest.mark.parametrize("path", sorted((ASSETS / "ilm").glob("*.json")), ids=lambda p: p.stem)
def test_ilm_policy_is_valid_and_deletes(path):
    phases = json.loads(path.read_text())["policy"]["phases"]
    assert "rollover" in phases["hot"]["actions"]
    assert "delete" in phases["delete"]["actions"], "retention needs a delete phase"
    previous = 0.0
    for name in ("hot", "warm", "cold", "frozen", "delete"):
        if name not in phases:
            continue
        assert set(phases[name]["actions"]) <= PHASE_ACTIONS[name], name
        raw = phases[name].get("min_age", "0ms")
        value = raw if not raw.startswith("${") else "30d"  # substituted at provisioning
        assert age_seconds(value) >= previous, "min_age must not decrease"
        previous = age_seconds(value)


def test_index_templates_are_data_streams_that_beat_the_builtin_logs_template():
    templates = es_mappings.index_templates()
    assert {t.name for t in templates} == {"logs-flask-access", "logs-flask-app"}
    for template in templates:
        assert template.body["data_stream"] == {}
        assert template.priority > 100
        composed = template.body["composed_of"]
        known = es_mappings.BUILTIN_COMPONENTS | set(es_mappings.component_templates())
        assert set(composed) <= known
        assert {"logs@mappings", "ecs@mappings", "logs@settings"} <= set(composed)
        if "logs@custom" in template.body["composed_of"]:
            assert "logs@custom" in template.body["ignore_missing_component_templates"]


def test_roles_use_real_privileges_and_the_writer_is_least_privilege():
    for path in (ASSETS / "roles").glob("*.json"):
        role = json.loads(path.read_text())
        for entry in role["indices"]:
            assert set(entry["privileges"]) <= INDEX_PRIVILEGES
    writer = json.loads((ASSETS / "roles/flask_logs_writer.json").read_text())
    assert writer["cluster"] == ["monitor"]
    privileges = [sorted(e["privileges"]) for e in writer["indices"]]
    assert privileges == [["auto_configure", "create_doc"]]


def test_users_carry_no_password():
    for path in (ASSETS / "users").glob("*.json"):
        assert "password" not in json.loads(path.read_text())


def test_mapping_failures_land_in_a_failure_store_the_reader_can_read():
    # On 9.2+ a document that fails mapping goes to <stream>::failures instead of Logstash's
    # DLQ; the templates state it rather than inherit it, and people reading logs see them.
    for template in (ASSETS / "index_templates").glob("*.json"):
        options = json.loads(template.read_text())["template"].get("data_stream_options", {})
        assert options.get("failure_store", {}).get("enabled") is True, template.name
    reader = json.loads((ASSETS / "roles" / "flask_logs_reader.json").read_text())
    assert any("read_failure_store" in grant["privileges"] for grant in reader["indices"])
