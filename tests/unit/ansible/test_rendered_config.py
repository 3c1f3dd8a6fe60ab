"""The roles' templates rendered by ansible-playbook itself (connection local, no target).

Fast enough for every run, unlike the chroot run: each node's elasticsearch.yml from the
role's defaults and an inventory of three nodes with public IPv4 and IPv6 addresses, and the
kernel settings with a host that already has more than the package's vm.max_map_count.
"""

from __future__ import annotations

import base64
import json
import sys

import pytest
import yaml

from tests.unit.ansible.test_ansible_static import ANSIBLE_DIR, REPO_ROOT, ansible

# Public addresses only: no site-local one anywhere (Defect: _site_ found nothing to bind).
NODES = {"es-1.example.org": "203.0.113.11", "es-2.example.org": "2001:db8::12",
         "es-3.example.org": "198.51.100.13"}
HTTP_PORT, TRANSPORT_PORT = 9200, 9300
HOST_MAX_MAP_COUNT = 2097152  # above the package's 1048576: must be kept


def write_inventory(directory) -> None:
    hosts = {n: {"elk_address": a, "ansible_connection": "local",
                 "ansible_python_interpreter": sys.executable} for n, a in NODES.items()}
    # es-1 doubles as the Kibana and provisioning host.
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "elasticsearch": {"hosts": hosts}, "kibana": {"hosts": {"es-1.example.org": None}},
        "elk_provision": {"hosts": {"es-1.example.org": None}}}}}))


