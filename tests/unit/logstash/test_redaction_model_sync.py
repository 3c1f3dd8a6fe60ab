"""The Logstash second line holds the app's redaction model, generated, never retyped: the
committed flask.conf carries exactly what tests/support/logstash_redaction.py renders from
tests/corpus/redaction_model.json, and Ruby reads every pattern as the app's `re` does."""

import json

import pytest

from flask_logstash.redaction import model
from tests.support import logstash_redaction
from tests.unit.app.test_redaction_linear import sre_parse, violations
from tests.unit.logstash.redaction_probe import REDACT, probe

MODEL = logstash_redaction.load_model()
CONF_TEXT = logstash_redaction.PIPELINE_FILE.read_text()


def test_the_committed_pipeline_holds_the_generated_model():
    block = logstash_redaction.generated_block(CONF_TEXT)
    assert block == logstash_redaction.render(MODEL), (
        "flask.conf is out of date: run `.venv/bin/python -m tests.support.logstash_redaction`"
    )
    assert block in REDACT.options["init"]


def test_the_generator_follows_a_model_change():
    changed = json.loads(json.dumps(MODEL))
    changed["sensitive_words"].append("zzword")
    rewritten = logstash_redaction.rewrite(CONF_TEXT, changed)
    assert '"zzword"' in logstash_redaction.generated_block(rewritten)
    assert rewritten != CONF_TEXT


def test_the_init_has_no_quote_or_substitution_logstash_would_act_on():
    init = REDACT.options["init"]
    assert "'" not in init  # ends the single-quoted option value
    assert "${" not in init  # logstash-core SubstitutionVariables would replace it


@pytest.fixture(scope="module")
def ruby() -> dict:
    """The model as the filter's init left it in Ruby (skips with one line without ruby)."""
    (out,) = probe(
        """event.set("out", {
          "sources" => @patterns.transform_values(&:source),
          "options" => @patterns.transform_values(&:options),
          "words" => @sensitive_words, "fragments" => @sensitive_fragments,
          "suffixes" => @sensitive_suffixes, "names" => @sensitive_names,
          "line_valued" => @line_valued_names, "schemes" => @auth_schemes,
          "cards" => @card_lengths_by_prefix, "cap" => @max_scanned_chars,
          "marker" => format(@truncation_marker, 123),
          "own_patterns" => instance_variables.map { |v| instance_variable_get(v) }
            .grep(Regexp).map(&:source),
        })""",
        [None],
    )
    return out



def test_ruby_holds_the_model_data(ruby):
    assert ruby["words"] == MODEL["sensitive_words"]
    assert ruby["fragments"] == MODEL["sensitive_fragments"]
    assert ruby["suffixes"] == MODEL["sensitive_suffixes"]
    assert ruby["names"] == MODEL["sensitive_names"]
    assert ruby["line_valued"] == MODEL["line_valued_names"]
    assert ruby["schemes"] == MODEL["auth_schemes"]
    assert ruby["cards"] == MODEL["card"]["lengths_by_prefix"]
    assert ruby["cap"] == MODEL["max_scanned_chars"]


def test_the_truncation_marker_is_the_apps(ruby):
    # Not in the published model: compared with the app's constant directly.
    assert ruby["marker"] == model.TRUNCATION_MARKER.format(dropped=123)


@pytest.mark.parametrize("name", sorted(MODEL["value_patterns"]))
def test_ruby_compiles_each_pattern_from_the_same_source(ruby, name):
    python_source = MODEL["value_patterns"][name]
    assert ruby["sources"][name] == python_source.replace("(?P<", "(?<")
    # (?i) stays inline in the source; no flag is added on the Ruby side.
    assert ruby["options"][name] == 0


# Regexp.linear_time? (Ruby >= 3.2) is not in Debian's ruby 3.1, and Logstash runs JRuby's
# Joni, which has no memoisation at all: linearity is checked on the pattern's structure.
# The model's patterns are checked by tests/unit/app/test_redaction_linear.py; these are the
# ones written in the filter itself (\G anchors them like Python's match).
def test_the_filters_own_patterns_follow_the_linear_rules(ruby):
    own = sorted(set(ruby["own_patterns"]))
    assert len(own) >= 8
    found = {source: violations(list(sre_parse.parse(source.removeprefix("\\G"))))
             for source in own}
    assert not {source: v for source, v in found.items() if v}
