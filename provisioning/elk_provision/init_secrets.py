"""First-start material: random secrets, a CA, and one certificate per service.

Never overwrites: an existing secret or certificate is kept, so re-running after a restart
(or on a cluster that already trusts this CA) changes nothing. Keys are PKCS#8 PEM, which
Elasticsearch, Kibana and Logstash's Netty-based inputs all read.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from elk_provision.errors import ProvisioningError

PASSWORDS = ("elastic_password", "kibana_system_password", "logstash_writer_password",
             "logs_reader_password")
# Kibana wants at least 32 characters for each encryption key.
KIBANA_KEYS = ("kibana_encryption_key", "kibana_reporting_key", "kibana_security_key")
DEFAULT_SERVICES = ("elasticsearch", "logstash", "kibana", "app")
# Owner-read only: Elasticsearch's image (bin/elasticsearch-env-from-file) refuses a *_FILE
# secret whose mode is not 400 or 600, and every reader (ES, Logstash, Kibana, provisioning)
# runs as the one uid init is given as owner.
SECRET_MODE = 0o400
CA_DAYS = 3650
CERT_DAYS = 825  # within what browsers and most clients accept for leaf certificates


@dataclass(frozen=True)
class Node:
    name: str
    dns_names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Node:
        """`es02` or `es02,es02.example.com,10.0.0.12`."""
        name, *extra = [part.strip() for part in spec.split(",") if part.strip()]
        return cls(name, tuple(extra))


def _write_new(path: Path, data: bytes, mode: int, created: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: if another init raced us, its file wins and ours is not written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
    created.append(str(path))


def ensure_secrets(directory: Path) -> list[str]:
    created: list[str] = []
    for name in PASSWORDS:
        if not (directory / name).exists():
            _write_new(directory / name, secrets.token_urlsafe(24).encode(), SECRET_MODE,
                       created)
    for name in KIBANA_KEYS:
        if not (directory / name).exists():
            _write_new(directory / name, secrets.token_hex(32).encode(), SECRET_MODE, created)
    return created


def secure_secrets(directory: Path, owner: tuple[int, int] | None) -> None:
    """Give every secret, new or kept from an earlier run, SECRET_MODE and its reader as owner.

    Earlier releases wrote 0440 files owned by root; values are never touched. An empty file
    would start the services with an empty secret: refuse it by name instead.
    """
    for name in (*PASSWORDS, *KIBANA_KEYS):
        path = directory / name
        # init runs as root: never follow a link planted in the volume to chown something else.
        if not stat.S_ISREG(path.lstat().st_mode):
            raise ProvisioningError(f"secret {path} is not a regular file: replace it with one")
        if path.stat().st_size == 0:
            raise ProvisioningError(f"secret {path} is empty: delete it and run init again "
                                    "to generate a new one")
        if owner is not None:
            os.chown(path, *owner)
        os.chmod(path, SECRET_MODE)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_ca(directory: Path, created: list[str]) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert_path, key_path = directory / "ca" / "ca.crt", directory / "ca" / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key  # type: ignore[return-value]
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Flask ELK bundle CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The CA key is only for this job: no group or other access.
    _write_new(key_path, _pem_key(key), 0o400, created)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o444, created)
    return cert, key


def _alt_names(node: Node) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for value in (node.name, *node.dns_names, "localhost", "127.0.0.1"):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(value))
    unique: list[x509.GeneralName] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


def ensure_certificate(directory: Path, node: Node, ca_cert: x509.Certificate,
                       ca_key: rsa.RSAPrivateKey, created: list[str]) -> None:
    cert_path = directory / node.name / f"{node.name}.crt"
    key_path = directory / node.name / f"{node.name}.key"
    if cert_path.exists() and key_path.exists():
        return
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node.name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alt_names(node)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Both: nodes are servers to their clients and clients of each other (transport TLS).
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path.unlink(missing_ok=True)  # a lone key without its certificate is useless
    cert_path.unlink(missing_ok=True)
    _write_new(key_path, _pem_key(key), 0o440, created)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o444, created)


def ensure_certificates(directory: Path, nodes: Iterable[Node]) -> list[str]:
    created: list[str] = []
    ca_cert, ca_key = ensure_ca(directory, created)
    for node in nodes:
        ensure_certificate(directory, node, ca_cert, ca_key, created)
    return created


def run_init(secrets_dir: Path, certs_dir: Path, extra_nodes: Sequence[str] = (),
             owner: tuple[int, int] | None = None) -> list[str]:
    """Create what is missing; chown it to `owner` (uid, gid) for the containers to read."""
    nodes = [Node(name) for name in DEFAULT_SERVICES] + [Node.parse(s) for s in extra_nodes]
    created = ensure_secrets(secrets_dir)
    secure_secrets(secrets_dir, owner)
    certificates = ensure_certificates(certs_dir, nodes)
    if owner is not None:
        for path in certificates:
            if not path.endswith("ca.key"):
                os.chown(path, *owner)
    return created + certificates
