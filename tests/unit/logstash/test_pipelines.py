"""Every Logstash pipeline parses, and uses only plugins and options the pinned version takes."""

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.logstash_config import (
    ConfigSyntaxError,
    option_value_errors,
    parse_file,
    parse_text,
)

PIPELINE_DIR = REPO_ROOT / "logstash" / "pipeline"
PIPELINES = sorted(PIPELINE_DIR.glob("*.conf"))

# Options this bundle may use, per plugin, for the plugin versions bundled with Logstash 9.5
# (elastic/logstash Gemfile.jruby-*.lock.release; docs/lsr/plugins-*.md). Common options
# (id, add_field, add_tag, remove_field, remove_tag, enable_metric, ...) are added below.
COMMON = {"id", "enable_metric", "add_field", "add_tag", "remove_field", "remove_tag",
          "periodic_flush", "codec", "tags", "type", "ecs_compatibility"}
ALLOWED = {
    ("input", "tcp"): {"port", "host", "mode", "ssl_enabled", "ssl_certificate", "ssl_key",
                       "ssl_certificate_authorities", "ssl_client_authentication",
                       "ssl_key_passphrase", "tcp_keep_alive", "dns_reverse_lookup_enabled"},
    ("input", "dead_letter_queue"): {"path", "pipeline_id", "commit_offsets", "clean_consumed",
                                     "start_timestamp"},
    ("filter", "mutate"): {"rename", "copy", "update", "replace", "convert", "gsub",
                           "lowercase", "uppercase", "strip", "split", "join", "merge",
                           "coerce", "tag_on_failure"},
    ("filter", "json"): {"source", "target", "tag_on_failure", "skip_on_invalid_json"},
    ("codec", "line"): {"charset", "delimiter", "format"},
    ("filter", "ruby"): {"code", "init", "path", "script_params", "tag_on_exception",
                         "tag_with_exception_message"},
    ("filter", "useragent"): {"source", "target", "regexes", "lru_cache_size", "prefix"},
    ("filter", "cidr"): {"address", "network", "network_path", "refresh_interval",
                         "separator"},
    ("filter", "geoip"): {"source", "target", "database", "default_database_type", "fields",
                          "cache_size", "tag_on_failure"},
    ("filter", "drop"): {"percentage"},
    ("filter", "fingerprint"): {"source", "target", "method", "key", "concatenate_sources",
                                "concatenate_all_fields", "base64encode"},
    ("filter", "date"): {"match", "target", "timezone", "locale", "tag_on_failure"},
    ("output", "elasticsearch"): {
        "hosts", "user", "password", "api_key", "ssl_enabled", "ssl_certificate_authorities",
        "ssl_verification_mode", "data_stream", "data_stream_type", "data_stream_dataset",
        "data_stream_namespace", "data_stream_auto_routing", "data_stream_sync_fields",
        "document_id", "silence_errors_in_log", "action", "pipeline", "routing",
        "dlq_custom_codes", "drop_error_types", "timeout", "compression_level",
        "retry_initial_interval", "retry_max_interval"},
}
# Obsolete in the 9.x plugins (a config error) or rejected with data_stream => "true".
FORBIDDEN = {"ssl", "cacert", "ssl_certificate_verification", "ssl_enable", "ssl_verify",
             "ssl_cert", "truststore", "keystore", "index", "ilm_enabled", "ilm_policy",
             "ilm_rollover_alias", "ilm_pattern", "template", "template_name",
             "template_overwrite", "manage_template"}


@pytest.fixture(scope="module", params=PIPELINES, ids=[p.name for p in PIPELINES])
def pipeline(request):
    return parse_file(request.param)


def test_there_are_pipelines():
    assert {p.name for p in PIPELINES} >= {"flask.conf", "dlq_replay.conf"}


