"""`clientwatch run`, the daemon: real processes against a real Dovecot and a real SMTP sink.

Each daemon test starts ``python -m clientwatch.cli --config X run`` as a child process,
reads its log (stderr) line by line and drives it with signals, as systemd would.
The scheduling rules themselves (digest time, backoff, watchdog interval) are tested as
plain functions at the end.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, time as dtime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from servers import DovecotServer

from clientwatch import samples
from clientwatch.config import load_config
from clientwatch.sdnotify import Notifier as SdNotifier, watchdog_interval
from clientwatch.service import Service, backoff_delay, digest_missed, last_digest_due

ME = samples.ME
TZ = ZoneInfo(samples.TIMEZONE)


# --- helpers ------------------------------------------------------------------------------
def write_config(tmp_path: Path, account: Any, *, model: Path | None = None, sink: Any = None,
                 poll: str = "1s", digest_at: str | None = None, password_file: Path | None = None,
                 extra: str = "") -> Path:
    """A config for one Dovecot account; the digest time defaults to two hours ago (it won't fire)."""
    imap: dict[str, Any] = {"host": account.host, "port": account.imap_port, "security": "none",
                            "username": account.user}
    if password_file:
        imap["password_file"] = str(password_file)
    else:
        imap["password"] = account.password
    text = samples.sample_config_toml(str(tmp_path / "state" / "clientwatch.db"), imap)
    digest_at = digest_at or (datetime.now(TZ) - timedelta(hours=2)).strftime("%H:%M")
    text += f'[schedule]\npoll_interval = "{poll}"\ndigest_at = "{digest_at}"\n'
    if sink is not None:
        text += (f'[alerts]\nto = ["{ME}"]\nfrom = "clientwatch@studio-kvadrat.example"\nsmtp_host = "127.0.0.1"\n'
                 f'smtp_port = {sink.port}\nsmtp_security = "none"\nimmediate = ["abusive"]\n')
    # without a model file the daemon runs without tone (and starts faster)
    text += f"[model]\npath = {json.dumps(str(model or tmp_path / 'no-model.joblib'))}\n" + extra
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


class Daemon:
    """``clientwatch run`` as a child process, with its log collected line by line."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_SOCKET", "WATCHDOG_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clientwatch.cli", "--config", str(config), "run"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**base, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def matching(self, pattern: str) -> list[str]:
        with self._cond:
            return [line for line in self.lines if re.search(pattern, line)]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30) -> list[str]:
        """Wait until ``count`` log lines match ``pattern``; fail with the whole log otherwise."""
        rx = re.compile(pattern)
        with self._cond:
            self._cond.wait_for(lambda: self._eof or sum(1 for x in self.lines if rx.search(x)) >= count, timeout)
            found = [x for x in self.lines if rx.search(x)]
            if len(found) < count:
                log = "\n".join(self.lines)
                raise AssertionError(f"{len(found)}/{count} log lines match {pattern!r}; the log:\n{log}")
            return found

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        with self._cond:
            self._cond.wait_for(lambda: self._eof, 5)
        return code

    @property
    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Started daemons go in this list; any still running at the end is killed (by its pid)."""
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)


def start(daemons: list[Daemon], config: Path, env: dict[str, str] | None = None) -> Daemon:
    d = Daemon(config, env)
    daemons.append(d)
    return d


