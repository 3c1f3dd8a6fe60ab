"""Writes the redaction model into the Logstash pipeline, so its second line cannot drift.

The app publishes its model as tests/corpus/redaction_model.json (a test keeps that file equal
to flask_logstash.redaction.model). This module renders the model as Ruby and writes it into
the init block of the `redact_and_parse` filter in logstash/pipeline/flask.conf, between the
markers below; tests/unit/logstash/test_redaction_model_sync.py fails when the committed conf
differs from what this renders. After a model change:

    .venv/bin/python -m tests.support.logstash_redaction

Kept under tests/support, not logstash/: it runs at development time only and reads a test
corpus; logstash/ holds what the Logstash hosts load.

The Ruby text sits inside a single-quoted Logstash string, which ends at the first `'` (the
config grammar has no escapes unless config.support_escapes is on) and whose `${NAME}` Logstash
replaces with an environment variable (logstash-core SubstitutionVariables): neither `'` nor `$`
is ever written literally; `\\x27` and `\\x24` stand for them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_FILE = REPO_ROOT / "tests" / "corpus" / "redaction_model.json"
PIPELINE_FILE = REPO_ROOT / "logstash" / "pipeline" / "flask.conf"
BEGIN = "# BEGIN GENERATED redaction model"
END = "# END GENERATED redaction model"
INDENT = " " * 6
# The block between the markers, markers included, with its indentation.
_BLOCK = re.compile(rf"^[ ]*{re.escape(BEGIN)}.*?^[ ]*{re.escape(END)}[^\n]*\n", re.M | re.S)


def ruby_string(text: str) -> str:
    """A double-quoted Ruby literal for `text`, safe inside a single-quoted Logstash string."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "#":
            out.append("\\#")  # no "#{...}" interpolation
        elif char == "'":
            out.append("\\x27")
        elif char == "$":
            out.append("\\x24")
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    return '"' + "".join(out) + '"'


def ruby_pattern(python_pattern: str) -> str:
    """The model's Python `re` pattern as a Ruby Regexp: Onigmo (MRI) and Joni (JRuby, which
    Logstash runs) read the same syntax once named groups drop Python's `P`."""
    if not python_pattern.isascii():
        # A non-ASCII pattern would be fixed to UTF-8 and refuse the binary text it scans.
        raise ValueError(f"pattern is not ASCII: {python_pattern!r}")
    return "Regexp.new(" + ruby_string(python_pattern.replace("(?P<", "(?<")) + ")"


def ruby_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no Ruby rendering for {value!r}")
    if isinstance(value, str):
        return ruby_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(ruby_value(item) for item in value) + "]"
    raise TypeError(f"no Ruby rendering for {value!r}")


def render(model: dict[str, Any]) -> str:
    """The generated block, markers included, indented for the init string."""
    card = model["card"]
    lines = [
        BEGIN + " (tests/support/logstash_redaction.py from",
        "# tests/corpus/redaction_model.json, which is flask_logstash.redaction.model). Do not",
        "# edit: regenerate with `python -m tests.support.logstash_redaction`.",
        f"@redacted = {ruby_value(model['redacted'])}.freeze",
        f"@sensitive_words = {ruby_value(model['sensitive_words'])}.freeze",
        f"@sensitive_fragments = {ruby_value(model['sensitive_fragments'])}.freeze",
        f"@sensitive_suffixes = {ruby_value(model['sensitive_suffixes'])}.freeze",
        f"@sensitive_names = {ruby_value(model['sensitive_names'])}.freeze",
        f"@fragment_min_length = {ruby_value(model['fragment_min_length'])}",
        f"@line_valued_names = {ruby_value(model['line_valued_names'])}.freeze",
        f"@auth_schemes = {ruby_value(model['auth_schemes'])}.freeze",
        f"@card_min_digits = {ruby_value(card['min_digits'])}",
        f"@card_max_digits = {ruby_value(card['max_digits'])}",
        f"@card_lengths_by_prefix = {ruby_value(card['lengths_by_prefix'])}.freeze",
        f"@hex_id_min_length = {ruby_value(card['hex_id_min_length'])}",
        f"@hex_id_reach = {ruby_value(card['hex_id_reach'])}",
        f"@hex_id_shapes = {ruby_value(card['hex_id_shapes'])}.freeze",
        f"@max_scanned_chars = {ruby_value(model['max_scanned_chars'])}",
        "@patterns = {",
        *(f"  {ruby_string(name)} => {ruby_pattern(pattern)},"
          for name, pattern in sorted(model["value_patterns"].items())),
        "}.freeze",
        END,
    ]
    text = "".join(INDENT + line + "\n" for line in lines)
    if "'" in text or "$" in text:
        raise AssertionError("generated Ruby would end or substitute the Logstash string")
    return text


def load_model() -> dict[str, Any]:
    return json.loads(MODEL_FILE.read_text())


def generated_block(conf_text: str) -> str:
    found = _BLOCK.findall(conf_text)
    if len(found) != 1:
        raise ValueError(f"expected one generated block in the pipeline, found {len(found)}")
    return found[0]


def rewrite(conf_text: str, model: dict[str, Any]) -> str:
    generated_block(conf_text)  # exactly one block to replace
    return _BLOCK.sub(lambda _: render(model), conf_text)


def main() -> int:
    current = PIPELINE_FILE.read_text()
    updated = rewrite(current, load_model())
    if updated != current:
        PIPELINE_FILE.write_text(updated)
        print(f"updated {PIPELINE_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