def test_every_plugin_and_option_is_known_for_the_pinned_version(pipeline):
    for plugin in pipeline.all_plugins:
        allowed = ALLOWED.get((plugin.section, plugin.name))
        assert allowed is not None, f"{plugin.section} plugin {plugin.name!r} not vetted"
        unknown = set(plugin.options) - allowed - COMMON
        assert not unknown, f"{plugin.name} (line {plugin.line}) unknown options {unknown}"
        assert not set(plugin.options) & FORBIDDEN, f"{plugin.name}: obsolete/rejected option"
        codec = plugin.options.get("codec")
        if isinstance(codec, dict):
            allowed_codec = ALLOWED.get(("codec", codec["plugin"]))
            assert allowed_codec is not None, f"codec {codec['plugin']!r} not vetted"
            assert set(codec["options"]) <= allowed_codec, codec


def test_outputs_write_data_streams_with_verified_tls(pipeline):
    for out in pipeline.plugins("output", "elasticsearch"):
        assert out.options["data_stream"] == "true"
        assert out.options["ssl_enabled"] is True or out.options["ssl_enabled"] == "true"
        assert out.options.get("ssl_verification_mode", "full") == "full"
        assert out.options["ssl_certificate_authorities"]
        assert out.options["user"] == "logstash_writer"
        assert out.options.get("action", "create") == "create"


def test_env_references_are_documented_or_defaulted(pipeline):
    documented = (REPO_ROOT / "docs" / "architecture.md").read_text()
    for name in pipeline.env_references_without_default():
        assert f"`{name}`" in documented, f"${{{name}}} has no default and is not documented"


@pytest.mark.parametrize("path", PIPELINES, ids=[p.name for p in PIPELINES])
def test_host_paths_can_be_moved_by_environment(path):
    # Compose mounts under /usr/share/logstash; a package install keeps the same files under
    # /etc/logstash and /var/lib/logstash. A bare image path would break the Ansible hosts.
    text = re.sub(r"\$\{[A-Z_]+:[^}]*\}", "", path.read_text())
    bare = re.findall(r'"(/usr/share/logstash[^"]*)"', text)
    assert not bare, f"{path.name}: image paths not behind a ${{VAR:default}}: {bare}"


def test_tcp_input_port_matches_the_contract():
    config = parse_file(PIPELINE_DIR / "flask.conf")
    (tcp,) = config.plugins("input", "tcp")
    assert tcp.options["port"] == 5000
    # The line codec: the raw line is redacted before anything parses (or logs) it.
    assert tcp.options["codec"] == {"plugin": "line", "options": {"charset": "UTF-8"}}


def log4j2_loggers(path: Path) -> dict[str, str]:
    """logger name -> level from a log4j2 properties file (`logger.<key>.name/.level`)."""
    props = dict(line.split("=", 1) for line in path.read_text().splitlines()
                 if "=" in line and not line.lstrip().startswith("#"))
    props = {k.strip(): v.strip() for k, v in props.items()}
    return {name: props.get(key.removesuffix(".name") + ".level", "")
            for key, name in props.items() if key.startswith("logger.") and key.endswith(".name")}


def test_the_input_codec_cannot_log_a_line_before_redaction():
    # logstash-core util/charset.rb logs a line that is not valid UTF-8 at WARN with the
    # codec's logger, named after the plugin class (logstash.codecs.<name>).
    (tcp,) = parse_file(PIPELINE_DIR / "flask.conf").plugins("input", "tcp")
    loggers = log4j2_loggers(REPO_ROOT / "logstash/config/log4j2.properties")
    level = loggers.get(f"logstash.codecs.{tcp.options['codec']['plugin']}", "").lower()
    assert level in ("error", "fatal", "off"), level


def test_the_logging_config_keeps_the_images_output():
    text = (REPO_ROOT / "logstash/config/log4j2.properties").read_text()
    # Console, level and format from log.level/log.format, as the image's own file does.
    assert "rootLogger.level = ${sys:ls.log.level}" in text
    assert "rootLogger.appenderRef.console.ref = ${sys:ls.log.format}_console" in text
    for appender in ("plain_console", "json_console"):
        assert f".name = {appender}" in text


