"""A parser for the Logstash configuration language, for checks that run without Logstash.

The grammar follows the structure of Logstash's own treetop grammar
(`logstash-core/lib/logstash/config/grammar.treetop`): sections `input`/`filter`/`output`
holding plugins and `if / else if / else` branches; plugin attributes `name => value` with
strings, numbers, barewords, arrays, hashes and nested plugins (`codec => json_lines {}`);
conditions with comparison, regexp (`=~`, `!~`), `in`/`not in`, boolean operators,
negation and parentheses over field selectors (`[a][b]`).

    config = parse_file(path)
    for plugin in config.plugins("filter", "mutate"):
        plugin.options          # {"rename": {...}, "add_tag": [...]}
        plugin.conditions       # source text of each enclosing condition, outermost first
    config.fields_set()         # field names the pipeline writes
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

GRAMMAR = r"""
config: plugin_section+
plugin_section: SECTION "{" _item* "}"
SECTION: "input" | "filter" | "output"
_item: plugin | branch

plugin: NAME "{" attribute* "}"
attribute: NAME "=>" value
?value: plugin_value | string | number | bareword | array | hash
plugin_value: NAME "{" attribute* "}"
bareword: BAREWORD
array: "[" [value ("," value)*] "]"
hash: "{" hash_entry* "}"
hash_entry: (string | number | bareword) "=>" value

branch: if_clause else_if_clause* else_clause?
if_clause: "if" condition "{" _item* "}"
else_if_clause: "else" "if" condition "{" _item* "}"
else_clause: "else" "{" _item* "}"

condition: expression (BOOL_OP expression)*
?expression: "(" condition ")"
           | negative
           | in_expr
           | not_in_expr
           | compare
           | regexp_expr
           | rvalue
negative: "!" "(" condition ")" | "!" selector
in_expr: rvalue "in" rvalue
not_in_expr: rvalue "not" "in" rvalue
compare: rvalue COMPARE_OP rvalue
regexp_expr: rvalue REGEX_OP (string | regexp)
?rvalue: string | number | selector | array | regexp
selector: SELECTOR_ELEMENT+
regexp: REGEXP

BOOL_OP: "and" | "or" | "xor" | "nand"
COMPARE_OP: "==" | "!=" | "<=" | ">=" | "<" | ">"
REGEX_OP: "=~" | "!~"
SELECTOR_ELEMENT: /\[[^\]\[,]+\]/
REGEXP: /\/(\\.|[^\/\\\n])*\//
NAME: /[A-Za-z0-9_-]+/
BAREWORD: /[A-Za-z_][A-Za-z0-9_]+/
string: DOUBLE_QUOTED | SINGLE_QUOTED
DOUBLE_QUOTED: /"(\\.|[^"\\])*"/s
SINGLE_QUOTED: /'(\\.|[^'\\])*'/s
number: NUMBER
NUMBER: /-?[0-9]+(\.[0-9]*)?/

COMMENT: /#[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""

_PARSER = Lark(GRAMMAR, start="config", parser="earley", propagate_positions=True)


class ConfigSyntaxError(ValueError):
    """The text is not valid Logstash configuration; the message has line and column."""


@dataclass(frozen=True)
class Plugin:
    section: str
    name: str
    options: dict[str, Any]
    conditions: tuple[str, ...] = ()
    line: int = 0


@dataclass
class PipelineConfig:
    source: str
    all_plugins: list[Plugin] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    def plugins(self, section: str | None = None, name: str | None = None) -> list[Plugin]:
        return [
            p for p in self.all_plugins
            if (section is None or p.section == section) and (name is None or p.name == name)
        ]

    def env_references(self) -> set[str]:
        """Every ${VAR} or ${VAR:default} used, with whether it has a default."""
        return set(re.findall(r"\$\{([A-Z0-9_]+)(?::[^}]*)?\}", self.source))

    def env_references_without_default(self) -> set[str]:
        return set(re.findall(r"\$\{([A-Z0-9_]+)\}", self.source))

    def fields_set(self) -> set[str]:
        """Dotted names of fields the filters write (not @metadata)."""
        names: set[str] = set()
        for plugin in self.plugins("filter"):
            opts = plugin.options
            for key in ("add_field", "replace", "update"):
                if isinstance(opts.get(key), dict):
                    names.update(opts[key])
            for key in ("rename", "copy"):
                if isinstance(opts.get(key), dict):
                    names.update(opts[key].values())
            if plugin.name in {"fingerprint"} and "target" in opts:
                names.add(opts["target"])
            for key in ("code", "init"):
                if isinstance(opts.get(key), str):
                    names.update(re.findall(r'event\.set\("([^"]+)"', opts[key]))
            if opts.get("add_tag") or opts.get("tag_on_exception") or plugin.name == "cidr":
                names.add("tags")
        dotted = {_dotted(name) for name in names}
        return {name for name in dotted if not name.startswith("@metadata")}


