"""Load the TOML configuration once into frozen, typed dataclasses.

Every error names the file, the key and the problem; unknown keys are rejected with a
did-you-mean hint. Secrets are read lazily (a ``password_command`` or
``oauth2_token_command`` runs on every connect) and never show in a ``repr``.
"""
from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
import shlex
import signal
import stat
import subprocess
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from .errors import ConfigError, SecretError

log = logging.getLogger(__name__)

SECRET_COMMAND_TIMEOUT = 30.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def default_config_paths() -> list[Path]:
    """The SPEC's lookup order after ``--config`` and ``$CLIENTWATCH_CONFIG``."""
    return [Path("~/.config/clientwatch/config.toml").expanduser(), Path("/etc/clientwatch/config.toml")]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Secret:
    """Where a secret comes from; ``get()`` reads it, ``repr`` never shows it."""

    kind: str  # "inline" | "file" | "env" | "command"
    value: str = field(repr=False)
    key: str = ""  # the config key, for error messages

    def __repr__(self) -> str:
        shown = self.value if self.kind in ("file", "env") else "***"
        return f"Secret({self.kind}={shown!r})"

    def get(self) -> str:
        """Read the secret now; raise ``SecretError`` naming the source when it fails."""
        if self.kind == "inline":
            return self.value
        if self.kind == "file":
            try:
                return Path(self.value).read_text(encoding="utf-8").strip("\r\n")
            except OSError as e:
                raise SecretError(f"{self.key}: cannot read {self.value}: {e.strerror}") from e
        if self.kind == "env":
            got = os.environ.get(self.value)
            if got is None:
                raise SecretError(f"{self.key}: environment variable {self.value} is not set")
            return got
        return run_secret_command(self.value, self.key)


