"""The certificates role run for real (connection local): expiry warnings, renewal on request,
and the three phases of a CA rotation as Elastic documents it (trust both CAs, issue from the
new one, drop the old one)."""

from __future__ import annotations

import json
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding

from tests.unit.ansible.test_ansible_static import REPO_ROOT, ansible
from tests.unit.ansible.test_restart_handler import SECRET_NAMES

# Several real ansible-playbook runs each: slow, and slower still on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
RECAP = re.compile(r"ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0")


@dataclass
class Host:
    work: Path
    secrets: dict[str, str]

    @property
    def pki(self) -> Path:
        return self.work / "pki"

    @property
    def tls(self) -> Path:
        return self.work / "host"

    def play(self, **extra: object) -> tuple[int, str]:
        values = {**self.secrets, "elk_repo_root": str(REPO_ROOT),
                  "elk_pki_dir": str(self.pki), **extra}
        (self.work / "vars.json").write_text(json.dumps(values))
        done = ansible("ansible-playbook", "-i", str(self.work / "hosts.yml"),
                       str(self.work / "certs.yml"), "-e", f"@{self.work / 'vars.json'}")
        output = done.stdout + done.stderr
        for value in self.secrets.values():
            assert value not in output
        return done.returncode, output

    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.tls / "host.crt").read_bytes())

    def trusted(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates((self.tls / "ca.crt").read_bytes())


def changed(output: str) -> int:
    (count,) = RECAP.findall(output)
    return int(count)


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                               cert.signature_hash_algorithm)
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def host(tmp_path) -> Host:
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"node-1.elk.test": {
        "elk_address": "127.0.0.1", "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable}}}}))
    tls = tmp_path / "host"
    (tmp_path / "certs.yml").write_text(yaml.safe_dump([{
        "name": "Issue this host's certificate", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Run the certificates role",
                   "ansible.builtin.include_role": {"name": "certificates"},
                   "vars": {"certificates_ca_path": f"{tls}/ca.crt",
                            "certificates_cert_path": f"{tls}/host.crt",
                            "certificates_key_path": f"{tls}/host.key"}}],
    }], sort_keys=False))
    return Host(tmp_path, {name: secrets.token_urlsafe(36) for name in SECRET_NAMES})


def test_expiry_is_checked_every_run_and_renewal_is_on_request(host):
    code, output = host.play(certificates_valid_for="+10d")
    assert code == 0, output[-4000:]
    short_lived = host.cert()
    assert (host.tls / "ca.crt").read_bytes() == (host.pki / "ca.crt").read_bytes()
    assert "host.crt on node-1.elk.test expires on" in output
    assert "certificates_renew=true" in output
    # Without the request nothing is reissued, and the warning repeats.
    code, output = host.play(certificates_valid_for="+10d")
    assert code == 0
    assert changed(output) == 0
    assert host.cert().serial_number == short_lived.serial_number
    assert "expires on" in output
    code, output = host.play(certificates_renew=True)
    assert code == 0, output[-4000:]
    renewed = host.cert()
    assert renewed.serial_number != short_lived.serial_number
    assert "expires on" not in output


def test_ca_rotation_trusts_both_then_issues_then_drops_the_old_ca(host):
    assert host.play()[0] == 0
    old_ca = x509.load_pem_x509_certificate((host.pki / "ca.crt").read_bytes())
    first = host.cert()

    # 1. Every host trusts both CAs; nothing is signed by the next one yet.
    code, output = host.play(elk_ca_rotation="trust")
    assert code == 0, output[-4000:]
    next_ca = x509.load_pem_x509_certificate((host.pki / "next/ca.crt").read_bytes())
    assert next_ca.public_key() != old_ca.public_key()
    # Byte for byte: the PEM files one after the other, as every TLS library reads them.
    assert (host.tls / "ca.crt").read_bytes() == (
        old_ca.public_bytes(Encoding.PEM) + next_ca.public_bytes(Encoding.PEM))
    assert host.cert().serial_number == first.serial_number

    # 2. Host certificates come from the next CA, still trusted alongside the old one.
    code, output = host.play(elk_ca_rotation="issue")
    assert code == 0, output[-4000:]
    issued = host.cert()
    assert signed_by(issued, next_ca)
    assert not signed_by(issued, old_ca)
    assert len(host.trusted()) == 2
    assert host.play(elk_ca_rotation="issue")[0] == 0
    assert host.cert().serial_number == issued.serial_number

    # 3. The next CA becomes the only one; the old one is kept aside, not deleted.
    code, output = host.play(elk_ca_rotation="finish")
    assert code == 0, output[-4000:]
    assert (host.tls / "ca.crt").read_bytes() == next_ca.public_bytes(Encoding.PEM)
    assert (host.pki / "ca.crt").read_bytes() == next_ca.public_bytes(Encoding.PEM)
    assert not (host.pki / "next").exists()
    assert (host.pki / "retired/ca.crt").exists()
    assert host.cert().serial_number == issued.serial_number

    # Later runs change nothing.
    code, output = host.play()
    assert code == 0
    assert changed(output) == 0


def test_an_unknown_rotation_phase_is_refused(host):
    code, output = host.play(elk_ca_rotation="rotate")
    assert code != 0
    # Refused by the elk role's argument spec (choices) before any task runs.
    assert "elk_ca_rotation" in output
    assert "rotate" in output
    assert not (host.pki / "ca.crt").exists()