def _dotted(field_ref: str) -> str:
    if field_ref.startswith("["):
        return ".".join(re.findall(r"\[([^\]]+)\]", field_ref))
    return field_ref


def _unquote(token: str) -> str:
    # Logstash does not process escapes unless config.support_escapes is on (default off);
    # only the quotes themselves are removed.
    return token[1:-1]


def _value(node: Tree | Token) -> Any:
    if isinstance(node, Token):
        return str(node)
    kind = node.data
    if kind == "string":
        return _unquote(str(node.children[0]))
    if kind == "number":
        text = str(node.children[0])
        return float(text) if "." in text else int(text)
    if kind == "bareword":
        return str(node.children[0])
    if kind == "array":
        return [_value(child) for child in node.children if child is not None]
    if kind == "hash":
        # A key twice in one hash literal is a configuration error in Logstash
        # (logstash-core/lib/logstash/compiler/lscl.rb, Hash#validate!).
        keys = [_value(e.children[0]) for e in node.children]
        duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ConfigSyntaxError(f"duplicate keys {duplicates} in a hash")
        return {_value(e.children[0]): _value(e.children[1]) for e in node.children}
    if kind == "plugin_value":
        return {"plugin": str(node.children[0]), "options": _attributes(node.children[1:])}
    raise ConfigSyntaxError(f"unexpected value node {kind}")


