"""Logging settings read from environment variables, validated once at start-up.

A wrong value must stop the service before it serves traffic, with a message that names
the variable, rather than run with logs silently going nowhere.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flask_logstash.delivery.limits import DISK_BUFFER_MAX_BYTES

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """An environment variable has a value the service cannot run with."""


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class LoggingSettings:
    """Everything the logging integration needs; build it with `from_env` or directly."""

    service_name: str = "flask-sample"
    service_version: str = "0.0.0"
    service_environment: str = "development"
    level: int = logging.INFO
    logstash_enabled: bool = True
    logstash_host: str = "localhost"
    logstash_port: int = 5000
    tls_enabled: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    buffer_dir: str | None = None
    # Cap of one process's durable buffer; the oldest events are evicted (and counted) past it.
    buffer_max_mb: int = DISK_BUFFER_MAX_BYTES // (1024 * 1024)
    json_stdout: bool = False
    trusted_proxies: tuple[IpNetwork, ...] = ()
    redact_extra_keys: tuple[str, ...] = ()
    host_name: str = field(default_factory=socket.gethostname)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LoggingSettings:
        env = os.environ if environ is None else environ
        tls_enabled = _bool(env, "LOGSTASH_TLS_ENABLED", False)
        settings = cls(
            service_name=_text(env, "SERVICE_NAME", cls.service_name),
            service_version=_text(env, "SERVICE_VERSION", cls.service_version),
            service_environment=_text(env, "SERVICE_ENVIRONMENT", cls.service_environment),
            level=_level(env, "LOG_LEVEL"),
            logstash_enabled=_bool(env, "LOGSTASH_ENABLED", True),
            logstash_host=_text(env, "LOGSTASH_HOST", cls.logstash_host),
            logstash_port=_port(env, "LOGSTASH_PORT", cls.logstash_port),
            tls_enabled=tls_enabled,
            tls_verify=_bool(env, "LOGSTASH_TLS_VERIFY", True),
            tls_ca_file=_readable_file(env, "LOGSTASH_TLS_CA_FILE", tls_enabled),
            tls_cert_file=_readable_file(env, "LOGSTASH_TLS_CERT_FILE", tls_enabled),
            tls_key_file=_readable_file(env, "LOGSTASH_TLS_KEY_FILE", tls_enabled),
            buffer_dir=_writable_dir(env, "LOG_BUFFER_DIR"),
            buffer_max_mb=_positive(env, "LOG_BUFFER_MAX_MB", cls.buffer_max_mb),
            json_stdout=_bool(env, "LOG_JSON_STDOUT", False),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            redact_extra_keys=_words(env, "LOG_REDACT_EXTRA_KEYS"),
        )
        if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
            raise ConfigError(
                "LOGSTASH_TLS_CERT_FILE and LOGSTASH_TLS_KEY_FILE must be set together "
                "(a client certificate needs its key)"
            )
        return settings


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return None if value is None else value.strip()


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = _raw(env, name)
    if value is None:
        return default
    if not value:
        raise ConfigError(f"{name} is set but empty; unset it to use the default {default!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")


def _level(env: Mapping[str, str], name: str) -> int:
    value = (_raw(env, name) or "INFO").upper()
    if value not in _LEVELS:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(_LEVELS)}")
    return logging.getLevelName(value)


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    # isascii: str.isdigit also accepts digits of other scripts (Arabic-Indic 5000),
    # which int() then reads.
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise ConfigError(f"{name}={value!r} is not a TCP port (1-65535)")
    return int(value)


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ConfigError(f"{name}={value!r} is not a whole number of at least 1")
    return int(value)


def _readable_file(env: Mapping[str, str], name: str, needed: bool) -> str | None:
    value = _raw(env, name)
    if not value:
        return None
    if needed and not os.access(value, os.R_OK):
        raise ConfigError(f"{name}={value!r}: file does not exist or is not readable")
    return value


def _writable_dir(env: Mapping[str, str], name: str) -> str | None:
    value = _raw(env, name)
    if not value:
        return None
    path = Path(value)
    try:
        # 0700: buffered events are the app's logs, readable by its user only.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{name}={value!r}: cannot create directory ({exc.strerror})") from exc
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{name}={value!r}: directory is not writable by this user")
    return str(path)


def _networks(env: Mapping[str, str], name: str) -> tuple[IpNetwork, ...]:
    networks = []
    for item in _words(env, name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(f"{name}: {item!r} is not an IP address or CIDR network") from exc
    return tuple(networks)


def _words(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    value = _raw(env, name) or ""
    return tuple(item.strip() for item in value.split(",") if item.strip())
