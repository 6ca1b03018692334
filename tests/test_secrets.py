"""Secrets and message bodies never reach the logs, at any level (DEBUG included)."""
from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from clientwatch import cli
from servers import ImapAccount, SmtpSink
from test_ingest_e2e import config_file

BODY_MARKER = "Bodymarker-9c41e7"
SMTP_PASSWORD = "Smtp-Secret-51d0"


def message(i: int, sender: str, to: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, f"Project {i}"
    msg["Date"] = format_datetime(datetime.now(timezone.utc) - timedelta(days=3, hours=i))
    msg["Message-ID"] = f"<m{i}.secrets@client.example>"
    msg.set_content(text)
    return bytes(msg)


def test_debug_logs_hold_no_password_token_or_body(dovecot: ImapAccount, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    sink = SmtpSink(require_auth=("cw", SMTP_PASSWORD), auth_require_tls=False)
    sink.start()
    try:
        dovecot.append("INBOX", [message(i, "Rick <rick@client.example>", "mara@studio-kvadrat.example",
                                         f"You useless idiot. {BODY_MARKER} I will ruin you.") for i in range(3)])
        cfg = config_file(dovecot, tmp_path)
        (tmp_path / "smtp-password").write_text(SMTP_PASSWORD + "\n")
        cfg.write_text(cfg.read_text() + "[alerts]\nto = [\"me@example.com\"]\nfrom = \"cw@example.com\"\n"
                       f"smtp_host = \"127.0.0.1\"\nsmtp_port = {sink.port}\nsmtp_security = \"none\"\n"
                       f"smtp_username = \"cw\"\nsmtp_password_file = \"{tmp_path / 'smtp-password'}\"\n")
        caplog.set_level(logging.DEBUG)
        assert cli.main(["--config", str(cfg), "-v", "run", "--once"]) == 0
        assert cli.main(["--config", str(cfg), "-v", "digest"]) == 0
        sink.wait_for(1)  # the alert really went out, so the SMTP login really happened
    finally:
        sink.stop()
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert caplog.records, "DEBUG logging produced nothing: the check would be empty"
    for secret in (dovecot.password, SMTP_PASSWORD, BODY_MARKER, "useless idiot"):
        assert secret not in everything, f"{secret!r} leaked into the logs"