def _attributes(nodes: list[Tree]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for attr in nodes:
        name = str(attr.children[0])
        # Logstash merges an option given twice (lscl.rb map_expr_attributes: hashes merged,
        # arrays joined, scalars become a list the validator then refuses). Refused here, so
        # no config here depends on that legacy merge.
        if name in options:
            raise ConfigSyntaxError(f"option {name!r} given twice (line {attr.meta.line})")
        options[name] = _value(attr.children[1])
    return options


def parse_text(text: str) -> PipelineConfig:
    try:
        tree = _PARSER.parse(text)
    except LarkError as exc:
        raise ConfigSyntaxError(str(exc).splitlines()[0]) from exc
    config = PipelineConfig(source=text)

    def walk(items: list[Tree], section: str, conditions: tuple[str, ...]) -> None:
        for item in items:
            if item.data == "plugin":
                config.all_plugins.append(Plugin(
                    section, str(item.children[0]), _attributes(item.children[1:]),
                    conditions, item.meta.line,
                ))
            elif item.data == "branch":
                for clause in item.children:
                    if clause.data == "else_clause":
                        walk(clause.children, section, (*conditions, "else"))
                        continue
                    cond = clause.children[0]
                    cond_text = text[cond.meta.start_pos:cond.meta.end_pos]
                    config.conditions.append(cond_text)
                    walk(clause.children[1:], section, (*conditions, cond_text))

    for section in tree.children:
        walk(section.children[1:], str(section.children[0]), ())
    return config


def parse_file(path: Path) -> PipelineConfig:
    return parse_text(Path(path).read_text())


# -- option values ------------------------------------------------------------------------
# How Logstash validates option values (logstash-core/lib/logstash/config/mixin.rb,
# validate_value), after ${VAR:default} substitution, for the options this bundle uses.
# Types from each plugin's `config :name, :validate => ...` at the version bundled with
# Logstash 9.5: input-tcp 7.0.13 (lib/logstash/inputs/tcp.rb), input-dead_letter_queue 2.0.2,
# filter-mutate 3.6.0, filter-json 3.2.1, filter-fingerprint 3.5.0, filter-cidr 3.2.0,
# filter-ruby 3.1.8, codec-line 3.1.1, output-elasticsearch 12.1.6
# (plugin_mixins/elasticsearch/api_configs.rb, outputs/elasticsearch/data_stream_support.rb).
BOOLEAN, NUMBER, STRING, ARRAY, HASH = "boolean", "number", "string", "array", "hash"
OPTION_TYPES: dict[tuple[str, str], dict[str, Any]] = {
    ("input", "tcp"): {
        "port": NUMBER, "host": STRING, "mode": ("server", "client"), "ssl_enabled": BOOLEAN,
        "ssl_client_authentication": ("none", "optional", "required"),
        "ssl_certificate": STRING, "ssl_key": STRING, "ssl_certificate_authorities": ARRAY,
        "tcp_keep_alive": BOOLEAN, "dns_reverse_lookup_enabled": BOOLEAN,
    },
    ("input", "dead_letter_queue"): {
        "path": STRING, "pipeline_id": STRING, "commit_offsets": BOOLEAN,
        "clean_consumed": BOOLEAN, "start_timestamp": STRING,
    },
    ("codec", "line"): {"charset": STRING, "delimiter": STRING, "format": STRING},
    ("filter", "mutate"): {
        "rename": HASH, "replace": HASH, "update": HASH, "copy": HASH, "convert": HASH,
        "merge": HASH, "gsub": ARRAY, "lowercase": ARRAY, "uppercase": ARRAY,
        "tag_on_failure": STRING,
    },
    ("filter", "json"): {"source": STRING, "target": STRING, "tag_on_failure": ARRAY,
                         "skip_on_invalid_json": BOOLEAN},
    ("filter", "fingerprint"): {
        "source": ARRAY, "target": STRING, "concatenate_sources": BOOLEAN,
        "concatenate_all_fields": BOOLEAN, "base64encode": BOOLEAN,
        "method": ("SHA1", "SHA256", "SHA384", "SHA512", "MD5", "MURMUR3", "MURMUR3_128",
                   "IPV4_NETWORK", "UUID", "PUNCTUATION"),
    },
    ("filter", "cidr"): {"address": ARRAY, "network": ARRAY, "refresh_interval": NUMBER},
    ("filter", "ruby"): {"init": STRING, "code": STRING, "tag_on_exception": STRING},
    ("filter", "drop"): {"percentage": NUMBER},
    ("output", "elasticsearch"): {
        "hosts": ARRAY, "user": STRING, "document_id": STRING, "ssl_enabled": BOOLEAN,
        "ssl_verification_mode": ("full", "none"), "ssl_certificate_authorities": ARRAY,
        "silence_errors_in_log": ARRAY, "data_stream": ("true", "false", "auto"),
        "data_stream_auto_routing": BOOLEAN, "data_stream_sync_fields": BOOLEAN,
        "data_stream_type": ("logs", "metrics", "synthetics", "traces"),
    },
}
# Options every plugin has (logstash-core plugin.rb, filters/base.rb, inputs/base.rb).
COMMON_TYPES = {"id": STRING, "add_field": HASH, "add_tag": ARRAY, "remove_field": ARRAY,
                "remove_tag": ARRAY, "enable_metric": BOOLEAN, "tags": ARRAY}


def substitute_defaults(value: Any) -> Any:
    """${VAR:default} -> default, as Logstash would with VAR unset; ${VAR} stays."""
    if isinstance(value, str):
        return re.sub(r"\$\{[A-Z0-9_]+:([^}]*)\}", r"\1", value)
    if isinstance(value, list):
        return [substitute_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: substitute_defaults(v) for k, v in value.items()}
    return value


def option_value_errors(plugin: Plugin) -> list[str]:
    """Values Logstash would refuse at start-up for the options typed above."""
    types = {**COMMON_TYPES, **OPTION_TYPES.get((plugin.section, plugin.name), {})}
    errors = []
    for option, raw in plugin.options.items():
        kind = types.get(option)
        if kind is None or option == "codec":
            continue
        value = substitute_defaults(raw)
        if isinstance(value, str) and "${" in value:
            continue  # no default: known only at run time
        single = value[0] if isinstance(value, list) and len(value) == 1 else value
        ok = True
        if isinstance(kind, tuple):
            ok = single in kind
        elif kind == BOOLEAN:
            ok = single is True or single is False or single in ("true", "false")
        elif kind == NUMBER:
            ok = isinstance(single, int | float) or (
                isinstance(single, str) and re.fullmatch(r"-?\d+(\.\d+)?", single) is not None)
        elif kind == STRING:
            ok = isinstance(single, str)
        elif kind == HASH:
            ok = isinstance(value, dict)
        # ARRAY: a single value is wrapped into a list by Logstash; anything goes.
        if not ok:
            errors.append(f"{plugin.name}.{option} = {raw!r}: not a valid {kind}")
    codec = plugin.options.get("codec")
    if isinstance(codec, dict):
        errors += option_value_errors(Plugin("codec", codec["plugin"], codec["options"]))
    return errors
