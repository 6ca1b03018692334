"""The command line: `check`, `demo`, usage errors, and `run --once` without [alerts]."""
from __future__ import annotations

from pathlib import Path

import pytest

from clientwatch import cli
from servers import ImapAccount, SmtpSink
from test_ingest_e2e import config_file


def with_alerts(path: Path, sink: SmtpSink) -> Path:
    path.write_text(path.read_text() + "[alerts]\nto = [\"me@example.com\"]\nfrom = \"cw@example.com\"\n"
                    f"smtp_host = \"127.0.0.1\"\nsmtp_port = {sink.port}\nsmtp_security = \"none\"\n")
    return path


def test_check_lists_folders_smtp_and_model(dovecot: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    dovecot.append("INBOX", [b"From: a@b.example\r\nSubject: x\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n\r\nhi"])
    cfg = with_alerts(config_file(dovecot, tmp_path, "starttls"), smtp_sink)
    assert cli.main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "watch INBOX: 1 messages" in out and "(Sent)" in out
    assert "IMAP login: ok" in out and f"SMTP: 127.0.0.1:{smtp_sink.port} (none): ok" in out
    assert "tone model:" in out and "store:" in out


def test_check_wrong_password_exits_4_naming_the_account(dovecot: ImapAccount, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_file(dovecot, tmp_path)
    (tmp_path / "imap-password").write_text("Not-The-Pw-7f3a\n")
    assert cli.main(["--config", str(cfg), "check"]) == 4
    err = capsys.readouterr().err
    assert f"login refused for {dovecot.user}" in err and "Not-The-Pw-7f3a" not in err


def test_check_smtp_down_exits_4_with_advice(dovecot: ImapAccount, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sink = SmtpSink()
    sink.start()
    cfg = with_alerts(config_file(dovecot, tmp_path), sink)
    sink.stop()
    assert cli.main(["--config", str(cfg), "check"]) == 4
    assert f"SMTP 127.0.0.1:{sink.port}: cannot connect" in capsys.readouterr().err


def test_run_once_without_alerts_mails_nothing(dovecot: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from clientwatch import samples

    box = samples.generate()
    dovecot.append("INBOX", box.inbox)
    dovecot.append("Sent", box.sent)
    cfg = config_file(dovecot, tmp_path)
    assert cli.main(["--config", str(cfg), "run", "--once"]) == 0
    assert f"{len(box.inbox) + len(box.sent)} new" in capsys.readouterr().out
    assert smtp_sink.messages == []
    assert cli.main(["--config", str(cfg), "report"]) == 0
    table = capsys.readouterr().out
    assert "Kowalski Bakery" in table and "stalling" in table


def test_demo_prints_the_report_and_matches_the_ground_truth(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in ("Northwind Design", "Kowalski Bakery", "brightside.example", "rick.moody77@gmail.com"):
        assert name in out
    assert "designweekly" not in out  # a newsletter is never a client
    assert cli.main(["demo", "--format", "json"]) == 0
    assert '"window_days": 90' in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["report", "--format", "xml"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2


def test_missing_config_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(tmp_path / "nope.toml"), "report"]) == 3
    assert "nope.toml" in capsys.readouterr().err
