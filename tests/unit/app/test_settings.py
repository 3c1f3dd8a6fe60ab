"""Environment variables are validated at start-up, and a bad one is named."""

import ipaddress
import logging
from pathlib import Path

import pytest

from flask_logstash.settings import ConfigError, LoggingSettings


def test_defaults_need_no_environment():
    settings = LoggingSettings.from_env({})
    assert (settings.logstash_host, settings.logstash_port) == ("localhost", 5000)
    assert settings.level == logging.INFO
    assert settings.buffer_dir is None


def test_values_are_read(tmp_path):
    settings = LoggingSettings.from_env({
        "LOGSTASH_HOST": "logstash", "LOGSTASH_PORT": "5044", "LOG_LEVEL": "warning",
        "SERVICE_NAME": "orders", "SERVICE_ENVIRONMENT": "prod", "LOG_JSON_STDOUT": "yes",
        "LOG_BUFFER_DIR": str(tmp_path / "buf"), "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
        "LOG_REDACT_EXTRA_KEYS": "iban,national_id",
    })
    assert settings.logstash_port == 5044
    assert settings.level == logging.WARNING
    assert settings.json_stdout
    assert (tmp_path / "buf").is_dir()
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.1/32"))
    assert settings.redact_extra_keys == ("iban", "national_id")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGSTASH_PORT", "http"), ("LOGSTASH_PORT", "70000"), ("LOG_LEVEL", "LOUD"),
        ("LOGSTASH_TLS_ENABLED", "maybe"), ("LOG_JSON_STDOUT", "2"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"), ("SERVICE_NAME", "  "),
        ("LOG_BUFFER_MAX_MB", "0"), ("LOG_BUFFER_MAX_MB", "1.5"),
    ],
)
def test_bad_value_is_rejected_with_the_variable_named(name, value):
    with pytest.raises(ConfigError, match=name):
        LoggingSettings.from_env({name: value})


def test_tls_files_must_exist_when_tls_is_on(tmp_path):
    with pytest.raises(ConfigError, match="LOGSTASH_TLS_CA_FILE"):
        LoggingSettings.from_env({"LOGSTASH_TLS_ENABLED": "true",
                                  "LOGSTASH_TLS_CA_FILE": str(tmp_path / "missing.crt")})


def test_client_cert_needs_its_key(tmp_path):
    cert = tmp_path / "c.crt"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="LOGSTASH_TLS_KEY_FILE"):
        LoggingSettings.from_env({"LOGSTASH_TLS_ENABLED": "true",
                                  "LOGSTASH_TLS_CERT_FILE": str(cert)})


def test_unwritable_buffer_dir_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="LOG_BUFFER_DIR"):
        LoggingSettings.from_env({"LOG_BUFFER_DIR": str(blocker / "sub")})


def test_service_refuses_to_start_on_bad_config():
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "app"), LOGSTASH_PORT="nope")
    out = subprocess.run([sys.executable, "-c", "import sample_service.wsgi"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 3
    assert "LOGSTASH_PORT" in out.stderr
    assert "Traceback" not in out.stderr


def test_digits_of_other_scripts_are_not_a_port():
    with pytest.raises(ConfigError, match="LOGSTASH_PORT"):
        LoggingSettings.from_env({"LOGSTASH_PORT": "\u0665\u0660\u0660\u0660"})


def test_a_new_buffer_dir_is_private(tmp_path):
    settings = LoggingSettings.from_env({"LOG_BUFFER_DIR": str(tmp_path / "buffer")})
    assert (Path(settings.buffer_dir).stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize(
    ("name", "value"),
    [("GUNICORN_WORKERS", "two"), ("GUNICORN_THREADS", "0"), ("GUNICORN_TIMEOUT", "-1"),
     ("GUNICORN_GRACEFUL_TIMEOUT", "1.5"), ("PORT", "\u0668\u0660\u0660\u0660"), ("PORT", "70000")],
)
def test_bad_gunicorn_variables_stop_start_up_with_one_line(name, value):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "app"), **{name: value})
    out = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--check-config",
         "sample_service.wsgi:app"],
        cwd=REPO_ROOT / "app", env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert name in lines[0]
