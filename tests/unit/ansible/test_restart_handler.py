"""The Elasticsearch restart handler's tasks, run for real by ansible-playbook.

roles/elasticsearch/tasks/restart.yml runs against localhost (connection local) with every
node's address pointed at a strict stand-in of the cluster API (tests/support/
fake_cluster_api.py: nodes on 127.0.0.11-13 over TLS, basic auth, Elasticsearch's rules for
health, allocation settings and the node list). `systemctl` on PATH is a stand-in that
restarts the node in the stand-in cluster; the systemd_service module itself is Ansible's.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.fake_cluster_api import FakeCluster, Node, control_handler, make_tls
from tests.support.local_http import LocalHttpServer
from tests.unit.ansible.test_ansible_static import REPO_ROOT, ansible

ADDRESSES = {"es-1": "127.0.0.11", "es-2": "127.0.0.12", "es-3": "127.0.0.13"}
SECRET_NAMES = ("vault_elk_ca_passphrase", "vault_elastic_password",
                "vault_kibana_system_password", "vault_logstash_writer_password",
                "vault_logs_reader_password", "vault_kibana_encryption_key",
                "vault_kibana_reporting_key", "vault_kibana_security_key")
SYSTEMCTL = """#!{python}
# Stand-in for systemctl on the node's host: asks the stand-in cluster.
import json, os, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
control, node = os.environ["FAKE_CONTROL"], os.environ["FAKE_NODE"]
verb = [a for a in sys.argv[1:] if not a.startswith("-")][0]
if verb == "show":
    active = json.load(opener.open(control + "/state/" + node))["active"]
    print("Id=elasticsearch.service\\nLoadState=loaded\\nActiveState="
          + ("active" if active else "inactive"))
elif verb in ("start", "restart"):
    opener.open(urllib.request.Request(control + "/restart/" + node, method="POST"))
