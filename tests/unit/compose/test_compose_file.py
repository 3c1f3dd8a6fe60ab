"""docker-compose.yml keeps its promises: valid, pinned, secure by default, wired right.

Validity, interpolation and references (undefined services, volumes, cycles) are what the real
Compose CLI checks when it renders the files (tests/support/compose_cli.py); Compose validates
against the same Compose Specification schema that check-jsonschema's vendor.compose-spec
holds, so no separate schema check is kept. The tests below assert on the rendered model.
"""

import re
import runpy

import pytest

from flask_logstash.delivery import limits
from tests.conftest import REPO_ROOT
from tests.support import compose_cli
from tests.support.logstash_config import parse_file
from tests.unit.compose.conftest import COMBINATIONS, rendered

COMPOSE = REPO_ROOT / "docker-compose.yml"
CLUSTER = REPO_ROOT / "docker-compose.cluster.yml"


def dotenv():
    pairs = (line.split("=", 1) for line in (REPO_ROOT / ".env").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def test_every_combination_renders_without_a_warning(model):
    """render() is strict: an unset ${VAR}, an obsolete key or any other warning fails."""
    assert model["services"]


@pytest.mark.parametrize(("text", "complaint"), [
    ("services:\n  x:\n    image: a:${UNSET_IN_THIS_TEST}\n", "UNSET_IN_THIS_TEST"),
    ("services:\n  x:\n    image: a\n    ports: 80\n", "ports"),
    ("services:\n  x:\n    image: a\n    helthcheck: {}\n", "helthcheck"),
    ("services:\n  x:\n    image: a\n    depends_on: {y: {condition: service_healthy}}\n", "y"),
], ids=["unset-variable", "ports-not-a-list", "misspelt-key", "unknown-dependency"])
def test_compose_refuses_what_the_checks_rely_on_it_refusing(tmp_path, text, complaint):
    if reason := compose_cli.unavailable_reason():
        pytest.skip(reason)
    (tmp_path / "compose.yml").write_text(text)
    with pytest.raises(compose_cli.ComposeError, match=complaint):
        compose_cli.render(["compose.yml"], project_dir=tmp_path)


def test_every_elastic_image_is_on_the_one_pinned_version(model):
    version = dotenv()["ELASTIC_VERSION"]
    images = [s["image"] for s in model["services"].values()]
    elastic = [i for i in images if i.startswith("docker.elastic.co/")]
    assert len(elastic) >= 3
    assert all(i.rsplit(":", 1)[1] == version for i in elastic)
    assert all(":" in i and not i.endswith(":latest") for i in images)
    for path in (COMPOSE, CLUSTER):  # one source of truth: .env, never a literal tag
        tags = re.findall(r"docker\.elastic\.co/[a-z/]+:(\S+)", path.read_text())
        assert set(tags) == {"${ELASTIC_VERSION}"}, path.name


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
@pytest.mark.parametrize("address", [None, "192.0.2.10"])
def test_published_ports_follow_bind_address(combination, address):
    model = rendered(combination, **({"BIND_ADDRESS": address} if address else {}))
    expected = address or dotenv()["BIND_ADDRESS"]
    if combination == "e2e":
        # The test stack stays on loopback whatever the developer's shell exports
        # (tests/e2e/compose.e2e.yml; tests/unit/test_e2e_helpers.py checks the same).
        expected = "127.0.0.1"
    published = [(name, port) for name, service in model["services"].items()
                 for port in service.get("ports", [])]
    assert published
    for name, port in published:
        assert port.get("host_ip") == expected, f"{name} publishes {port}"
    assert dotenv()["BIND_ADDRESS"] == "127.0.0.1"


def test_logstash_input_is_not_published(model):
    assert not model["services"]["logstash"].get("ports")


def test_no_literal_password_anywhere(model):
    for name, service in model["services"].items():
        for key in service.get("environment") or {}:
            if re.search(r"PASSWORD|ENCRYPTIONKEY", key) and not key.endswith("_FILE"):
                pytest.fail(f"{name} sets {key} literally")
    for path in (COMPOSE, CLUSTER):
        assert not re.search(r"(?i)changeme|password\s*[:=]\s*\w", path.read_text())


def test_bind_mounts_exist_in_the_repository(model):
    """Compose would create a missing host path as an empty directory (create_host_path)."""
    for name, service in model["services"].items():
        for mount in service.get("volumes", []):
            if mount["type"] == "bind":
                assert (REPO_ROOT / mount["source"]).exists(), f"{name}: {mount['source']}"
                assert mount.get("read_only"), f"{name} may write {mount['source']}"


def test_state_lives_on_named_volumes(stack):
    assert {"es-data", "es-snapshots", "logstash-data", "kibana-data", "app-buffer"} \
        <= set(stack["volumes"])


def test_hosts_and_ports_agree_across_compose_app_and_pipeline(model):
    services = model["services"]
    (tcp,) = parse_file(REPO_ROOT / "logstash/pipeline/flask.conf").plugins("input", "tcp")
    app_env = services["app"]["environment"]
    assert app_env["LOGSTASH_HOST"] in services
    assert int(app_env["LOGSTASH_PORT"]) == tcp.options["port"]
    for url in services["logstash"]["environment"]["ES_HOSTS"].split():
        host, port = re.fullmatch(r"https://([^:]+):(\d+)", url).groups()
        assert host in services
        assert port == "9200"
    assert services["traffic"]["environment"]["DEMO_BASE_URL"] == "http://app:8000"


def test_the_setup_job_generates_what_the_services_read():
    from elk_provision.init_secrets import KIBANA_KEYS, PASSWORDS

    text = COMPOSE.read_text()
    # Read directly (ELASTIC_PASSWORD_FILE) or through the wrappers' `$$(secret NAME)`.
    named = (re.findall(r"/run/elk-secrets/([a-z_]+)", text)
             + re.findall(r"\$\$\(secret ([a-z_]+)\)", text))
    assert "elastic_password" in named
    for secret in named:
        assert secret in PASSWORDS + KIBANA_KEYS, secret


def test_cluster_overlay_forms_a_three_node_cluster():
    services = rendered("cluster")["services"]
    nodes = ["elasticsearch", "es02", "es03"]
    for node in nodes:
        env = services[node]["environment"]
        assert env["node.name"] == node
        assert env["discovery.seed_hosts"].split(",") == nodes
        assert env["cluster.initial_master_nodes"].split(",") == nodes
        assert env.get("discovery.type", "multi-node") == "multi-node"
        assert env["path.repo"] == "/usr/share/elasticsearch/snapshots"
        if node != "elasticsearch":
            assert env["xpack.security.http.ssl.certificate"] == f"certs/{node}/{node}.crt"
            assert node in services["setup"]["command"]
        # An fs snapshot repository must be the same shared directory on every node.
        snapshots = [m for m in services[node]["volumes"] if m["target"] == env["path.repo"]]
        assert [m["source"] for m in snapshots] == ["es-snapshots"]
    assert services["provision-es"]["depends_on"].keys() >= set(nodes)
    hosts = services["logstash"]["environment"]["ES_HOSTS"].split()
    assert hosts == [f"https://{n}:9200" for n in nodes]


def test_logstash_logs_with_the_bundles_logging_config(model):
    # The bundle's log4j2.properties keeps the tcp input's line codec from logging an
    # unredacted line (tests/unit/logstash/test_pipelines.py checks the file itself).
    mounts = {m["target"]: m for m in model["services"]["logstash"]["volumes"]}
    config = mounts["/usr/share/logstash/config/log4j2.properties"]
    assert config["source"].endswith("/logstash/config/log4j2.properties")
    assert config.get("read_only")


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_the_app_and_logstash_redact_the_same_extra_keys(combination):
    # Both redaction lines read one list (.env), so a key named for the app is also caught
    # in what reaches Logstash from elsewhere (docs/logging.md).
    keys = "iban,national_id"
    services = rendered(combination, LOG_REDACT_EXTRA_KEYS=keys)["services"]
    assert services["app"]["environment"]["LOG_REDACT_EXTRA_KEYS"] == keys
    assert services["logstash"]["environment"]["LOG_REDACT_EXTRA_KEYS"] == keys


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"unparsed duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_the_app_gets_time_to_stop_before_docker_kills_it(model):
    # Docker SIGKILLs after stop_grace_period (10 s unless set); gunicorn needs its
    # graceful_timeout, inside which each worker's last log send must fit.
    namespace = runpy.run_path(str(REPO_ROOT / "app/gunicorn.conf.py"))
    graceful = namespace["graceful_timeout"]
    assert graceful > limits.SHUTDOWN_TIMEOUT
    grace = model["services"]["app"].get("stop_grace_period")
    assert grace, "the app service has Docker's 10 s default"
    assert _seconds(grace) > graceful
    unit = (REPO_ROOT / "ansible/roles/app/templates/flask-app.service.j2").read_text()
    assert f"TimeoutStopSec={_seconds(grace):g}\n" in unit  # one stop budget on both paths
