"""Run the ruby filters of our pipelines for real, under Debian's Ruby with a shim of
Logstash's event API (logstash_shim.rb). Tests that need it skip with one line when no
`ruby` is installed; scripts/run-tests installs it where it can."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.logstash_config import PipelineConfig, Plugin

HERE = Path(__file__).parent
RUNNER = HERE / "ruby_filter_runner.rb"


# Another interpreter for a run by hand: ELK_RUBY_INTERPRETER=jruby (Debian's jruby package
# uses JRuby's Joni regex engine, as Logstash does; Debian's ruby uses Onigmo).
INTERPRETER = os.environ.get("ELK_RUBY_INTERPRETER", "ruby")


def ruby_or_skip() -> str:
    ruby = shutil.which(INTERPRETER)
    if ruby is None:
        if os.environ.get("ELK_RUBY") == "require":
            pytest.fail("ruby is required (ELK_RUBY=require) but not installed")
        pytest.skip("no ruby interpreter: ruby filter code not executed (apt-get install ruby)")
    return ruby


@dataclass
class Outcome:
    event: dict[str, Any]
    exception: str | None

    @property
    def metadata(self) -> dict[str, Any]:
        return self.event.get("@metadata", {})

    @property
    def tags(self) -> list[str]:
        return self.event.get("tags", [])

    def get(self, dotted: str) -> Any:
        node: Any = self.event
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node


def ruby_plugin(config: PipelineConfig, plugin_id: str) -> Plugin:
    (plugin,) = [p for p in config.plugins("filter", "ruby") if p.options.get("id") == plugin_id]
    return plugin


def run_ruby(plugin: Plugin, events: list[dict[str, Any]],
             env: dict[str, str] | None = None) -> list[Outcome]:
    ruby = ruby_or_skip()
    request = {
        "init": plugin.options.get("init"),
        "code": plugin.options["code"],
        "tag_on_exception": plugin.options.get("tag_on_exception", "_rubyexception"),
        "events": events,
    }
    result = subprocess.run(
        [ruby, str(RUNNER)], input=json.dumps(request), capture_output=True, text=True,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})}, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [Outcome(r["event"], r["exception"]) for r in json.loads(result.stdout)]