def write_playbook(directory, out) -> None:
    current = base64.b64encode(f"{HOST_MAX_MAP_COUNT}\n".encode()).decode()
    roles = ANSIBLE_DIR / "roles"
    play = [{
        "name": "Render the role templates", "hosts": "elasticsearch", "gather_facts": False,
        "vars_files": [str(roles / "elk/defaults/main.yml"),
                       str(roles / "elasticsearch/defaults/main.yml"),
                       str(roles / "prepare/defaults/main.yml"),
                       str(roles / "kibana/defaults/main.yml"),
                       str(roles / "provision/defaults/main.yml")],
        "vars": {"elasticsearch_cluster_formed": False,
                 "prepare_sysctl_current": {"results": [
                     {"item": "vm.max_map_count", "content": current}]}},
        "tasks": [
            {"name": "Render elasticsearch.yml", "ansible.builtin.template": {
                "src": str(roles / "elasticsearch/templates/elasticsearch.yml.j2"),
                "dest": f"{out}/{{{{ inventory_hostname }}}}.elasticsearch.yml",
                "mode": "0600"}},
            {"name": "Render the kernel settings", "ansible.builtin.template": {
                "src": str(roles / "prepare/templates/sysctl.conf.j2"),
                "dest": f"{out}/{{{{ inventory_hostname }}}}.sysctl.conf", "mode": "0600"},
             "vars": {"prepare_sysctl_current": "{{ host_sysctl[inventory_hostname] }}"}},
            {"name": "Write the Elasticsearch URLs Logstash and Kibana get",
             "ansible.builtin.copy": {"content": "{{ elk_elasticsearch_urls | to_json }}",
                                      "dest": f"{out}/urls.json", "mode": "0600"},
             "run_once": True},
            {"name": "Render kibana.yml", "ansible.builtin.template": {
                "src": str(roles / "kibana/templates/kibana.yml.j2"),
                "dest": f"{out}/kibana.yml", "mode": "0600"},
             "when": "inventory_hostname in groups['kibana']"},
            {"name": "Write how provisioning reaches Kibana",
             "ansible.builtin.copy": {
                 "content": "{{ {'url': provision_kibana_url, 'ca': provision_kibana_ca_path}"
                            " | to_json }}",
                 "dest": f"{out}/provision-kibana.json", "mode": "0600"},
             "when": "inventory_hostname in groups['elk_provision']"},
        ],
    }]
    # es-1's host already has a larger value; es-2 reports none (like a chroot).
    play[0]["vars"]["host_sysctl"] = {
        "es-1.example.org": play[0]["vars"].pop("prepare_sysctl_current"),
        "es-2.example.org": {"results": [{"item": "vm.max_map_count", "failed": True}]},
        "es-3.example.org": {"results": []}}
    (directory / "render.yml").write_text(yaml.safe_dump(play, sort_keys=False))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("render")
    out = work / "out"
    out.mkdir()
    write_inventory(work)
    write_playbook(work, out)
    # Extra vars: the role defaults come in as vars_files, which outrank play vars.
    done = ansible("ansible-playbook", "-i", str(work / "hosts.yml"), str(work / "render.yml"),
                   "-e", f"elk_repo_root={REPO_ROOT}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return out


def config(rendered, node: str) -> dict:
    return yaml.safe_load((rendered / f"{node}.elasticsearch.yml").read_text())


@pytest.mark.parametrize("node", list(NODES))
def test_each_node_binds_to_its_inventory_address(rendered, node):
    settings = config(rendered, node)
    hosts = settings["network.host"]
    hosts = hosts if isinstance(hosts, list) else [hosts]
    assert NODES[node] in hosts
    assert not {"_site_", "_global_", "0.0.0.0", "::"} & set(hosts)
    assert settings["network.publish_host"] == NODES[node]


@pytest.mark.parametrize("node", list(NODES))
def test_seed_hosts_are_every_master_on_the_transport_port(rendered, node):
    settings = config(rendered, node)
    assert settings["transport.port"] == TRANSPORT_PORT
    assert settings["http.port"] == HTTP_PORT
    seeds = settings["discovery.seed_hosts"]
    assert len(seeds) == len(NODES)
    for seed, address in zip(seeds, NODES.values(), strict=True):
        # Elasticsearch parses "host:port"; an IPv6 literal needs brackets before the port
        # (TransportAddress parsing in discovery.seed_hosts, docs "Discovery settings").
        host, _, port = seed.rpartition(":")
        assert int(port) == TRANSPORT_PORT, seed
        assert host.strip("[]") == address
        if ":" in address:
            assert host == f"[{address}]", seed
    assert settings["cluster.initial_master_nodes"] == ["es-1", "es-2", "es-3"]


def test_max_map_count_is_never_lowered(rendered):
    def value(node: str) -> int:
        lines = (rendered / f"{node}.sysctl.conf").read_text().splitlines()
        (line,) = [x for x in lines if x.startswith("vm.max_map_count")]
        return int(line.split("=")[1])

    assert value("es-1.example.org") == HOST_MAX_MAP_COUNT
    # The package's own value (its /usr/lib/sysctl.d/elasticsearch.conf) when none is known.
    assert value("es-2.example.org") == 1048576
    assert value("es-3.example.org") == 1048576


def test_clients_get_every_node_url_with_ipv6_in_brackets(rendered):
    urls = json.loads((rendered / "urls.json").read_text())
    assert urls == ["https://203.0.113.11:9200", "https://[2001:db8::12]:9200",
                    "https://198.51.100.13:9200"]


def test_kibana_serves_tls_on_its_address_with_the_bundles_certificate(rendered):
    settings = yaml.safe_load((rendered / "kibana.yml").read_text())
    assert settings["server.host"] == NODES["es-1.example.org"]
    assert settings["server.ssl.enabled"] is True
    assert settings["server.ssl.certificate"] == "/etc/kibana/certs/kibana.crt"
    assert settings["server.ssl.key"] == "/etc/kibana/certs/kibana.key"


def test_provisioning_reaches_kibana_over_verified_https(rendered):
    target = json.loads((rendered / "provision-kibana.json").read_text())
    assert target["url"] == "https://203.0.113.11:5601"
    assert target["ca"] == "/etc/elk-provision/ca.crt"
    argv = yaml.safe_load((ANSIBLE_DIR / "roles/provision/tasks/kibana.yml").read_text())[0]
    command = argv["ansible.builtin.command"]["argv"]
    assert "'--ca-file', provision_kibana_ca_path" in command
    assert "--insecure" not in command
