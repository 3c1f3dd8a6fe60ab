"""A stand-in for the cluster-level REST API of an Elasticsearch 9.x cluster, over TLS.

Only what the Ansible restart, upgrade and formation tasks use, each rule enforced as the
real server does (sources are elastic/elasticsearch, main branch of the 9.x line):

- every request needs the elastic user's basic credentials: security is on, anonymous
  access off (x-pack/plugin/security/.../authc/AuthenticationService.java; 401 carries
  `WWW-Authenticate: Basic realm="security"`);
- unknown query parameters are refused with 400 (rest/BaseRestHandler.java,
  `unrecognized(...)`: "request [...] contains unrecognized parameter: [...]"), and a known
  path with the wrong method gets 405 (rest/RestController.java,
  `handleUnsupportedHttpMethod`);
- `GET _cluster/health` (rest/action/admin/cluster/RestClusterHealthAction.java,
  action/admin/cluster/health/ClusterHealthResponse.java): `wait_for_status` is green, yellow
  or red; `wait_for_nodes` is N, >=N, <=N, >N, <N; `timeout` and `master_timeout` are time
  values. A condition not met within the timeout answers HTTP 408 with `timed_out: true`
  (ClusterHealthResponse#status). The stand-in answers at once as if the timeout had passed;
  a node without a master answers 503 (master_not_discovered_exception);
- `PUT _cluster/settings` (RestClusterUpdateSettingsAction.java,
  ClusterUpdateSettingsRequest.java): a body with `persistent` and/or `transient` only;
  settings are validated (common/settings/AbstractScopedSettings.java#validate: unknown
  names are "not recognized"), `cluster.routing.allocation.enable` accepts all, primaries,
  new_primaries, none (cluster/routing/allocation/decider/EnableAllocationDecider.java,
  `Allocation.parse`) and null resets it; nested and dotted keys are the same setting
  (Settings.Builder#loadFromMap flattens);
- `GET _cat/nodes?format=json&h=...` lists the nodes that are in the cluster, with the
  requested columns (rest/action/cat/RestNodesAction.java: `name`, `version`, `ip`, ...);
- health: a node that leaves takes its replica copies with it (yellow); with allocation
  held at `primaries` they are not assigned again when it returns, only once allocation is
  back to `all` (EnableAllocationDecider); a replica cannot be allocated to a node on an
  older version than its primary's node
  (cluster/routing/allocation/decider/NodeVersionAllocationDecider.java), so a
  mixed-version cluster with replicas stays yellow until every node runs the same version.

Nodes are served each on its own loopback address and a shared port, as real nodes on
separate hosts; a stopped node's address refuses connections. `restart(name)` is what
`systemctl restart elasticsearch` does on that node's host.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.local_http import send_json

ALLOCATION_ENABLE = "cluster.routing.allocation.enable"
ALLOCATION_VALUES = {"all", "primaries", "new_primaries", "none"}
# Settings the stand-in knows; any other name is "not recognized" as on the real server
# (the real list is far longer; the play uses only these).
KNOWN_SETTINGS = {ALLOCATION_ENABLE, "cluster.routing.allocation.node_concurrent_recoveries",
                  "indices.recovery.max_bytes_per_sec"}
HEALTH_PARAMS = {"wait_for_status", "wait_for_nodes", "timeout", "master_timeout",
                 "wait_for_no_relocating_shards", "wait_for_no_initializing_shards",
                 "wait_for_active_shards", "wait_for_events", "level", "local", "pretty"}
CAT_NODES_PARAMS = {"format", "h", "v", "s", "help", "bytes", "time", "full_id",
                    "master_timeout", "pretty"}
CAT_NODES_COLUMNS = {"name", "version", "ip", "node.role", "master", "heap.percent"}
STATUS_ORDER = {"red": 0, "yellow": 1, "green": 2}
TIME_VALUE = re.compile(r"^(-1|0|[0-9]+(nanos|micros|ms|s|m|h|d))$")
WAIT_FOR_NODES = re.compile(r"^(>=|<=|>|<|ge\(|le\(|gt\(|lt\()?([0-9]+)\)?$")


@dataclass
class Node:
    name: str
    address: str
    version: str
    running: bool = True
    # What a restart does: come back (rejoin), or start and never rejoin.
    rejoins: bool = True
    upgrade_to: str | None = None
    server: ThreadingHTTPServer | None = None


@dataclass
class Request:
    node: str
    method: str
    path: str
    body: Any


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path, addresses: list[str]) -> TlsFiles:
    """A CA and one server certificate naming every node address (as the play's certs do)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake cluster CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "ca.crt", directory / "node.crt", directory / "node.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


class ApiError(Exception):
    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason

    def body(self) -> dict[str, Any]:
        cause = {"type": self.kind, "reason": self.reason}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise ApiError(400, "illegal_argument_exception", "settings must be an object")
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def check_time_value(name: str, value: str) -> None:
    if not TIME_VALUE.match(value):
        raise ApiError(400, "illegal_argument_exception",
                       f"failed to parse setting [{name}] with value [{value}] as a time value: "
                       "unit is missing or unrecognized")


class FakeCluster:
    """Nodes, persistent settings and the health that follows from them."""

    def __init__(self, nodes: list[Node], password: str, tls: TlsFiles,
                 replicas: bool = True, stuck_replicas: bool = False) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.password = password
        self.replicas = replicas
        # Replicas that stay unassigned whatever happens (a disk watermark, say): yellow.
        self.stuck_replicas = stuck_replicas
        self.persistent: dict[str, Any] = {}
        self.requests: list[Request] = []
        # Replica copies lost while a node was away, not yet assigned again.
        self.replicas_lost = False
        self.restarts: list[str] = []
        self.lock = threading.Lock()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(tls.cert, tls.key)
        self.port = 0

    # -- what the hosts' init systems do --------------------------------------------------

    def start_all(self) -> None:
        for node in self.nodes.values():
            if node.running:
                self._listen(node)

    def stop(self, name: str) -> None:
        node = self.nodes[name]
        node.running = False
        if node.server is not None:
            node.server.shutdown()
            node.server.server_close()
            node.server = None

    def restart(self, name: str) -> None:
        """`systemctl restart elasticsearch` on the node's host (starts a stopped node)."""
        node = self.nodes[name]
        with self.lock:
            self.restarts.append(name)
            self.requests.append(Request(name, "RESTART", "", None))
        self.stop(name)
        self.replicas_lost = self.replicas
        if node.upgrade_to:
            node.version, node.upgrade_to = node.upgrade_to, None
        node.running = True
        if node.rejoins:
            self._listen(node)

    def close(self) -> None:
        for name in self.nodes:
            self.stop(name)

    def _listen(self, node: Node) -> None:
        cluster = self

        class Handler(_NodeHandler):
            pass

        Handler.cluster, Handler.node_name = cluster, node.name
        server = ThreadingHTTPServer((node.address, self.port), Handler)
        server.socket = self.context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        node.server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, name: str) -> str:
        return f"https://{self.nodes[name].address}:{self.port}"

    # -- state the API reports ------------------------------------------------------------

    def members(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.running and n.server is not None]

    def health(self) -> dict[str, Any]:
        members = self.members()
        allocation = self.persistent.get(ALLOCATION_ENABLE, "all")
        versions = {n.version for n in members}
        missing = len(members) < len(self.nodes)
        if not missing and allocation == "all":
            self.replicas_lost = False  # recovered (the stand-in recovers at once)
        replicas_unassigned = self.replicas and (
            self.stuck_replicas or missing or self.replicas_lost or len(versions) > 1
            or len(members) < 2)
        status = "yellow" if replicas_unassigned else "green"
        return {"cluster_name": "flask-logs", "status": status, "timed_out": False,
                "number_of_nodes": len(members), "number_of_data_nodes": len(members),
                "active_primary_shards": 10, "unassigned_shards": 10 if replicas_unassigned else 0}