def run_secret_command(command: str, key: str) -> str:
    """Run ``command`` without a shell, with a timeout; its first output line is the secret.

    It runs in a session of its own, so a timeout kills everything it started (a wrapper
    script's gpg or keyring helper), not only the wrapper, and nothing is left behind.
    """
    try:
        argv = shlex.split(command)
    except ValueError as e:  # "No closing quotation"
        raise SecretError(f"{key}: cannot parse the command: {e}") from e
    if not argv:
        raise SecretError(f"{key}: the command is empty")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError as e:
        raise SecretError(f"{key}: command not found: {argv[0]}") from e
    except OSError as e:  # not executable, a directory, ...
        raise SecretError(f"{key}: cannot run {argv[0]}: {e.strerror}") from e
    with proc:
        try:
            stdout, _stderr = proc.communicate(timeout=SECRET_COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise SecretError(f"{key}: {argv[0]} did not finish within {SECRET_COMMAND_TIMEOUT:g} s") from e
    if proc.returncode != 0:
        # stderr may echo the secret's neighbourhood; report only the exit code
        raise SecretError(f"{key}: {argv[0]} exited with status {proc.returncode}")
    out = stdout.decode("utf-8", "replace").splitlines()
    if not out or not out[0].strip():
        raise SecretError(f"{key}: {argv[0]} printed nothing")
    return out[0].strip()


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    security: str
    username: str
    password: Secret | None
    oauth2_token: Secret | None
    tls_ca_file: Path | None
    folders: tuple[str, ...]
    sent_folder: str
    connect_timeout: float = 30.0
    read_timeout: float = 120.0
    batch_size: int = 500
    max_text_bytes: int = 65536


@dataclass(frozen=True)
class MeConfig:
    addresses: tuple[str, ...]
    timezone: zoneinfo.ZoneInfo
    work_start: time
    work_end: time
    working_days: frozenset[int]  # 0 = Monday


@dataclass(frozen=True)
class ScheduleConfig:
    poll_interval: float  # seconds
    digest_at: time


@dataclass(frozen=True)
class AlertsConfig:
    to: tuple[str, ...]
    sender: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str | None
    smtp_password: Secret | None
    tls_ca_file: Path | None
    immediate: frozenset[str]
    timeout: float = 30.0


@dataclass(frozen=True)
class Thresholds:
    window_days: int = 90
    unanswered_after_days: float = 5
    chaser_window_hours: float = 24
    abusive_min_messages: int = 1
    controlling_min_messages: int = 3
    controlling_min_share: float = 0.25
    chasers_min: int = 3
    stalling_min_messages: int = 2
    latency_min_samples: int = 3
    latency_median_days: float = 5
    unanswered_min: int = 3


@dataclass(frozen=True)
class ClientRule:
    name: str
    match: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    path: Path | None
    imap: ImapConfig | None
    me: MeConfig
    storage_path: Path
    schedule: ScheduleConfig
    alerts: AlertsConfig | None
    thresholds: Thresholds
    clients: tuple[ClientRule, ...]
    discovery_auto: bool
    model_path: Path | None


# --- schema -----------------------------------------------------------------------------
_SECRET_KEYS = ("password", "password_file", "password_env", "password_command")
_SCHEMA: dict[str, set[str]] = {
    "imap": {"host", "port", "security", "username", *_SECRET_KEYS, "oauth2_token_command",
             "tls_ca_file", "folders", "sent_folder", "connect_timeout", "read_timeout",
             "batch_size", "max_text_bytes"},
    "me": {"addresses", "timezone", "working_hours", "working_days"},
    "storage": {"path"},
    "schedule": {"poll_interval", "digest_at"},
    "alerts": {"to", "from", "smtp_host", "smtp_port", "smtp_security", "smtp_username",
               *("smtp_" + k for k in _SECRET_KEYS), "tls_ca_file", "immediate", "timeout"},
    "thresholds": set(Thresholds.__dataclass_fields__),
    "clients": {"name", "match"},
    "discovery": {"auto"},
    "model": {"path"},
}
FLAG_KINDS = ("abusive", "controlling", "stalling")


class _Reader:
    """Typed access to one table, with errors that name the file and the dotted key."""

    def __init__(self, source: str, table: dict[str, Any], prefix: str) -> None:
        self.source, self.table, self.prefix = source, table, prefix

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.prefix}{key}: {problem}")

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                hint = difflib.get_close_matches(key, sorted(allowed), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail(key, f"unknown key{extra}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "is required")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if value is default and default is not ...:
            return tuple(default)
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def path(self, key: str, base: Path, default: Any = None) -> Path | None:
        value = self.get(key, str, default)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p)

    def secret(self, prefix: str, base: Path, inline_private: bool) -> Secret | None:
        given = [k for k in _SECRET_KEYS if prefix + k in self.table]
        if len(given) > 1:
            raise self.fail(prefix + given[1], f"give only one of {', '.join(prefix + k for k in given)}")
        if not given:
            return None
        key = prefix + given[0]
        value = self.get(key, str)
        kind = {"password": "inline", "password_file": "file", "password_env": "env",
                "password_command": "command"}[given[0]]
        if kind == "file":
            value = str(self.path(key, base))
        if kind == "inline" and not inline_private:
            log.warning("%s: %s%s is an inline password in a file readable by others; "
                        "chmod 600 it or use %spassword_file", self.source, self.prefix, key, prefix)
        return Secret(kind, value, f"{self.prefix}{key}")


def _parse_duration(reader: _Reader, key: str, default: str) -> float:
    text = reader.get(key, (str, int), default)
    if isinstance(text, int):
        return float(text)
    parts = re.fullmatch(r"\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*", text)
    if not parts or not any(parts.groups()):
        raise reader.fail(key, f"expected a duration like '10m', '1h30m' or '45s', got {text!r}")
    h, m, s = (int(g or 0) for g in parts.groups())
    seconds = h * 3600 + m * 60 + s
    if seconds < 1:
        raise reader.fail(key, "must be at least one second")
    return float(seconds)


def _parse_clock(reader: _Reader, key: str, text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match[1]) > 24 or int(match[2]) > 59:
        raise reader.fail(key, f"expected HH:MM, got {text!r}")
    hour, minute = int(match[1]), int(match[2])
    return time.max if hour == 24 else time(hour, minute)


def _server_security(reader: _Reader, key: str, host: str) -> str:
    security = reader.choice(key, ("ssl", "starttls", "none"), "ssl")
    if security == "none" and not is_loopback(host):
        raise reader.fail(key, f'"none" sends the password in clear text; it is allowed only for '
                               f"loopback hosts, not {host!r}: use ssl or starttls")
    return security


def _load_imap(r: _Reader, base: Path, private: bool) -> ImapConfig:
    r.check_keys(_SCHEMA["imap"])
    host = r.get("host", str)
    security = _server_security(r, "security", host)
    port = r.get("port", int, 993 if security == "ssl" else 143)
    password = r.secret("", base, private)
    token_cmd = r.get("oauth2_token_command", str, None)
    if password and token_cmd:
        raise r.fail("oauth2_token_command", "give either a password source or oauth2_token_command, not both")
    if not password and not token_cmd:
        raise r.fail("password_file", "no credentials: set one of password_file, password_env, "
                                      "password_command, password or oauth2_token_command")
    folders = r.strings("folders", ["INBOX"])
    if not folders:
        raise r.fail("folders", "must name at least one folder")
    ca = r.path("tls_ca_file", base)
    if ca is not None and not ca.is_file():
        raise r.fail("tls_ca_file", f"no such file: {ca}")
    return ImapConfig(
        host=host, port=port, security=security, username=r.get("username", str),
        password=password, oauth2_token=Secret("command", token_cmd, "imap.oauth2_token_command") if token_cmd else None,
        tls_ca_file=ca, folders=folders, sent_folder=r.get("sent_folder", str, "auto"),
        connect_timeout=float(r.get("connect_timeout", (int, float), 30.0)),
        read_timeout=float(r.get("read_timeout", (int, float), 120.0)),
        batch_size=r.get("batch_size", int, 500), max_text_bytes=r.get("max_text_bytes", int, 65536))


def _load_me(r: _Reader) -> MeConfig:
    r.check_keys(_SCHEMA["me"])
    addresses = tuple(a.lower() for a in r.strings("addresses"))
    if not addresses:
        raise r.fail("addresses", "must list at least one of your addresses")
    tz_name = r.get("timezone", str, "UTC")
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise r.fail("timezone", f"unknown time zone {tz_name!r} (use an IANA name like Europe/Zagreb)") from e
    hours = r.get("working_hours", str, "09:00-18:00")
    if "-" not in hours:
        raise r.fail("working_hours", f"expected HH:MM-HH:MM, got {hours!r}")
    start_text, end_text = hours.split("-", 1)
    start, end = _parse_clock(r, "working_hours", start_text), _parse_clock(r, "working_hours", end_text)
    if end <= start:
        raise r.fail("working_hours", "the end must be after the start")
    days = r.strings("working_days", list(WEEKDAYS[:5]))
    bad = [d for d in days if d.lower()[:3] not in WEEKDAYS]
    if bad:
        raise r.fail("working_days", f"unknown day {bad[0]!r}; use mon, tue, wed, thu, fri, sat, sun")
    return MeConfig(addresses, tz, start, end, frozenset(WEEKDAYS.index(d.lower()[:3]) for d in days))


def _load_alerts(r: _Reader, base: Path, private: bool) -> AlertsConfig:
    r.check_keys(_SCHEMA["alerts"])
    host = r.get("smtp_host", str)
    security = _server_security(r, "smtp_security", host)
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
    immediate = r.strings("immediate", ["abusive"])
    for kind in immediate:
        if kind not in FLAG_KINDS:
            raise r.fail("immediate", f"unknown flag kind {kind!r}; use {', '.join(FLAG_KINDS)}")
    to = r.strings("to")
    if not to:
        raise r.fail("to", "must list at least one recipient")
    for address in (*to, r.get("from", str)):
        if "@" not in address or any(c in address for c in "\r\n<>,"):
            raise r.fail("to" if address in to else "from", f"not a plain email address: {address!r}")
    ca = r.path("tls_ca_file", base)
    if ca is not None and not ca.is_file():
        raise r.fail("tls_ca_file", f"no such file: {ca}")
    return AlertsConfig(
        to=to, sender=r.get("from", str), smtp_host=host, smtp_port=r.get("smtp_port", int, default_port),
        smtp_security=security, smtp_username=r.get("smtp_username", str, None),
        smtp_password=r.secret("smtp_", base, private), tls_ca_file=ca, immediate=frozenset(immediate),
        timeout=float(r.get("timeout", (int, float), 30.0)))


def _load_thresholds(r: _Reader) -> Thresholds:
    r.check_keys(_SCHEMA["thresholds"])
    values: dict[str, Any] = {}
    for name, f in Thresholds.__dataclass_fields__.items():
        kind = (int, float) if f.type in ("float", float) else int
        value = r.get(name, kind, f.default)
        if value < 0 or (name == "window_days" and value < 1):
            raise r.fail(name, f"must be positive, got {value!r}")
        values[name] = value
    if values["controlling_min_share"] > 1:
        raise r.fail("controlling_min_share", "is a share between 0 and 1")
    return Thresholds(**values)


def _load_clients(source: str, entries: Any) -> tuple[ClientRule, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: clients: use [[clients]] tables")
    rules = []
    for i, entry in enumerate(entries):
        r = _Reader(source, entry, f"clients[{i}].")
        r.check_keys(_SCHEMA["clients"])
        patterns = tuple(p.lower() for p in r.strings("match"))
        if not patterns:
            raise r.fail("match", "must list at least one address or pattern")
        rules.append(ClientRule(r.get("name", str), patterns))
    return tuple(rules)


def parse_config(data: dict[str, Any], source: str = "<config>", base: Path | None = None,
                 private: bool = True, require_imap: bool = True) -> Config:
    """Build a ``Config`` from parsed TOML ``data``; ``source`` names it in errors."""
    base = base or Path.cwd()
    top = _Reader(source, data, "")
    top.check_keys(set(_SCHEMA))
    def table(name: str) -> _Reader:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise top.fail(name, "must be a table")
        return _Reader(source, value, f"{name}.")

    if "imap" in data:
        imap = _load_imap(table("imap"), base, private)
    elif require_imap:
        raise top.fail("imap", "the [imap] table is required")
    else:
        imap = None
    if "me" not in data:
        raise top.fail("me", "the [me] table is required (your addresses and time zone)")
    storage = table("storage")
    storage.check_keys(_SCHEMA["storage"])
    sched = table("schedule")
    sched.check_keys(_SCHEMA["schedule"])
    discovery = table("discovery")
    discovery.check_keys(_SCHEMA["discovery"])
    model = table("model")
    model.check_keys(_SCHEMA["model"])
    return Config(
        path=Path(source) if source != "<config>" else None,
        imap=imap,
        me=_load_me(table("me")),
        storage_path=storage.path("path", base, "~/.local/state/clientwatch/clientwatch.db"),
        schedule=ScheduleConfig(_parse_duration(sched, "poll_interval", "10m"),
                                _parse_clock(sched, "digest_at", sched.get("digest_at", str, "08:00"))),
        alerts=_load_alerts(table("alerts"), base, private) if "alerts" in data else None,
        thresholds=_load_thresholds(table("thresholds")),
        clients=_load_clients(source, data.get("clients", [])),
        discovery_auto=discovery.get("auto", bool, True),
        model_path=model.path("path", base),
    )


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """Resolve the config file by the SPEC's lookup order, or raise ``ConfigError``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("CLIENTWATCH_CONFIG"):
        return Path(os.environ["CLIENTWATCH_CONFIG"]).expanduser()
    for candidate in default_config_paths():
        if candidate.exists():
            return candidate
    tried = ", ".join(str(p) for p in default_config_paths())
    raise ConfigError(f"no configuration file found (tried --config, $CLIENTWATCH_CONFIG, {tried}); "
                      "start from config/clientwatch.example.toml")


def load_config(explicit: str | os.PathLike[str] | None = None, require_imap: bool = True) -> Config:
    """Find, read and validate the configuration file."""
    path = find_config(explicit)
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e.strerror}") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    private = not (mode & (stat.S_IRWXG | stat.S_IRWXO))
    return parse_config(data, str(path), path.parent.resolve(), private, require_imap)
