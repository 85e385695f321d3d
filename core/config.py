"""Configuration: defaults, then `instance/config.py`, then `GMP_*` environment
variables, then explicit overrides (tests, `create_app(config=...)`).

Every value is validated at start; a bad value raises ConfigError naming the
setting, where it came from and what was expected.
"""
from __future__ import annotations

import dataclasses
import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import GmpError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(GmpError):
    """A configuration value is missing or invalid."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected a boolean (1/0, true/false, yes/no, on/off)")


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("expected a positive integer")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("expected an integer >= 0")
    return number


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("expected an IANA time zone such as 'Asia/Shanghai' or 'Europe/Berlin'") from exc
    return str(value)


def _database_url(value: Any) -> str:
    text = str(value)
    if not (text.startswith("sqlite:///") or text.startswith("postgresql")):
        raise ValueError("expected 'sqlite:///PATH' or 'postgresql+psycopg://USER@HOST:PORT/DB'")
    if text.startswith("postgresql://"):
        text = "postgresql+psycopg://" + text[len("postgresql://"):]
    return text


def _secret_key(value: Any) -> str:
    text = str(value)
    if len(text) < 32:
        raise ValueError("expected at least 32 characters")
    return text


def _language(value: Any) -> str:
    text = str(value)
    if text not in ("en", "zh"):
        raise ValueError("expected 'en' or 'zh'")
    return text


def _text(value: Any) -> str:
    return str(value)


def _opt_text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _setting(default: Any, parse: Callable[[Any], Any], doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    instance_path: str = _setting(str(PROJECT_ROOT / "instance"), _text, "folder for the database, keys and checkpoint log")
    database_url: str = _setting("", _database_url, "SQLAlchemy URL; default: SQLite file instance/gmp.sqlite3")
    secret_key: str = _setting("", _secret_key, "session signing key (>= 32 chars); default: generated once into instance/secret_key")
    site_timezone: str = _setting("UTC", _timezone, "site time zone shown beside UTC on records and printouts")
    session_cookie_secure: bool = _setting(False, _bool, "send the session cookie over HTTPS only")
    session_timeout_minutes: int = _setting(15, _positive_int, "inactivity after which a session (and a continuous signing session) ends")
    lockout_threshold: int = _setting(5, _positive_int, "failed attempts before an account locks")
    password_min_length: int = _setting(12, _positive_int, "minimum password length")
    password_history: int = _setting(5, _non_negative_int, "previous passwords that may not be reused")
    password_max_age_days: int = _setting(90, _positive_int, "password ageing: days before a password must be changed")
    enrolment_ttl_hours: int = _setting(72, _positive_int, "validity of a one-time enrolment secret")
    server_key_passphrase: str = _setting("", _text, "passphrase protecting the server's signing key file; "
                                                     "default: instance/server_key_passphrase")
    checkpoint_interval_entries: int = _setting(1000, _non_negative_int, "write a signed audit checkpoint every N entries (0 disables)")
    retention_years: int = _setting(10, _positive_int, "retention period of GMP records")
    default_language: str = _setting("en", _language, "interface language for users who have not chosen one")
    demo: bool = _setting(False, _bool, "seed demo users and data at start")
    smtp_host: str | None = _setting(None, _opt_text, "SMTP server for e-mail notifications (unset: in-app only)")
    smtp_port: int = _setting(25, _positive_int, "SMTP port")
    smtp_user: str | None = _setting(None, _opt_text, "SMTP user")
    smtp_password: str | None = _setting(None, _opt_text, "SMTP password")
    smtp_from: str = _setting("gmp@localhost", _text, "sender address of notifications")
    notify_overdue_hours: int = _setting(24, _positive_int, "hours a ready task may wait before its lane is notified that it is overdue")
    modbus_host: str = _setting("127.0.0.1", _text, "address of the plant simulator's Modbus TCP server")
    modbus_port: int = _setting(5020, _positive_int, "port of the plant simulator's Modbus TCP server")
    opcua_port: int = _setting(4840, _positive_int, "port of the plant simulator's OPC UA server")
    simulator_control_port: int = _setting(5030, _positive_int, "port of the plant simulator's control channel "
                                           "(127.0.0.1; `gmp plant set`)")
    connector_timeout_seconds: int = _setting(3, _positive_int, "timeout of one equipment read or write")
    opcua_username: str | None = _setting(None, _opt_text, "OPC UA user name (unset: anonymous session)")
    opcua_password: str | None = _setting(None, _opt_text, "OPC UA password of opcua_username")
    opcua_security: str | None = _setting(None, _opt_text, "OPC UA security string, e.g. "
                                          "Basic256Sha256,SignAndEncrypt,CERT,KEY[,SERVER_CERT] (see docs/connectors.md)")
    script_timeout_seconds: int = _setting(2, _positive_int, "wall-time limit of one BPMN expression or script")
    script_memory_mb: int = _setting(256, _positive_int, "memory one BPMN expression or script may allocate "
                                     "(address-space limit of its worker process)")
    script_workers: int = _setting(2, _positive_int, "worker processes per server process that run BPMN "
                                   "expressions and scripts")
    script_max_source_chars: int = _setting(20000, _positive_int, "longest BPMN/DMN script or expression "
                                            "accepted at upload (characters)")
    web_host: str = _setting("127.0.0.1", _text, "address the web server binds")
    web_port: int = _setting(5000, _positive_int, "port the web server binds")
    web_workers: int = _setting(2, _positive_int, "web server worker processes (`gmp serve`; about one per CPU core)")
    web_threads: int = _setting(4, _positive_int, "request threads in each web server worker process")
    web_forwarded_allow_ips: str = _setting("127.0.0.1", _text, "addresses of the reverse proxies whose "
                                            "X-Forwarded-* headers are trusted (comma-separated, `*` for any)")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def documentation(cls) -> list[tuple[str, str, Any]]:
        return [("GMP_" + f.name.upper(), f.metadata["doc"], f.default) for f in dataclasses.fields(cls)]

    @property
    def instance(self) -> Path:
        return Path(self.instance_path)

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site_timezone)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    instance_path: str | None = None,
) -> Settings:
    """Build validated Settings from defaults, instance file, environment, overrides."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    raw: dict[str, tuple[Any, str]] = {}

    inst = (overrides or {}).get("instance_path") or instance_path or environ.get("GMP_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    raw["instance_path"] = (inst, "default")

    config_file = Path(inst) / "config.py"
    if config_file.is_file():
        try:
            namespace = runpy.run_path(str(config_file))
        except Exception as exc:  # a broken config file must stop the start with its reason
            raise ConfigError(f"{config_file}: cannot be read: {exc}") from exc
        for key, value in namespace.items():
            if key.isupper():
                name = key.lower()
                if name not in fields:
                    raise ConfigError(f"{config_file}: unknown setting {key}")
                raw[name] = (value, str(config_file))

    for key, value in environ.items():
        if key.startswith("GMP_") and key[4:].lower() in fields:
            raw[key[4:].lower()] = (value, f"environment variable {key}")

    for key, value in (overrides or {}).items():
        name = key.lower()
        if name not in fields:
            raise ConfigError(f"unknown setting {key!r} in overrides")
        raw[name] = (value, "explicit configuration")

    values: dict[str, Any] = {}
    for name, (value, source) in raw.items():
        parse = fields[name].metadata["parse"]
        try:
            values[name] = parse(value)
        except (ValueError, TypeError) as exc:
            env_name = "GMP_" + name.upper()
            raise ConfigError(f"invalid value {value!r} for {env_name} (from {source}): {exc}") from exc

    instance = Path(values["instance_path"])
    if not values.get("database_url"):
        values["database_url"] = f"sqlite:///{instance / 'gmp.sqlite3'}"
    if not values.get("secret_key"):
        values["secret_key"] = _instance_secret(instance, "secret_key")
    if not values.get("server_key_passphrase"):
        values["server_key_passphrase"] = _instance_secret(instance, "server_key_passphrase")
    return Settings(**values)


def _instance_secret(instance: Path, name: str) -> str:
    """A random secret kept in the instance folder (mode 0600), created on first use."""
    import secrets

    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