class _NodeHandler(BaseHTTPRequestHandler):
    cluster: FakeCluster
    node_name: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            send_json(self, 400, ApiError(400, "parse_exception", "request body is not JSON")
                      .body())
            return
        with self.cluster.lock:
            self.cluster.requests.append(Request(self.node_name, method, self.path, body))
        try:
            self._authenticate()
            status, answer = self._route(method, parts.path, params, body)
        except ApiError as error:
            headers = {"Content-Type": "application/json"}
            if error.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="security", charset="UTF-8"'
            send_json(self, error.status, error.body(), headers)
            return
        send_json(self, status, answer)

    def _authenticate(self) -> None:
        expected = "Basic " + base64.b64encode(
            f"elastic:{self.cluster.password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            raise ApiError(401, "security_exception",
                           "missing authentication credentials for REST request")

    def _route(self, method: str, path: str, params: dict[str, str],
               body: Any) -> tuple[int, Any]:
        routes = {"/_cluster/health": {"GET": self._health},
                  "/_cluster/settings": {"GET": self._get_settings, "PUT": self._put_settings},
                  "/_cat/nodes": {"GET": self._cat_nodes},
                  "/_flush": {"POST": self._flush, "GET": self._flush},
                  "/": {"GET": self._root, "HEAD": self._root}}
        handlers = routes.get(path.rstrip("/") or "/")
        if handlers is None:
            raise ApiError(400, "invalid_index_name_exception", f"no handler for [{path}]")
        if method not in handlers:
            raise ApiError(405, "illegal_argument_exception",
                           f"Incorrect HTTP method for uri [{path}] and method [{method}], "
                           f"allowed: {sorted(handlers)}")
        return handlers[method](params, body)

    @staticmethod
    def _only(params: dict[str, str], allowed: set[str], path: str) -> None:
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ApiError(400, "illegal_argument_exception",
                           f"request [{path}] contains unrecognized parameter: [{unknown[0]}]")

    def _has_master(self) -> bool:
        return len(self.cluster.members()) * 2 > len(self.cluster.nodes)

    def _health(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._only(params, HEALTH_PARAMS, "/_cluster/health")
        for name in ("timeout", "master_timeout"):
            if name in params:
                check_time_value(name, params[name])
        wanted = params.get("wait_for_status")
        if wanted is not None and wanted not in STATUS_ORDER:
            raise ApiError(400, "illegal_argument_exception",
                           f"unknown cluster health status [{wanted}]")
        if not self._has_master():
            raise ApiError(503, "master_not_discovered_exception", "no master")
        health = self.cluster.health()
        met = wanted is None or STATUS_ORDER[health["status"]] >= STATUS_ORDER[wanted]
        if "wait_for_nodes" in params:
            match = WAIT_FOR_NODES.match(params["wait_for_nodes"])
            if not match:
                raise ApiError(400, "illegal_argument_exception",
                               f"cannot parse wait_for_nodes [{params['wait_for_nodes']}]")
            op, count = (match[1] or "").rstrip("("), int(match[2])
            have = health["number_of_nodes"]
            met = met and {"": have == count, ">=": have >= count, "ge": have >= count,
                           "<=": have <= count, "le": have <= count, ">": have > count,
                           "gt": have > count, "<": have < count, "lt": have < count}[op]
        if not met:
            return 408, {**health, "timed_out": True}
        return 200, health

    def _get_settings(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._only(params, {"flat_settings", "include_defaults", "master_timeout", "pretty"},
                   "/_cluster/settings")
        return 200, {"persistent": dict(self.cluster.persistent), "transient": {}}

    def _put_settings(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._only(params, {"flat_settings", "master_timeout", "timeout", "pretty"},
                   "/_cluster/settings")
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "action_request_validation_exception",
                           "Validation Failed: 1: no settings to update;")
        for key in body:
            if key not in {"persistent", "transient"}:
                raise ApiError(400, "x_content_parse_exception",
                               f"[cluster_update_settings_request] unknown field [{key}]")
        if not self._has_master():
            raise ApiError(503, "master_not_discovered_exception", "no master")
        changes = flatten(body.get("persistent", {}))
        for name, value in changes.items():
            if name not in KNOWN_SETTINGS:
                raise ApiError(400, "illegal_argument_exception",
                               f"persistent setting [{name}], not recognized")
            if name == ALLOCATION_ENABLE and value is not None and (
                    not isinstance(value, str) or value.lower() not in ALLOCATION_VALUES):
                raise ApiError(400, "illegal_argument_exception",
                               f"Illegal allocation.enable value [{value}]")
        for name, value in changes.items():
            if value is None:
                self.cluster.persistent.pop(name, None)
            else:
                self.cluster.persistent[name] = str(value).lower()
        return 200, {"acknowledged": True, "persistent": changes, "transient": {}}

    def _cat_nodes(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._only(params, CAT_NODES_PARAMS, "/_cat/nodes")
        if params.get("format") != "json":
            raise ApiError(400, "illegal_argument_exception", "the stand-in serves format=json")
        columns = params.get("h", "ip,heap.percent,name").split(",")
        rows = [{"name": n.name, "version": n.version, "ip": n.address, "node.role": "dim",
                 "master": "-", "heap.percent": "40"} for n in self.cluster.members()]
        return 200, [{c: row[c] for c in columns if c in CAT_NODES_COLUMNS} for row in rows]

    def _flush(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._only(params, {"force", "wait_if_ongoing", "ignore_unavailable",
                            "allow_no_indices", "expand_wildcards", "pretty"}, "/_flush")
        return 200, {"_shards": {"total": 20, "successful": 20, "failed": 0}}

    def _root(self, params: dict[str, str], body: Any) -> tuple[int, Any]:
        node = self.cluster.nodes[self.node_name]
        return 200, {"name": node.name, "cluster_name": "flask-logs",
                     "cluster_uuid": "fake-cluster-uuid", "version": {"number": node.version}}


def control_handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    """What a host's `systemctl` reaches: POST /restart/<node>, GET /state/<node>."""

    class Control(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            node = cluster.nodes[self.path.rsplit("/", 1)[-1]]
            send_json(self, 200, {"active": node.running})

        def do_POST(self) -> None:
            cluster.restart(self.path.rsplit("/", 1)[-1])
            send_json(self, 200, {"restarted": True})

    return Control
