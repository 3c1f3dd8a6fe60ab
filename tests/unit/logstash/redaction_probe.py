"""Calls into the `redact_and_parse` filter's init block under Ruby: the same init as
flask.conf, with probe code that hands one of its lambdas a value and stores the result."""

from __future__ import annotations

from typing import Any

from tests.conftest import REPO_ROOT
from tests.support.logstash_config import Plugin, parse_file
from tests.unit.logstash.ruby_filters import run_ruby

CONFIG = parse_file(REPO_ROOT / "logstash/pipeline/flask.conf")
(REDACT,) = [p for p in CONFIG.plugins("filter", "ruby")
             if p.options.get("id") == "redact_and_parse"]
EXTRA_KEYS_ENV = "LOG_REDACT_EXTRA_KEYS"


def probe(code: str, inputs: list[Any], env: dict[str, str] | None = None) -> list[Any]:
    """Runs `code` (which reads event field "in" and sets field "out") with the filter's
    init, once per input; returns the "out" values."""
    plugin = Plugin(section="filter", name="ruby", options={
        "init": REDACT.options["init"], "code": code, "tag_on_exception": "_probe_failure",
    })
    outcomes = run_ruby(plugin, [{"in": value} for value in inputs], env=env)
    failures = [o.exception for o in outcomes if o.exception]
    assert not failures, failures[:3]
    return [o.event.get("out") for o in outcomes]


def redact_texts(texts: list[str], env: dict[str, str] | None = None) -> list[str]:
    return probe('event.set("out", @redact_text.call(event.get("in")))', texts, env)
