from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from clientwatch.config import Secret, is_loopback, load_config, parse_config
from clientwatch.errors import ConfigError, SecretError

BASE = """
[imap]
host = "imap.example.com"
username = "me@example.com"
password_env = "CW_TEST_PW"

[me]
addresses = ["Me@Example.com"]
timezone = "Europe/Zagreb"
"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_example_config_loads(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "config" / "clientwatch.example.toml"
    text = example.read_text().replace('tls_ca_file = "/etc', '# tls_ca_file = "/etc')
    cfg = load_config(write(tmp_path, text))
    assert cfg.imap is not None and cfg.imap.port == 993 and cfg.imap.security == "ssl"
    assert cfg.alerts is not None and cfg.alerts.immediate == frozenset({"abusive"})
    assert cfg.schedule.poll_interval == 600
    assert cfg.thresholds.window_days == 90 and cfg.thresholds.controlling_min_share == 0.25
    assert cfg.clients[0].name == "Acme Ltd"


def test_defaults_and_normalisation(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.me.addresses == ("me@example.com",)
    assert cfg.me.working_days == frozenset(range(5))
    assert cfg.imap.folders == ("INBOX",) and cfg.imap.sent_folder == "auto"
    assert cfg.alerts is None and cfg.discovery_auto


def test_unknown_key_names_file_key_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('username =', 'usernme = "x"\nusername ='))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value) and "imap.usernme" in str(e.value) and "did you mean 'username'" in str(e.value)


def test_unknown_table_and_threshold_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="thresholds.chaser_window_hour.*chaser_window_hours"):
        load_config(write(tmp_path, BASE + "[thresholds]\nchaser_window_hour = 3\n"))
    with pytest.raises(ConfigError, match="alert.*did you mean 'alerts'"):
        load_config(write(tmp_path, BASE + "[alert]\nto = []\n"))


@pytest.mark.parametrize("host", ["imap.example.com", "10.0.0.5", "mail.local"])
def test_plaintext_refused_for_non_loopback(tmp_path: Path, host: str) -> None:
    text = BASE.replace('host = "imap.example.com"', f'host = "{host}"\nsecurity = "none"')
    with pytest.raises(ConfigError, match="imap.security.*loopback"):
        load_config(write(tmp_path, text))


def test_plaintext_allowed_on_loopback_and_smtp_checked_too(tmp_path: Path) -> None:
    text = BASE.replace('host = "imap.example.com"', 'host = "127.0.0.1"\nsecurity = "none"')
    cfg = load_config(write(tmp_path, text))
    assert cfg.imap.port == 143
    alerts = '[alerts]\nto=["me@example.com"]\nfrom="cw@example.com"\nsmtp_host="smtp.example.com"\nsmtp_security="none"\n'
    with pytest.raises(ConfigError, match="alerts.smtp_security"):
        load_config(write(tmp_path, text + alerts))


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.5.5.5")
    assert not is_loopback("192.168.1.1") and not is_loopback("example.com")


@pytest.mark.parametrize("bad,match", [
    ('timezone = "Mars/Olympus"', "me.timezone.*unknown time zone"),
    ('working_hours = "18:00-09:00"', "me.working_hours.*end must be after"),
    ('working_days = ["mon", "funday"]', "me.working_days.*funday"),
])
def test_me_errors(tmp_path: Path, bad: str, match: str) -> None:
    text = BASE.replace('timezone = "Europe/Zagreb"', bad) if "timezone" in bad else BASE + bad + "\n"
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("value,seconds", [('"10m"', 600), ('"1h30m"', 5400), ('"45s"', 45), ("90", 90)])
def test_durations(tmp_path: Path, value: str, seconds: int) -> None:
    cfg = load_config(write(tmp_path, BASE + f"[schedule]\npoll_interval = {value}\n"))
    assert cfg.schedule.poll_interval == seconds


def test_bad_duration_and_type_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schedule.poll_interval.*duration"):
        load_config(write(tmp_path, BASE + '[schedule]\npoll_interval = "soon"\n'))
    with pytest.raises(ConfigError, match="thresholds.window_days.*expected int"):
        load_config(write(tmp_path, BASE + '[thresholds]\nwindow_days = "90"\n'))


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[imap\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    assert Secret("file", str(pw), "imap.password_file").get() == "s3cret"
    monkeypatch.setenv("CW_X", "envpw")
    assert Secret("env", "CW_X").get() == "envpw"
    cmd = f'{sys.executable} -c "print(\'cmdpw\')"'
    assert Secret("command", cmd).get() == "cmdpw"
    with pytest.raises(SecretError, match="CW_MISSING"):
        Secret("env", "CW_MISSING", "imap.password_env").get()
    with pytest.raises(SecretError, match="exited with status 3"):
        Secret("command", f'{sys.executable} -c "import sys; sys.exit(3)"', "k").get()
    with pytest.raises(SecretError, match="command not found"):
        Secret("command", "/nonexistent/tool", "k").get()


def test_secret_command_runs_without_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    # with a shell, "; touch" would run; without one it is just an argument to echo
    assert Secret("command", f"echo hi ; touch {marker}").get().startswith("hi")
    assert not marker.exists()


def test_secret_repr_is_masked() -> None:
    s = Secret("inline", "hunter2", "imap.password")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    cfg_repr = repr(parse_config({"imap": {"host": "h", "username": "u", "password": "hunter2"},
                                  "me": {"addresses": ["a@b.c"]}}))
    assert "hunter2" not in cfg_repr


def test_inline_password_warns_when_file_is_readable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = BASE.replace('password_env = "CW_TEST_PW"', 'password = "hunter2"')
    with caplog.at_level(logging.WARNING):
        load_config(write(tmp_path, text, 0o644))
    assert "inline password" in caplog.text and "hunter2" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_config(write(tmp_path, text, 0o600))
    assert "inline password" not in caplog.text


def test_two_secret_sources_and_none_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give only one"):
        load_config(write(tmp_path, BASE.replace('password_env = "CW_TEST_PW"', 'password_env = "A"\npassword_file = "f"')))
    with pytest.raises(ConfigError, match="no credentials"):
        load_config(write(tmp_path, BASE.replace('password_env = "CW_TEST_PW"', "")))


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, BASE)
    monkeypatch.setenv("CLIENTWATCH_CONFIG", str(path))
    assert load_config(None).path == path
    monkeypatch.setenv("CLIENTWATCH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError):
        load_config(None)


def test_clients_and_alert_kinds(tmp_path: Path) -> None:
    text = BASE + '[[clients]]\nname = "Acme"\nmatch = ["*@ACME.example"]\n'
    cfg = load_config(write(tmp_path, text))
    assert cfg.clients[0].match == ("*@acme.example",)
    bad = text + '[alerts]\nto=["me@example.com"]\nfrom="cw@example.com"\nsmtp_host="s"\nimmediate=["rude"]\n'
    with pytest.raises(ConfigError, match="alerts.immediate.*rude"):
        load_config(write(tmp_path, bad))
    inject = text + '[alerts]\nto=["me@example.com\\r\\nBcc: x@evil.example"]\nfrom="cw@example.com"\nsmtp_host="s"\n'
    with pytest.raises(ConfigError, match="alerts.to"):
        load_config(write(tmp_path, inject))


def test_fractional_thresholds_are_accepted(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE + "[thresholds]\nunanswered_after_days = 2.5\nchaser_window_hours = 0.5\n"
                                             "latency_median_days = 1.5\n"))
    assert (cfg.thresholds.unanswered_after_days, cfg.thresholds.chaser_window_hours,
            cfg.thresholds.latency_median_days) == (2.5, 0.5, 1.5)
    with pytest.raises(ConfigError, match="thresholds.chasers_min.*expected int"):
        load_config(write(tmp_path, BASE + "[thresholds]\nchasers_min = 2.5\n"))
