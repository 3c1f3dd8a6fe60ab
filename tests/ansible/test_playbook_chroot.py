"""A real ansible-playbook run of site.yml against Debian roots, one per inventory host.

What needs Elastic's package repository, a running systemd, a running cluster or a writable
kernel is tagged (elastic_repo, service, cluster, kernel) and skipped by tag; everything else
runs for real inside the roots: users, directories, certificates from the CA on the control
node, every rendered configuration file, the app's and the provisioning tool's virtual
environments from PyPI. Then a second run must change nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from tests.ansible.chroot_hosts import RootUnavailable, base_root, copy_root, in_root
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.timeout(2400)]

ANSIBLE_DIR = REPO_ROOT / "ansible"
SKIPPED_TAGS = "elastic_repo,service,cluster,kernel"
ES_NODES = {"es-1.elk.test": "10.20.0.11", "es-2.elk.test": "10.20.0.12",
            "es-3.elk.test": "10.20.0.13"}
OPS = ("ops-1.elk.test", "10.20.1.11")  # Logstash, Kibana and the provisioning step
APP = ("app-1.elk.test", "10.20.2.11")
SECRET_NAMES = ("vault_elk_ca_passphrase", "vault_elastic_password",
                "vault_kibana_system_password", "vault_logstash_writer_password",
                "vault_logs_reader_password", "vault_kibana_encryption_key",
                "vault_kibana_reporting_key", "vault_kibana_security_key")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.MULTILINE)


@dataclass
class Run:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        return {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]),
                       "failed": int(m[5])} for m in RECAP.finditer(self.output)}


@dataclass
class Deployment:
    roots: dict[str, Path]
    inventory: Path
    vault_password_file: Path
    secrets: dict[str, str]
    first: Run
    second: Run

    def root(self, host: str) -> Path:
        return self.roots[host]

    def play(self, *args: str, limit: str | None = None) -> Run:
        return run_playbook(self.inventory, self.vault_password_file, *args, limit=limit)


def run_playbook(inventory: Path, vault_password_file: Path, *args: str,
                 limit: str | None = None) -> Run:
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
               "--vault-password-file", str(vault_password_file), *args]
    if limit:
        command += ["--limit", limit]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_HOME": str(inventory.parent / "ansible-home")}
    done = subprocess.run(command, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True,
                          timeout=1500, check=False)
    return Run(done.returncode, done.stdout + done.stderr)


def write_inventory(directory: Path, roots: dict[str, Path]) -> None:
    def host(name: str, address: str) -> dict[str, str]:
        return {"ansible_host": str(roots[name]), "elk_address": address}

    hosts = {"all": {
        "vars": {"ansible_connection": "community.general.chroot", "ansible_become": False,
                 "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {
            "elasticsearch": {"hosts": {n: host(n, a) for n, a in ES_NODES.items()}},
            "elasticsearch_master": {"hosts": dict.fromkeys(ES_NODES)},
            "logstash": {"hosts": {OPS[0]: host(*OPS)}},
            "kibana": {"hosts": {OPS[0]: None}},
            "elk_provision": {"hosts": {OPS[0]: None}},
            "app": {"hosts": {APP[0]: host(*APP)}},
        }}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (directory / "group_vars/all").mkdir(parents=True)
    # Small fixed heaps: the roots report the build machine's memory.
    (directory / "group_vars/all/main.yml").write_text(yaml.safe_dump({
        "elasticsearch_heap": "2g", "logstash_heap": "1g",
        "kibana_public_url": "https://kibana.elk.test"}))


def write_vault(directory: Path, password_file: Path) -> dict[str, str]:
    values = {name: secrets.token_urlsafe(36) for name in SECRET_NAMES}
    vault = directory / "group_vars/all/vault.yml"
    vault.write_text(yaml.safe_dump(values))
    password_file.write_text(secrets.token_urlsafe(24))
    subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt",
                    "--vault-password-file", str(password_file), str(vault)],
                   check=True, capture_output=True)
    return values


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    try:
        base = base_root()
    except RootUnavailable as exc:
        pytest.skip(f"Ansible chroot run needs a Debian root: {exc}")
    work = tmp_path_factory.mktemp("ansible")
    names = [*ES_NODES, OPS[0], APP[0]]
    roots = {name: copy_root(base, work / "roots" / name) for name in names}
    # What the package's security auto-configuration leaves (its postinst), on one node.
    autoconfig = roots["es-1.elk.test"] / "etc/elasticsearch/certs"
    autoconfig.mkdir(parents=True)
    for name in ("http_ca.crt", "http.p12", "transport.p12"):
        (autoconfig / name).write_text("auto-configured\n")
    inventory = work / "inventory"
    inventory.mkdir()
    write_inventory(inventory, roots)
    password_file = work / "vault-password"
    values = write_vault(inventory, password_file)
    # --diff and -v show file contents and module results: a secret a task fails to hide
    # shows up in the output (test_no_secret_reaches_the_output).
    args = ("site.yml", "--skip-tags", SKIPPED_TAGS, "--diff", "-v")
    first = run_playbook(inventory / "hosts.yml", password_file, *args)
    second = run_playbook(inventory / "hosts.yml", password_file, *args) \
        if first.returncode == 0 else Run(-1, "not run: the first run failed")
    return Deployment(roots, inventory / "hosts.yml", password_file, values, first, second)


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line and not line.startswith("#"))
    return {key: value.strip('"') for key, value in pairs}


def assert_signed_by_ca(cert: x509.Certificate, ca: x509.Certificate) -> None:
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                           cert.signature_hash_algorithm)
    assert cert.issuer == ca.subject


def sans(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)} | {
        f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)}


# -- the runs ------------------------------------------------------------------------------

def test_first_run_succeeds_on_every_host(deployment):
    recap = deployment.first.recap()
    assert deployment.first.returncode == 0, deployment.first.output[-6000:]
    assert set(recap) == set(deployment.roots)
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values())
    assert all(r["changed"] > 0 for r in recap.values())


def test_second_run_changes_nothing(deployment):
    assert deployment.second.returncode == 0, deployment.second.output[-6000:]
    recap = deployment.second.recap()
    assert set(recap) == set(deployment.roots)
    changed = {host: r["changed"] for host, r in recap.items() if r["changed"]}
    assert not changed, [line for line in deployment.second.output.splitlines()
                         if line.startswith("changed:")]


def test_no_secret_reaches_the_output(deployment):
    """Both runs ran with --diff -v; the first wrote every secret-bearing file."""
    assert "--- before" in deployment.first.output, "the first run showed no diff at all"
    for value in deployment.secrets.values():
        assert value not in deployment.first.output
        assert value not in deployment.second.output


# -- Elasticsearch ---------------------------------------------------------------------------

@pytest.mark.parametrize("node", list(ES_NODES))
def test_each_node_names_the_seeds_masters_and_its_certificate(deployment, node):
    config = read_yaml(deployment.root(node) / "etc/elasticsearch/elasticsearch.yml")
    short = node.split(".")[0]
    assert config["node.name"] == short
    assert config["cluster.name"] == "flask-logs"
    assert "master" in config["node.roles"]
    assert config["network.publish_host"] == ES_NODES[node]
    assert config["network.host"] == [ES_NODES[node], "_local_"]
    assert config["discovery.seed_hosts"] == [f"{a}:9300" for a in ES_NODES.values()]
    # Never bootstrapped here (no cluster ran), so the first-start setting is still present.
    assert config["cluster.initial_master_nodes"] == ["es-1", "es-2", "es-3"]
    for layer in ("transport", "http"):
        assert config[f"xpack.security.{layer}.ssl.enabled"] is True
        assert config[f"xpack.security.{layer}.ssl.certificate"] == "tls/node.crt"
        assert config[f"xpack.security.{layer}.ssl.key"] == "tls/node.key"
        assert config[f"xpack.security.{layer}.ssl.certificate_authorities"] == ["tls/ca.crt"]
    assert config["xpack.security.transport.ssl.verification_mode"] == "full"


@pytest.mark.parametrize("node", list(ES_NODES))
def test_each_node_certificate_carries_its_names_and_is_signed_by_the_ca(deployment, node):
    tls = deployment.root(node) / "etc/elasticsearch/tls"
    cert = x509.load_pem_x509_certificate((tls / "node.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes())
    assert sans(cert) >= {f"DNS:{node}", f"DNS:{node.split('.')[0]}", f"IP:{ES_NODES[node]}",
                          "DNS:localhost", "IP:127.0.0.1"}
    others = {f"IP:{a}" for n, a in ES_NODES.items() if n != node}
    assert not sans(cert) & others
    assert_signed_by_ca(cert, ca)
    pki_ca = deployment.inventory.parent / "pki/ca.crt"
    assert (tls / "ca.crt").read_bytes() == pki_ca.read_bytes()
    key = tls / "node.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_node_keys_never_leave_the_nodes(deployment):
    pki = deployment.inventory.parent / "pki"
    assert sorted(p.name for p in pki.iterdir()) == ["ca.crt", "ca.key"]
    assert "ENCRYPTED" in (pki / "ca.key").read_text()
    keys = {(deployment.root(n) / "etc/elasticsearch/tls/node.key").read_bytes() for n in ES_NODES}
    assert len(keys) == len(ES_NODES)


def test_elasticsearch_heap_memlock_and_kernel_settings(deployment):
    root = deployment.root("es-1.elk.test")
    heap = (root / "etc/elasticsearch/jvm.options.d/heap.options").read_text()
    assert "-Xms2g" in heap
    assert "-Xmx2g" in heap
    drop_in = (root / "etc/systemd/system/elasticsearch.service.d/flask-elk.conf").read_text()
    assert "LimitMEMLOCK=infinity" in drop_in
    assert "TimeoutStopSec=300" in drop_in
    assert "SendSIGKILL=yes" in drop_in
    assert not (root / "etc/elasticsearch/certs").exists()
    assert read_yaml(root / "etc/elasticsearch/elasticsearch.yml")["bootstrap.memory_lock"] is True
    sysctl = (root / "etc/sysctl.d/60-flask-elk.conf").read_text()
    assert "vm.max_map_count = 1048576" in sysctl
    assert in_root(root, "id", "elasticsearch").returncode == 0


# -- Logstash --------------------------------------------------------------------------------

def test_logstash_runs_the_bundles_pipelines_with_queues(deployment):
    root = deployment.root(OPS[0])
    settings = read_yaml(root / "etc/logstash/logstash.yml")
    bundle = read_yaml(REPO_ROOT / "logstash/config/logstash.yml")
    for key in ("queue.type", "queue.max_bytes", "dead_letter_queue.enable",
                "pipeline.ecs_compatibility"):
        assert settings[key] == bundle[key]
    assert settings["path.data"] == "/var/lib/logstash"
    pipelines = read_yaml(root / "etc/logstash/pipelines.yml")
    bundle_pipelines = read_yaml(REPO_ROOT / "logstash/config/pipelines.yml")
    assert [p["pipeline.id"] for p in pipelines] == [p["pipeline.id"] for p in bundle_pipelines]
    for pipeline in pipelines:
        deployed = root / pipeline["path.config"].lstrip("/")
        assert deployed.read_bytes() == (
            REPO_ROOT / "logstash/pipeline" / deployed.name).read_bytes()


def test_every_certificate_the_pipelines_name_exists(deployment):
    root = deployment.root(OPS[0])
    env_path = root / "etc/logstash/flask-elk.env"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    env = env_file(env_path)
    pipelines = "".join(
        p.read_text() for p in sorted((REPO_ROOT / "logstash/pipeline").glob("*.conf")))
    paths = set(re.findall(r'"\$\{LOGSTASH_CERTS_DIR:[^}]*\}(/[^"]+)"', pipelines))
    assert paths, "the pipelines name no certificate under LOGSTASH_CERTS_DIR"
    for suffix in paths:
        assert (root / (env["LOGSTASH_CERTS_DIR"] + suffix).lstrip("/")).is_file(), suffix
    cert = x509.load_pem_x509_certificate(
        (root / env["LOGSTASH_CERTS_DIR"].lstrip("/") / "logstash/logstash.crt").read_bytes())
    assert f"IP:{OPS[1]}" in sans(cert)
    assert env["ES_HOSTS"].split() == [f"https://{a}:9200" for a in ES_NODES.values()]
    assert env["LOGSTASH_WRITER_PASSWORD"] == deployment.secrets["vault_logstash_writer_password"]
    assert env["LOGSTASH_TCP_TLS"] == "true"
    # The replay pipeline must read the queue where this host's Logstash writes it.
    settings = read_yaml(root / "etc/logstash/logstash.yml")
    assert env["LOGSTASH_DLQ_DIR"] == settings["path.data"] + "/dead_letter_queue"
    drop_in = root / "etc/systemd/system/logstash.service.d/flask-elk.conf"
    assert "EnvironmentFile=/etc/logstash/flask-elk.env" in drop_in.read_text()
    assert "TimeoutStopSec=120" in drop_in.read_text()


def test_the_dlq_replay_and_its_paths_are_on_the_logstash_host(deployment):
    root = deployment.root(OPS[0])
    env = env_file(root / "etc/logstash/flask-elk.env")
    command = root / "usr/local/bin/flask-elk-dlq-replay"
    assert command.read_bytes() == (REPO_ROOT / "logstash/bin/dlq-replay").read_bytes()
    assert stat.S_IMODE(command.stat().st_mode) == 0o755
    # The replay reads these from the environment file (docs/logstash.md, step 3).
    assert (root / env["LOGSTASH_SETTINGS_DIR"].lstrip("/") / "logstash.yml").is_file()
    assert (root / env["DLQ_REPLAY_PIPELINE"].lstrip("/")).read_bytes() == (
        REPO_ROOT / "logstash/pipeline/dlq_replay.conf").read_bytes()


def test_the_app_and_logstash_redact_the_same_extra_keys(deployment):
    logstash = env_file(deployment.root(OPS[0]) / "etc/logstash/flask-elk.env")
    app = env_file(deployment.root(APP[0]) / "etc/flask-app/flask-app.env")
    assert "LOG_REDACT_EXTRA_KEYS" in logstash
    assert logstash["LOG_REDACT_EXTRA_KEYS"] == app["LOG_REDACT_EXTRA_KEYS"]


def test_logstash_keeps_unredacted_lines_out_of_its_own_log(deployment):
    # The same logger rule compose mounts: the line codec's WARN with a raw line is off.
    wanted = re.findall(r"(?m)^logger\.line_codec\..*$",
                        (REPO_ROOT / "logstash/config/log4j2.properties").read_text())
    assert "logger.line_codec.level = error" in wanted
    deployed = (deployment.root(OPS[0]) / "etc/logstash/log4j2.properties").read_text()
    assert all(line in deployed.splitlines() for line in wanted)


# -- Kibana ----------------------------------------------------------------------------------

def test_kibana_uses_the_bundles_settings_with_every_node(deployment):
    root = deployment.root(OPS[0])
    settings = read_yaml(root / "etc/kibana/kibana.yml")
    bundle = read_yaml(REPO_ROOT / "kibana/kibana.yml")
    assert settings["elasticsearch.hosts"] == [f"https://{a}:9200" for a in ES_NODES.values()]
    assert settings["server.name"] == "ops-1"
    for key in ("elasticsearch.username", "elasticsearch.password",
                "xpack.encryptedSavedObjects.encryptionKey", "elasticsearch.ssl.verificationMode"):
        assert settings[key] == bundle[key]
    (ca,) = settings["elasticsearch.ssl.certificateAuthorities"]
    assert (root / ca.lstrip("/")).read_bytes() == (
        deployment.inventory.parent / "pki/ca.crt").read_bytes()
    env_path = root / "etc/kibana/flask-elk.env"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    env = env_file(env_path)
    # Every ${VAR} kibana.yml still holds is set by the environment file.
    wanted = set(re.findall(r"\$\{(\w+)\}", (root / "etc/kibana/kibana.yml").read_text()))
    assert wanted
    assert wanted <= set(env)
    assert env["KIBANA_SYSTEM_PASSWORD"] == deployment.secrets["vault_kibana_system_password"]
    # HTTPS on the host's own address, with a certificate from the bundle's CA.
    assert settings["server.host"] == OPS[1]
    assert settings["server.ssl.enabled"] is True
    cert = x509.load_pem_x509_certificate(
        (root / settings["server.ssl.certificate"].lstrip("/")).read_bytes())
    assert f"IP:{OPS[1]}" in sans(cert)
    assert_signed_by_ca(cert, x509.load_pem_x509_certificate((root / ca.lstrip("/")).read_bytes()))
    key = root / settings["server.ssl.key"].lstrip("/")
    assert stat.S_IMODE(key.stat().st_mode) == 0o640


# -- provisioning ----------------------------------------------------------------------------

def test_the_provisioning_tool_and_assets_are_the_bundles(deployment):
    root = deployment.root(OPS[0])
    install = root / "opt/elk-provision"
    for folder in ("elasticsearch", "kibana/saved_objects", "kibana/rules"):
        bundle = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / folder).rglob("*")
                        if p.is_file())
        deployed = sorted(p.relative_to(install) for p in (install / folder).rglob("*")
                          if p.is_file())
        assert deployed == bundle
        assert all((install / p).read_bytes() == (REPO_ROOT / p).read_bytes() for p in bundle)
    for name in ("elastic_password", "kibana_system_password", "logstash_writer_password",
                 "logs_reader_password"):
        path = root / "etc/elk-provision/secrets" / name
        assert path.read_text() == deployment.secrets[f"vault_{name}"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The deployed tool runs inside the host's own virtual environment.
    done = in_root(root, "/bin/sh", "-c",
                   "cd /opt/elk-provision && PYTHONPATH=. venv/bin/python -m elk_provision --help")
    assert done.returncode == 0, done.stderr
    assert "elasticsearch" in done.stdout
    assert "kibana" in done.stdout


# -- the app ---------------------------------------------------------------------------------

def test_the_app_is_installed_under_systemd_pointed_at_logstash(deployment):
    root = deployment.root(APP[0])
    unit = (root / "etc/systemd/system/flask-app.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.MULTILINE)[1]
    assert (root / exec_start.lstrip("/")).exists()
    assert "User=flask-app" in unit
    env = env_file(root / "etc/flask-app/flask-app.env")
    assert env["LOGSTASH_HOST"] == OPS[1]
    assert env["LOGSTASH_TLS_ENABLED"] == "true"
    assert (root / env["LOGSTASH_TLS_CA_FILE"].lstrip("/")).is_file()
    buffer_dir = root / env["LOG_BUFFER_DIR"].lstrip("/")
    assert buffer_dir.is_dir()
    # Every source of the packages, subpackages included, and nothing else.
    app = REPO_ROOT / "app"
    sources = sorted(p.relative_to(app) for package in ("flask_logstash", "sample_service")
                     for p in (app / package).rglob("*.py") if "__pycache__" not in p.parts)
    installed = root / exec_start.lstrip("/").split("/venv/")[0] / "src"
    deployed = sorted(p.relative_to(installed) for p in installed.rglob("*.py")
                      if p.name != "gunicorn.conf.py")
    assert any(len(p.parts) > 2 for p in sources)  # the test covers a subpackage
    assert deployed == sources
    assert all((installed / p).read_bytes() == (app / p).read_bytes() for p in sources)
    # The service's own settings loader accepts the rendered environment, inside the host.
    check = ("from flask_logstash.settings import LoggingSettings as S; "
             "s = S.from_env(); print(s.logstash_host, s.tls_enabled)")
    done = in_root(root, "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()],
                   "/bin/sh", "-c",
                   f"cd /opt/flask-app/src && /opt/flask-app/venv/bin/python -c '{check}'")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [OPS[1], "True"]


# -- later runs ------------------------------------------------------------------------------

def test_formed_cluster_drops_the_bootstrap_setting_without_restarts(deployment):
    """Once any node records a formed cluster, no node's config names initial masters."""
    marker = deployment.root("es-2.elk.test") / "etc/ansible/facts.d"
    marker.mkdir(parents=True, exist_ok=True)
    (marker / "elasticsearch.fact").write_text(json.dumps({"cluster_uuid": "test"}))
    run = deployment.play("elasticsearch.yml", "--skip-tags", SKIPPED_TAGS)
    assert run.returncode == 0, run.output[-4000:]
    for node in ES_NODES:
        config = read_yaml(deployment.root(node) / "etc/elasticsearch/elasticsearch.yml")
        assert "cluster.initial_master_nodes" not in config
        assert config["discovery.seed_hosts"] == [f"{a}:9300" for a in ES_NODES.values()]
    assert sum(r["changed"] for r in run.recap().values()) == len(ES_NODES)


def test_a_missing_secret_stops_the_play_naming_it(deployment, tmp_path):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    write_inventory(inventory, deployment.roots)
    values = dict(deployment.secrets)
    del values["vault_kibana_security_key"]
    values["vault_logs_reader_password"] = "CHANGE-ME-min-16-chars"
    (inventory / "group_vars/all/vault.yml").write_text(yaml.safe_dump(values))
    run = run_playbook(inventory / "hosts.yml", deployment.vault_password_file, "prepare.yml",
                       "--skip-tags", SKIPPED_TAGS, limit="es-1.elk.test")
    assert run.returncode != 0
    assert "vault_kibana_security_key is missing" in run.output
    assert "vault_logs_reader_password is missing" in run.output
    for value in values.values():
        assert value not in run.output