"""


def loopback_aliases_work() -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((ADDRESSES["es-3"], 0))
    except OSError:
        return False
    return True


pytestmark = [pytest.mark.skipif(not loopback_aliases_work(),
                                 reason="binding 127.0.0.13 is not possible here"),
              # Real ansible-playbook runs: slow, and slower still on a busy machine.
              pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class Stage:
    cluster: FakeCluster
    work: Path
    secrets: dict[str, str]

    def play(self, limit: str | None = None) -> tuple[int, str]:
        args = ["-i", str(self.work / "hosts.yml"), str(self.work / "restart.yml"),
                "-e", f"@{self.work / 'vars.json'}"]
        if limit:
            args += ["--limit", limit]
        done = ansible("ansible-playbook", *args)
        return done.returncode, done.stdout + done.stderr

    def settings_puts(self) -> list[tuple[str, object]]:
        return [(r.node, r.body["persistent"]["cluster.routing.allocation.enable"])
                for r in self.cluster.requests
                if r.method == "PUT" and r.path.startswith("/_cluster/settings")]


def write_stage(work: Path, cluster: FakeCluster, control_url: str, ca: Path,
                values: dict[str, str]) -> None:
    bin_dir = work / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(SYSTEMCTL.format(python=sys.executable))
    systemctl.chmod(0o755)
    (work / "conf/tls").mkdir(parents=True)
    (work / "conf/tls/ca.crt").write_bytes(ca.read_bytes())
    hosts = {f"{name}.elk.test": {"elk_address": address, "ansible_connection": "local",
                                  "ansible_python_interpreter": sys.executable}
             for name, address in ADDRESSES.items()}
    (work / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"elasticsearch": {"hosts": hosts}}}}))
    no_proxy = ",".join([*ADDRESSES.values(), "127.0.0.1", "localhost"])
    play = [{
        "name": "Restart the nodes one at a time, as the role's handler does",
        "hosts": "elasticsearch", "serial": 1, "gather_facts": False,
        "environment": {"PATH": f"{bin_dir}:{os.environ['PATH']}",
                        "FAKE_NODE": "{{ inventory_hostname_short }}",
                        "FAKE_CONTROL": control_url,
                        "NO_PROXY": no_proxy, "no_proxy": no_proxy},
        "tasks": [{"name": "Run the restart handler's tasks",
                   "ansible.builtin.include_role": {"name": "elasticsearch",
                                                    "tasks_from": "restart.yml"}}],
    }]
    (work / "restart.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (work / "vars.json").write_text(json.dumps({
        **values, "elk_repo_root": str(REPO_ROOT), "elasticsearch_cluster_formed": True,
        "elasticsearch_config_dir": str(work / "conf"),
        "elk_elasticsearch_http_port": cluster.port,
        "elasticsearch_wait_retries": 3, "elasticsearch_wait_delay": 0}))


@pytest.fixture
def stage(tmp_path, request) -> Iterator[Stage]:
    options = getattr(request, "param", {})
    values = {name: secrets.token_urlsafe(36) for name in SECRET_NAMES}
    tls = make_tls(tmp_path, list(ADDRESSES.values()))
    nodes = [Node(name, address, options.get("version", "9.5.0"),
                  rejoins=name not in options.get("never_rejoin", ()),
                  upgrade_to=options.get("upgrade_to"))
             for name, address in ADDRESSES.items()]
    cluster = FakeCluster(nodes, values["vault_elastic_password"], tls,
                          stuck_replicas=options.get("stuck_replicas", False))
    cluster.start_all()
    for name in options.get("stopped", ()):
        cluster.stop(name)
    control = LocalHttpServer()
    control.serve(control_handler(cluster))
    with control:
        write_stage(tmp_path, cluster, control.url, tls.ca, values)
        yield Stage(cluster, tmp_path, values)
    cluster.close()


def assert_no_secret(stage: Stage, output: str) -> None:
    for value in stage.secrets.values():
        assert value not in output


def test_rolling_restart_holds_replicas_and_restores_allocation(stage):
    code, output = stage.play()
    assert code == 0, output[-5000:]
    assert stage.cluster.restarts == ["es-1", "es-2", "es-3"]
    assert stage.cluster.persistent == {}
    assert stage.cluster.health()["status"] == "green"
    # Per node: held, restarted, restored; the held/restored requests never went to the
    # node being restarted.
    events = [(r.node, r.method, (r.body or {}).get("persistent", {}).get(
        "cluster.routing.allocation.enable", "-")) for r in stage.cluster.requests
        if r.method == "RESTART" or r.path.startswith("/_cluster/settings")]
    for name in ADDRESSES:
        restart = events.index((name, "RESTART", "-"))
        held, restored = events[restart - 1], events[restart + 1]
        assert held[1:] == ("PUT", "primaries")
        assert restored[1:] == ("PUT", None)
        assert held[0] != name
    assert_no_secret(stage, output)


@pytest.mark.parametrize("stage", [{"never_rejoin": ["es-2"]}], indirect=True)
def test_node_that_never_rejoins_gets_allocation_back_and_stops_the_play(stage):
    code, output = stage.play()
    assert code != 0
    assert "es-2.elk.test" in output
    assert "did not" in output
    assert "rejoin the cluster" in output
    assert "Replica allocation was switched back on" in output
    # Allocation is back to the default, and no node after es-2 was touched.
    assert stage.cluster.persistent == {}
    assert stage.settings_puts()[-1][1] is None
    assert stage.cluster.restarts == ["es-1", "es-2"]
    assert_no_secret(stage, output)


@pytest.mark.parametrize("stage", [{"upgrade_to": "9.5.1"}], indirect=True)
def test_rolling_upgrade_continues_on_yellow_while_versions_differ(stage):
    code, output = stage.play()
    assert code == 0, output[-5000:]
    assert stage.cluster.restarts == ["es-1", "es-2", "es-3"]
    assert {n.version for n in stage.cluster.nodes.values()} == {"9.5.1"}
    # Once every node runs the new version, green is required again, and reached.
    health_waits = [r.path for r in stage.cluster.requests if "wait_for_status" in r.path]
    assert "wait_for_status=yellow" in health_waits[0]
    assert "wait_for_status=green" in health_waits[-1]
    assert stage.cluster.health()["status"] == "green"


@pytest.mark.parametrize("stage", [{"stuck_replicas": True}], indirect=True)
def test_yellow_is_not_enough_when_every_node_runs_one_version(stage):
    code, output = stage.play()
    assert code != 0
    assert "did not reach" in output
    assert "green" in output
    assert stage.cluster.restarts == ["es-1"]
    assert stage.cluster.persistent == {}


@pytest.mark.parametrize("stage", [{"stopped": ["es-1"]}], indirect=True)
def test_a_stopped_node_is_started_through_another_node(stage):
    code, output = stage.play(limit="es-1.elk.test")
    assert code == 0, output[-5000:]
    assert stage.cluster.restarts == ["es-1"]
    assert stage.cluster.nodes["es-1"].running
    assert stage.settings_puts()[0] == ("es-2", "primaries")
    assert stage.cluster.persistent == {}


# -- the stand-in refuses what Elasticsearch refuses ----------------------------------------

def call(stage: Stage, node: str, method: str, path: str, body: object = None,
         auth: bool = True) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=str(stage.work / "conf/tls/ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stage.cluster.url(node) + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    if auth:
        token = base64.b64encode(
            f"elastic:{stage.secrets['vault_elastic_password']}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(("method", "path", "body", "status", "kind"), [
    ("PUT", "/_cluster/settings",
     {"persistent": {"cluster.routing.allocation.enable": "primary"}}, 400,
     "illegal_argument_exception"),
    ("PUT", "/_cluster/settings",
     {"persistent": {"cluster": {"routing": {"allocation": {"enabled": "all"}}}}}, 400,
     "illegal_argument_exception"),
    ("PUT", "/_cluster/settings", {"persistant": {}}, 400, "x_content_parse_exception"),
    ("GET", "/_cluster/health?wait_for_status=blue", None, 400, "illegal_argument_exception"),
    ("GET", "/_cluster/health?timeout=30", None, 400, "illegal_argument_exception"),
    ("GET", "/_cluster/health?wait_for_colour=green", None, 400,
     "illegal_argument_exception"),
    ("POST", "/_cluster/health", None, 405, "illegal_argument_exception"),
])
def test_stand_in_refuses_what_elasticsearch_refuses(stage, method, path, body, status, kind):
    got, answer = call(stage, "es-1", method, path, body)
    assert got == status
    assert answer["error"]["type"] == kind
    assert stage.cluster.persistent == {}


def test_stand_in_requires_credentials_and_times_out_unmet_waits(stage):
    status, answer = call(stage, "es-1", "GET", "/_cluster/health", auth=False)
    assert status == 401
    assert answer["error"]["type"] == "security_exception"
    assert call(stage, "es-1", "PUT", "/_cluster/settings", {"persistent": {
        "cluster": {"routing": {"allocation": {"enable": "primaries"}}}}})[0] == 200
    assert stage.cluster.persistent == {"cluster.routing.allocation.enable": "primaries"}
    stage.cluster.stop("es-3")
    status, answer = call(stage, "es-1", "GET", "/_cluster/health?wait_for_status=green")
    assert (status, answer["timed_out"], answer["status"]) == (408, True, "yellow")
    with pytest.raises(urllib.error.URLError):
        call(stage, "es-3", "GET", "/_cluster/health")
    status, nodes = call(stage, "es-1", "GET", "/_cat/nodes?h=name,version&format=json")
    assert sorted(n["name"] for n in nodes) == ["es-1", "es-2"]
