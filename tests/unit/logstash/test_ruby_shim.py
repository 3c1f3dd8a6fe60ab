"""The Logstash event shim refuses what Logstash's Event refuses (logstash_shim.rb names
the source of each rule), so ruby code that passes here does not rely on leniency."""

import pytest

from tests.support.logstash_config import Plugin
from tests.unit.logstash.ruby_filters import run_ruby


def run_code(code: str, event: dict | None = None):
    (outcome,) = run_ruby(Plugin("filter", "ruby", {"code": code}), [event or {"a": 1}])
    return outcome


@pytest.mark.parametrize("reference", ["[a]b]", "a]b", "[a][b", "[]", "[a]x", "x[a]"])
def test_malformed_field_references_are_refused(reference):
    outcome = run_code(f'event.set({reference!r}, 1)')
    assert outcome.exception
    assert "Invalid FieldReference" in outcome.exception
    assert "_rubyexception" in outcome.tags


def test_a_key_with_a_bracket_is_reachable_only_inside_a_hash():
    outcome = run_code(
        'event.set("[outer]", { "a]b" => 1 }); event.set("x", event.get("[outer]").keys)')
    assert outcome.exception is None
    assert outcome.event["x"] == ["a]b"]


def test_timestamp_takes_only_a_timestamp():
    assert "TypeError" in run_code('event.set("@timestamp", "2026-01-01T00:00:00Z")').exception
    ok = run_code('event.set("@timestamp", LogStash::Timestamp.coerce("2026-01-01T00:00:00Z"))')
    assert ok.exception is None
    assert ok.event["@timestamp"].startswith("2026-01-01T00:00:00")


def test_bad_timestamp_at_creation_is_kept_aside_and_tagged():
    outcome = run_code("nil", {"@timestamp": "yesterday", "a": 1})
    assert outcome.event["_@timestamp"] == "yesterday"
    assert "_timestampparsefailure" in outcome.tags


def test_get_returns_a_copy_and_metadata_is_separate():
    outcome = run_code(
        'h = event.get("[a]"); h["x"] = 2; event.set("[@metadata][m]", 1);'
        ' event.set("t", event.to_hash.key?("@metadata"))',
        {"a": {"y": 1}})
    assert outcome.event["a"] == {"y": 1}
    assert outcome.metadata == {"m": 1}
    assert outcome.event["t"] is False


def test_values_logstash_cannot_store_are_refused():
    assert "Missing Converter" in run_code('event.set("x", :symbol)').exception


def test_setting_below_a_scalar_fails():
    assert run_code('event.set("[a][b]", 1)', {"a": "text"}).exception
