"""First-start secrets and certificates: strong, complete, verifiable, never overwritten."""

import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID

from elk_provision import cli
from elk_provision.errors import ProvisioningError
from elk_provision.init_secrets import KIBANA_KEYS, PASSWORDS, run_init

SECRETS = (*PASSWORDS, *KIBANA_KEYS)
# Elasticsearch's image (bin/elasticsearch-env-from-file) refuses a *_FILE secret whose mode
# is not 400 or 600; the other readers have no rule, so all secrets follow the strictest.
ENV_FROM_FILE_MODES = (0o400, 0o600)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    created = run_init(root / "secrets", root / "certs", ["es02,es02.internal,10.0.0.12"])
    return root, created


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_every_secret_is_created_strong_and_private(material):
    root, _ = material
    values = []
    for name in (*PASSWORDS, *KIBANA_KEYS):
        path = root / "secrets" / name
        value = path.read_text()
        assert len(value) >= 32
        assert stat.S_IMODE(path.stat().st_mode) in ENV_FROM_FILE_MODES, name
        values.append(value)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("node", ["elasticsearch", "logstash", "kibana", "app", "es02"])
def test_each_certificate_is_signed_by_the_ca_with_the_right_names(material, node):
    root, _ = material
    ca = load(root / "certs/ca/ca.crt")
    cert = load(root / f"certs/{node}/{node}.crt")
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                           cert.signature_hash_algorithm)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(sans.get_values_for_type(x509.DNSName))
    assert {node, "localhost"} <= dns
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(eku)
    key_text = (root / f"certs/{node}/{node}.key").read_text()
    assert key_text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8


def test_extra_node_carries_its_extra_names(material):
    root, _ = material
    sans = load(root / "certs/es02/es02.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "es02.internal" in sans.get_values_for_type(x509.DNSName)
    assert "10.0.0.12" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def test_ca_key_is_owner_only(material):
    root, _ = material
    assert stat.S_IMODE((root / "certs/ca/ca.key").stat().st_mode) == 0o400


def test_second_run_changes_nothing(tmp_path):
    first = run_init(tmp_path / "s", tmp_path / "c")
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert first
    assert run_init(tmp_path / "s", tmp_path / "c") == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_a_missing_certificate_is_reissued_by_the_same_ca(tmp_path):
    run_init(tmp_path / "s", tmp_path / "c")
    ca_before = (tmp_path / "c/ca/ca.crt").read_bytes()
    (tmp_path / "c/kibana/kibana.crt").unlink()
    created = run_init(tmp_path / "s", tmp_path / "c")
    assert sorted(created) == sorted(str(tmp_path / f"c/kibana/kibana.{e}") for e in ("crt", "key"))
    assert (tmp_path / "c/ca/ca.crt").read_bytes() == ca_before


def test_cli_init_reports_and_rejects_a_bad_owner(tmp_path, capsys):
    args = ["init", "--secrets-dir", str(tmp_path / "s"), "--certs-dir", str(tmp_path / "c")]
    assert cli.main(args) == 0
    assert "files created" in capsys.readouterr().out
    assert cli.main([*args, "--owner", "app"]) == 1
    assert "UID:GID" in capsys.readouterr().err


@needs_root
def test_secrets_belong_to_the_uid_that_reads_them(tmp_path):
    """Only the owner may read a 0400 file: it must be the containers' uid, not init's."""
    run_init(tmp_path / "s", tmp_path / "c", owner=(1000, 0))
    for name in SECRETS:
        info = (tmp_path / "s" / name).stat()
        assert (info.st_uid, info.st_gid) == (1000, 0), name
        assert stat.S_IMODE(info.st_mode) in ENV_FROM_FILE_MODES, name


@needs_root
def test_existing_secrets_get_the_mode_and_owner_but_keep_their_value(tmp_path):
    """A volume from an earlier release holds 0440 files owned by root: ES would refuse them."""
    secrets_dir = tmp_path / "s"
    secrets_dir.mkdir()
    for name in SECRETS:
        (secrets_dir / name).write_text(f"kept-{name}-" + "x" * 32)
        (secrets_dir / name).chmod(0o440)
    created = run_init(secrets_dir, tmp_path / "c", owner=(1000, 0))
    assert not any(path.startswith(str(secrets_dir)) for path in created)
    for name in SECRETS:
        path = secrets_dir / name
        assert path.read_text() == f"kept-{name}-" + "x" * 32
        assert stat.S_IMODE(path.stat().st_mode) in ENV_FROM_FILE_MODES, name
        assert (path.stat().st_uid, path.stat().st_gid) == (1000, 0), name


def test_an_existing_empty_secret_is_refused_by_name(tmp_path):
    secrets_dir = tmp_path / "s"
    secrets_dir.mkdir()
    (secrets_dir / "kibana_system_password").write_text("")
    with pytest.raises(ProvisioningError, match="kibana_system_password"):
        run_init(secrets_dir, tmp_path / "c")
    assert (secrets_dir / "kibana_system_password").read_text() == ""


def test_a_secret_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    """init runs as root: a link planted in the volume must not lend it another file."""
    secrets_dir, target = tmp_path / "s", tmp_path / "elsewhere"
    secrets_dir.mkdir()
    target.write_text("not a secret")
    target.chmod(0o644)
    (secrets_dir / "elastic_password").symlink_to(target)
    with pytest.raises(ProvisioningError, match=r"elastic_password.*not a regular file"):
        run_init(secrets_dir, tmp_path / "c", owner=(os.geteuid(), os.getegid()))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