def mail(sender: str, subject: str, body: str, date: datetime, mid: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ME, subject
    msg["Date"], msg["Message-ID"] = format_datetime(date), mid
    msg.set_content(body)
    return bytes(msg)


def store_rows(config: Path, query: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(load_config(config).storage_path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


# --- the daemon ---------------------------------------------------------------------------
def test_daemon_polls_alerts_sends_the_first_digest_and_stops_cleanly(dovecot, smtp_sink, tone_model_path,
                                                                      tmp_path, daemons) -> None:
    box = samples.generate()
    dovecot.append("INBOX", box.inbox)
    dovecot.append("Sent", box.sent)
    config = write_config(tmp_path, dovecot, model=tone_model_path, sink=smtp_sink)

    d = start(daemons, config)
    d.wait_for(r"clientwatch running: polling every 1 s")
    d.wait_for(r"INFO clientwatch.service: cycle done: 100 new")
    # no digest ever ran: the first one follows the first cycle, with the flags not mailed at once
    d.wait_for(r"no digest has run yet: sending the first one now")
    d.wait_for(r"digest: 1 queued, 1 alert\(s\) sent")
    d.wait_for(r"cycle done: 0 new", count=2)
    # the abusive client at once (and any other the model reads as abusive), then the digest
    subjects = [str(m["Subject"]) for m in smtp_sink.messages]
    assert "clientwatch: rick.moody77@gmail.com is abusive" in subjects
    assert all(s.endswith(" is abusive") for s in subjects[:-1]) and subjects[-1].startswith("clientwatch digest: ")
    mailed = len(subjects)
    assert d.proc.poll() is None

    assert d.terminate() == 0
    assert d.matching(r"received SIGTERM") and d.matching(r"INFO clientwatch.service: stopped")
    assert store_rows(config, "PRAGMA integrity_check") == [("ok",)]
    sent = store_rows(config, "SELECT message_id, status FROM outbox")
    assert {status for _, status in sent} == {"sent"}
    assert sorted(mid for mid, _ in sent) == sorted(str(m["Message-ID"]).strip() for m in smtp_sink.messages)

    # a restart: nothing is mailed twice, and today's digest is not repeated
    again = start(daemons, config)
    again.wait_for(r"cycle done: 0 new", count=2)
    assert again.terminate() == 0
    assert not again.matching(r"sending (it|the first one) now")
    assert len(smtp_sink.messages) == mailed
    assert store_rows(config, "PRAGMA integrity_check") == [("ok",)]


def test_notify_socket_gets_ready_status_watchdog_and_stopping(dovecot, tmp_path, daemons) -> None:
    dovecot.append("INBOX", [mail("lena@northwind.example", "Hello", "Thanks, talk on Thursday.",
                                  datetime.now(timezone.utc) - timedelta(hours=1), "<n1@northwind.example>")])
    config = write_config(tmp_path, dovecot)
    sock_dir = tempfile.mkdtemp(prefix="cw-notify-")  # short: a socket path has at most 107 bytes
    path = os.path.join(sock_dir, "notify.sock")
    received: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(0.5)
        d = start(daemons, config, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                received.append(sock.recv(4096).decode())
            except socket.timeout:
                continue
            if sum(m == "WATCHDOG=1" for m in received) >= 2 and any("last cycle" in m for m in received):
                break
        assert d.terminate() == 0
        try:
            while True:
                received.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    os.unlink(path)
    os.rmdir(sock_dir)
    assert received[0].split("\n")[0] == "READY=1", received
    assert any(m.startswith("STATUS=last cycle") and "1 new" in m for m in received), received
    assert sum(m == "WATCHDOG=1" for m in received) >= 2, received
    assert received[-1] == "STOPPING=1", received


def test_a_config_error_at_start_exits_3(tmp_path, dovecot) -> None:
    config = write_config(tmp_path, dovecot, extra="[schedule_typo]\nx = 1\n")
    done = subprocess.run([sys.executable, "-m", "clientwatch.cli", "--config", str(config), "run"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 3
    assert "schedule_typo" in done.stderr


def test_a_config_error_found_while_running_stops_the_service_with_3(tmp_path, dovecot, daemons) -> None:
    """The IMAP password file disappears: restarting would not help, so exit 3 (RestartPreventExitStatus)."""
    config = write_config(tmp_path, dovecot, password_file=tmp_path / "missing-password")
    d = start(daemons, config)
    assert d.proc.wait(30) == 3
    d.wait_for(r"configuration error, stopping: .*missing-password")


def test_imap_down_keeps_the_service_up_retrying_with_backoff_until_it_returns(tmp_path, daemons) -> None:
    with DovecotServer(users={"bob": "pw-bob-1"}) as server:
        server.append("INBOX", [mail("lena@northwind.example", "Hello", "Thanks, talk on Thursday.",
                                     datetime.now(timezone.utc) - timedelta(hours=1), "<n1@northwind.example>")],
                      user="bob")
        server.stop()

        class Account:
            host, imap_port, user, password = server.host, server.imap_port, "bob", "pw-bob-1"

        config = write_config(tmp_path, Account)
        d = start(daemons, config)
        d.wait_for(r"WARNING clientwatch.service: mail server failure 1 in a row: .*cannot connect.*; retrying in")
        d.wait_for(r"mail server failure 2 in a row: .*; retrying in")
        assert d.proc.poll() is None and not d.matching("cycle done")

        server.start()
        d.wait_for(r"cycle done: 1 new")
        d.wait_for(r"cycle done: 0 new")
        assert d.terminate() == 0
    assert store_rows(config, "SELECT message_id FROM messages") == [("<n1@northwind.example>",)]


# --- scheduling rules, as functions -------------------------------------------------------
def test_the_digest_due_last_is_today_or_yesterday_at_digest_at_in_my_time_zone() -> None:
    at = dtime(8, 0)
    winter = datetime(2026, 1, 14, 6, 59, tzinfo=timezone.utc)  # 07:59 in Zagreb
    assert last_digest_due(winter, at, TZ) == datetime(2026, 1, 13, 7, 0, tzinfo=timezone.utc)
    assert last_digest_due(winter + timedelta(minutes=1), at, TZ) == datetime(2026, 1, 14, 7, 0, tzinfo=timezone.utc)
    summer = datetime(2026, 7, 14, 6, 30, tzinfo=timezone.utc)  # 08:30 in Zagreb (CEST)
    assert last_digest_due(summer, at, TZ) == datetime(2026, 7, 14, 6, 0, tzinfo=timezone.utc)


def test_a_digest_is_missed_only_when_the_last_run_is_older_than_the_last_due_time() -> None:
    at = dtime(8, 0)
    now = datetime(2026, 1, 14, 9, 0, tzinfo=timezone.utc)  # 10:00 in Zagreb; due at 07:00 UTC
    due = datetime(2026, 1, 14, 7, 0, tzinfo=timezone.utc).timestamp()
    assert digest_missed(None, now, at, TZ)  # never ran
    assert digest_missed(due - 60, now, at, TZ)  # last ran before today's
    assert not digest_missed(due + 1, now, at, TZ)
    assert not digest_missed(due - 3600, datetime(2026, 1, 14, 6, 0, tzinfo=timezone.utc), at, TZ)


def test_the_digest_job_fires_at_digest_at_in_my_time_zone(tmp_path, dovecot) -> None:
    config = load_config(write_config(tmp_path, dovecot, digest_at="07:45", poll="10m"))
    service = Service(config, None)
    service.schedule()
    now = datetime(2026, 7, 14, 12, 0, tzinfo=timezone.utc)
    fire = service.scheduler.get_job("digest").trigger.get_next_fire_time(None, now)
    assert fire == datetime(2026, 7, 15, 7, 45, tzinfo=TZ)
    poll = service.scheduler.get_job("poll").trigger
    assert poll.interval == timedelta(minutes=10)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for failures, low, high in [(1, 7.5, 15), (2, 15, 30), (3, 30, 60), (12, 1800, 3600), (40, 1800, 3600)]:
        for _ in range(20):
            assert low <= backoff_delay(failures, 600, rng) <= high
    # a short poll interval retries sooner, never later than the interval itself at first
    assert backoff_delay(1, 2, rng) <= 2


def test_watchdog_interval_is_half_the_timeout_and_only_for_our_pid(monkeypatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "600000000")
    assert watchdog_interval() == 300
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 300
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None


def test_sd_notify_reaches_an_abstract_socket_and_is_a_no_op_without_one(monkeypatch) -> None:
    name = f"clientwatch-test-{os.getpid()}-{random.randrange(10**9)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = SdNotifier()
        notifier.status("syncing\nINBOX")
        assert sock.recv(100) == b"STATUS=syncing INBOX"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert SdNotifier().notify("READY=1") is False
