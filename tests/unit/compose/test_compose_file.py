"""docker-compose.yml keeps its promises: valid spec, pinned, secure by default, wired right."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.logstash_config import parse_file

COMPOSE = REPO_ROOT / "docker-compose.yml"
CLUSTER = REPO_ROOT / "docker-compose.cluster.yml"
VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")
JOBS = {"setup", "provision-es", "provision-kibana"}


def dotenv():
    pairs = (line.split("=", 1) for line in (REPO_ROOT / ".env").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def interpolated_text(path=COMPOSE):
    env = dotenv()

    def value(match):
        name, default = match.group(1), match.group(2)
        return env.get(name, default if default is not None else "")

    return VAR.sub(value, path.read_text().replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(interpolated_text())


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(COMPOSE.read_text())


def test_validates_against_the_compose_specification(tmp_path):
    rendered = tmp_path / "docker-compose.yml"
    rendered.write_text(interpolated_text())
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         "vendor.compose-spec", str(rendered)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def merged():
    """docker-compose.yml with the cluster overlay merged the way compose merges maps."""
    def merge(base, over):
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    base = yaml.safe_load(interpolated_text())
    overlay = yaml.safe_load(interpolated_text(CLUSTER))
    return merge(base, overlay)


def test_cluster_overlay_validates_and_forms_a_three_node_cluster(tmp_path):
    rendered = tmp_path / "cluster.yml"
    rendered.write_text(yaml.safe_dump(merged()))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         "vendor.compose-spec", str(rendered)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    services = merged()["services"]
    nodes = ["elasticsearch", "es02", "es03"]
    for node in nodes:
        env = services[node]["environment"]
        assert env["node.name"] == node
        assert env["discovery.seed_hosts"].split(",") == nodes
        assert env["cluster.initial_master_nodes"].split(",") == nodes
        assert "discovery.type" not in env or env["discovery.type"] == "multi-node"
        if node != "elasticsearch":
            assert env["xpack.security.http.ssl.certificate"] == f"certs/{node}/{node}.crt"
            assert "--node" in services["setup"]["command"]
            assert node in services["setup"]["command"]
    hosts = services["logstash"]["environment"]["ES_HOSTS"].split()
    assert hosts == [f"https://{n}:9200" for n in nodes]


def test_an_invalid_file_is_caught_by_the_schema_check(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  x:\n    image: a\n    restart: sometimes\n    ports: 80\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         "vendor.compose-spec", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


@pytest.mark.parametrize("path", [COMPOSE, CLUSTER], ids=lambda p: p.name)
def test_every_variable_has_a_value_or_default(path):
    env = dotenv()
    for name, default in VAR.findall(path.read_text()):
        assert name in env or default, f"${{{name}}} has neither a .env value nor a default"


def test_every_elastic_image_is_on_the_one_pinned_version(raw):
    images = [s["image"] for s in raw["services"].values() if "image" in s]
    elastic = [i for i in images if i.startswith("docker.elastic.co/")]
    assert len(elastic) == 3
    assert all(i.endswith(":${ELASTIC_VERSION}") for i in elastic)
    assert not any(i.endswith(":latest") for i in images)


def test_published_ports_bind_to_the_configured_address(raw):
    for name, service in raw["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), f"{name} publishes {port}"
    assert dotenv()["BIND_ADDRESS"] == "127.0.0.1"


def test_no_literal_password_anywhere(raw):
    for name, service in raw["services"].items():
        for key in service.get("environment") or {}:
            if re.search(r"PASSWORD|ENCRYPTIONKEY", key) and not key.endswith("_FILE"):
                pytest.fail(f"{name} sets {key} literally")
    assert not re.search(r"(?i)changeme|password\s*[:=]\s*\w", COMPOSE.read_text())


def test_long_running_services_have_healthchecks_and_restart(compose):
    for name, service in compose["services"].items():
        if name in JOBS:
            assert service["restart"] == "no"
            continue
        assert "healthcheck" in service, name
        assert service["restart"] == "unless-stopped", name


def test_dependencies_exist_jobs_are_awaited_and_there_is_no_cycle(compose):
    services = compose["services"]
    graph = {}
    for name, service in services.items():
        deps = service.get("depends_on", {})
        graph[name] = set(deps)
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            expected = "service_completed_successfully" if dep in JOBS else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dep}"
    visiting, done = set(), set()

    def visit(node):
        assert node not in visiting, f"dependency cycle through {node}"
        if node in done:
            return
        visiting.add(node)
        for dep in graph[node]:
            visit(dep)
        visiting.discard(node)
        done.add(node)

    for node in graph:
        visit(node)


def test_mounts_exist_and_volumes_are_declared(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name}: {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
    assert {"es-data", "logstash-data", "kibana-data", "app-buffer"} <= declared


def test_hosts_and_ports_agree_across_compose_app_and_pipeline(compose):
    services = compose["services"]
    (tcp,) = parse_file(REPO_ROOT / "logstash/pipeline/flask.conf").plugins("input", "tcp")
    app_env = services["app"]["environment"]
    assert app_env["LOGSTASH_HOST"] in services
    assert int(app_env["LOGSTASH_PORT"]) == tcp.options["port"]
    es_hosts = services["logstash"]["environment"]["ES_HOSTS"].split()
    for url in es_hosts:
        host, port = re.fullmatch(r"https://([^:]+):(\d+)", url).groups()
        assert host in services
        assert port == "9200"
    assert services["traffic"]["environment"]["DEMO_BASE_URL"] == "http://app:8000"


def test_the_setup_job_generates_what_the_services_read(raw):
    from elk_provision.init_secrets import KIBANA_KEYS, PASSWORDS

    text = COMPOSE.read_text()
    for secret in re.findall(r"/run/elk-secrets/([a-z_]+)", text):
        assert secret in PASSWORDS + KIBANA_KEYS, secret