def test_the_architecture_page_names_the_codec_the_input_uses():
    (tcp,) = parse_file(PIPELINE_DIR / "flask.conf").plugins("input", "tcp")
    codec = tcp.options["codec"]["plugin"]
    documented = (REPO_ROOT / "docs" / "architecture.md").read_text()
    (row,) = [line for line in documented.splitlines()
              if line.startswith("| Logstash TCP input")]
    assert f"`{codec}` codec" in row
    assert f"| `logstash` | {tcp.options['port']} |" in row
    # No other codec is claimed anywhere on the page (json_lines logs unredacted lines).
    for other in ("json_lines", "json codec"):
        if other != codec:
            assert other not in documented, other


def test_pipelines_yml_points_at_shipped_files():
    entries = yaml.safe_load((REPO_ROOT / "logstash/config/pipelines.yml").read_text())
    assert [e["pipeline.id"] for e in entries] == ["flask"]
    for entry in entries:
        name = entry["path.config"].removeprefix("/usr/share/logstash/pipeline/")
        assert (PIPELINE_DIR / name).is_file()
        assert entry["queue.type"] == "persisted"
        assert entry["dead_letter_queue.enable"] is True


def test_logstash_yml_keeps_the_monitoring_api_reachable_and_geoip_offline():
    settings = yaml.safe_load((REPO_ROOT / "logstash/config/logstash.yml").read_text())
    assert settings["api.http.host"] == "0.0.0.0"
    assert settings["xpack.geoip.downloader.enabled"] is False
    assert settings["queue.type"] == "persisted"
    assert re.fullmatch(r"\d+d", settings["dead_letter_queue.retain.age"])


@pytest.mark.parametrize(
    "broken",
    [
        "input { tcp { port => 5000 }",  # unbalanced braces
        "filter { if [a] === 1 { drop {} } }",  # no such operator
        'output { stdout { codec => "rubydebug } }',  # unterminated string
        "filter { mutate { add_tag => [\"a\" \"b\"] } }",  # array without comma
        "filter { mutate { id => a id => b } }",  # option given twice
        "inputs { tcp { port => 1 } }",  # no such section
        'filter { mutate { replace => { "a" => "1" "a" => "2" } } }',  # duplicate hash key
    ],
)
def test_grammar_rejects_broken_configs(broken):
    with pytest.raises(ConfigSyntaxError):
        parse_text(broken)


def test_grammar_reads_conditions_and_values():
    config = parse_text("""
    filter {
      if [log][level] == "error" and "x" not in [tags] or ![a] {
        mutate { add_field => { "[b][c]" => "%{d}" } rename => { "e" => "[f][g]" } }
      } else if [h] =~ /^ab+c$/ {
        drop { percentage => 90 }
      } else { fingerprint { target => "[@metadata][fp]" } }
    }""")
    mutate, drop, fingerprint = config.plugins("filter")
    assert mutate.conditions == ('[log][level] == "error" and "x" not in [tags] or ![a]',)
    assert drop.options == {"percentage": 90}
    assert fingerprint.conditions[-1] == "else"
    assert config.fields_set() == {"b.c", "f.g"}


def test_every_option_value_is_one_logstash_accepts(pipeline):
    errors = [e for plugin in pipeline.all_plugins for e in option_value_errors(plugin)]
    assert not errors


@pytest.mark.parametrize(
    "config",
    [
        'filter { json { source => "m" skip_on_invalid_json => "yes" } }',
        'input { tcp { port => 1 ssl_client_authentication => "maybe" } }',
        'input { tcp { port => "five" } }',
        'filter { fingerprint { method => "SHA3" } }',
        'output { elasticsearch { data_stream => "on" } }',
        'output { elasticsearch { ssl_enabled => "${TLS:yes}" } }',
        'filter { mutate { replace => ["a", "b"] } }',
        'input { dead_letter_queue { path => "/x" commit_offsets => 1 } }',
    ],
)
def test_option_values_logstash_refuses_are_refused(config):
    (plugin,) = parse_text(config).all_plugins
    assert option_value_errors(plugin)
