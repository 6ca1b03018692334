"""Proof under faults: clientwatch against real Dovecot and SMTP servers that crash, stall,
refuse, lose folders and renumber them, against a process killed with SIGKILL, a broken
model file and a full or read-only disk.

Every scenario ends with the same questions: did it fail cleanly (the right exception, the
right exit code, quickly), is the store intact (nothing half-written, nothing duplicated),
and does the next cycle bring everything back to exactly what a clean run gives?

Helpers here (config writer, TCP proxy, daemon runner) are reused by test_security.py.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import logging
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from servers import DovecotServer, ImapAccount, SmtpSink, silent_listener

from clientwatch import alerts as alerts_module, cli, cycle, samples
from clientwatch.alerts import Notifier
from clientwatch.analysis import analyze
from clientwatch.config import load_config
from clientwatch.cycle import run_cycle
from clientwatch.errors import ImapError, StoreError
from clientwatch.mailbox import Syncer
from clientwatch.service import BACKOFF_CAP, Service, backoff_delay
from clientwatch.store import AlertStore, Store
from clientwatch.tone import ToneModel

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)
ME = samples.ME
SENDER = "clientwatch@studio-kvadrat.example"
ABUSE = [
    "You stupid idiot, you ruined my launch. I will destroy your reputation online, everyone will know what a "
    "fraud you are.",
    "Shut up and do what I pay you for, you pathetic loser.",
    "This is GARBAGE. You are a useless amateur and I regret ever hiring you.",
]


# --- configs, mail and the store ---------------------------------------------------------------
def write_config(directory: Path, account: ImapAccount | None, *, port: int | None = None,
                 security: str = "none", host: str = "127.0.0.1", imap: dict[str, Any] | None = None,
                 sink: SmtpSink | None = None, smtp: dict[str, Any] | None = None, model: Path | None = None,
                 poll: str | None = None, storage: Path | None = None, mode: int = 0o600,
                 secret: str | None = "file") -> Path:
    """A config TOML in ``directory`` for one Dovecot account (the sample's [me] and [[clients]]).

    The IMAP password comes from a 0600 password_file (``secret="file"``), is written inline
    (``"inline"``), or is left out (None: ``imap`` gives the source); ``imap`` adds or overrides
    [imap] keys.
    With ``sink`` (or ``smtp``) an [alerts] table mails to it. Without ``model`` the model path
    points at a file that does not exist: the cycle then runs without tone, and starts faster.
    """
    directory.mkdir(parents=True, exist_ok=True)
    table: dict[str, Any] = {"host": host, "security": security}
    if account is not None:
        table.update(username=account.user, port=port or (account.imaps_port if security == "ssl" else account.imap_port))
        if secret == "file":
            password_file = directory / "imap-password"
            password_file.write_text(account.password + "\n")
            password_file.chmod(0o600)
            table["password_file"] = str(password_file)
        elif secret == "inline":
            table["password"] = account.password
    table.update(imap or {})
    db = storage or directory / "state" / "clientwatch.db"
    text = samples.sample_config_toml(str(db), table)
    if poll:
        text += f'[schedule]\npoll_interval = "{poll}"\ndigest_at = "{_digest_time()}"\n'
    if sink is not None or smtp is not None:
        settings: dict[str, Any] = {"to": [ME], "from": SENDER, "smtp_host": "127.0.0.1", "smtp_security": "none",
                                    "immediate": ["abusive"], "timeout": 10}
        if sink is not None:
            settings["smtp_port"] = sink.port
        settings.update(smtp or {})
        text += "[alerts]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    text += f"[model]\npath = {json.dumps(str(model or directory / 'no-model.joblib'))}\n"
    path = directory / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def _digest_time() -> str:
    """Two hours ago in the sample's time zone: the daily digest job will not fire in a test."""
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo(samples.TIMEZONE)) - timedelta(hours=2)).strftime("%H:%M")


def mail(sender: str, subject: str, body: str, date: datetime, mid: str, name: str | None = None,
         to: str = ME, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"], msg["Subject"], msg["Date"], msg["Message-ID"] = to, subject, format_datetime(date), mid
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return bytes(msg)


def newsletter(n: int, size: int, date: datetime = NOW - timedelta(days=2)) -> bytes:
    """Bulk mail of about ``size`` bytes: stored, never anybody's client mail, never classified."""
    words = random.Random(n).choices(["lorem", "ipsum", "dolor", "sit", "amet", "tempor", "magna"], k=size // 6)
    lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    return mail("newsletter@designweekly.example", f"Issue {n}", "\n".join(lines), date - timedelta(minutes=n),
                f"<issue{n}@designweekly.example>", List_Unsubscribe="<mailto:leave@designweekly.example>")


def abusive(clients: list[str], now: datetime) -> list[bytes]:
    """One abusive message from each of ``clients`` (free-mail addresses: each its own client)."""
    return [mail(c, "Logo", ABUSE[i % len(ABUSE)], now - timedelta(hours=2 + i), f"<abuse{i}.{c}>")
            for i, c in enumerate(clients)]


@functools.lru_cache(maxsize=None)
def sample(now: datetime = NOW) -> samples.SampleMailbox:
    return samples.generate(now)


def load_sample(account: ImapAccount, inbox: str = "INBOX", now: datetime = NOW) -> int:
    box = sample(now)
    account.append(inbox, box.inbox)
    account.append("Sent", box.sent)
    return len(box.inbox) + len(box.sent)


def messages(store: Store) -> list[Any]:
    """Every stored message (all columns the analysis reads, and folder and UID), by Message-ID."""
    return sorted(store.messages(), key=lambda m: m.message_id)


def metrics(store: Store, config: Any, now: datetime = NOW) -> list[Any]:
    """Every client's metrics, evidence and flags, as plain data."""
    return [(dataclasses.asdict(r.metrics), [f.as_dict() for f in r.flags]) for r in analyze(store, config, now)]


def clean_run(tmp_path: Path, account: ImapAccount, name: str = "clean", **kw: Any) -> tuple[list[Any], list[Any]]:
    """A fresh store synced in one uninterrupted cycle: what every interrupted run must end up as."""
    config = load_config(write_config(tmp_path / name, account, **kw))
    with Store(config.storage_path) as store:
        run_cycle(config, store, None, now=NOW)
        return messages(store), metrics(store, config)


def assert_same_store(got: tuple[list[Any], list[Any]], want: tuple[list[Any], list[Any]]) -> None:
    """``(messages, metrics)`` equal, with a readable account of the first difference."""
    got_ids, want_ids = [m.message_id for m in got[0]], [m.message_id for m in want[0]]
    assert len(got_ids) == len(set(got_ids)), "duplicate messages"
    assert got_ids == want_ids, f"missing {sorted(set(want_ids) - set(got_ids))[:5]}, extra {sorted(set(got_ids) - set(want_ids))[:5]}"
    for a, b in zip(*(got[0], want[0])):
        diff = {k: (getattr(a, k), getattr(b, k)) for k in a.__dataclass_fields__ if getattr(a, k) != getattr(b, k)}
        assert not diff, f"{a.message_id}: {str(diff)[:500]}"
    assert got[1] == want[1]


def db_query(path: Path | str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the store with plain sqlite3, as an outsider (another process) would."""
    db = sqlite3.connect(path, timeout=10, uri=str(path).startswith("file:"))
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    """``clientwatch --config CONFIG ARGS`` in-process: exit code, stdout, stderr (logs go to caplog)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(config), *args])
    return code, out.getvalue(), err.getvalue()


_MODELS: dict[str, ToneModel] = {}


@pytest.fixture
def model_path(request: pytest.FixtureRequest) -> Path:
    """The committed model when it loads here (fast), else the session's freshly trained one."""
    from clientwatch.tone import default_model_path

    path = default_model_path()
    try:
        _MODELS.setdefault(str(path), ToneModel.load(path))
        return path
    except Exception:
        return request.getfixturevalue("tone_model_path")


@pytest.fixture
def cached_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process `run --once` loads the model (~1.5 s) every time; the file never changes here."""
    real_load = ToneModel.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[ToneModel], path: Any = None) -> ToneModel:
        if str(path) not in _MODELS:
            _MODELS[str(path)] = real_load(cls, path)
        return _MODELS[str(path)]

    monkeypatch.setattr(ToneModel, "load", classmethod(load))


def model(path: Path) -> ToneModel:
    if str(path) not in _MODELS:
        _MODELS[str(path)] = ToneModel.load(path)
    return _MODELS[str(path)]


# --- a Dovecot of this module's own, for the tests that crash it -------------------------------
@pytest.fixture(scope="module")
def own_server() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


_users = iter(range(1, 10**6))


def new_account(server: DovecotServer) -> ImapAccount:
    if not server.running:
        server.start()
    user, password = f"fault{next(_users)}u{random.randrange(10**6)}", f"pw-{random.randrange(10**12)}"
    server.add_user(user, password)
    return ImapAccount(server, user, password)


# --- a TCP proxy in front of a real server -----------------------------------------------------
class Proxy:
    """A TCP proxy on 127.0.0.1 in front of a real server.

    ``mode``: "forward" pipes bytes both ways; "silent" accepts connections and never sends a
    byte (a hung server). ``stalled`` freezes the server-to-client direction of every open
    connection (a server that stops answering mid-session); ``rate`` throttles it (bytes/s).
    """

    def __init__(self, target_port: int, mode: str = "forward", rate: float | None = None) -> None:
        self.target_port, self.mode, self.rate = target_port, mode, rate
        self.stalled = False
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)
            if self.mode == "silent":
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            self._open.append(upstream)
            threading.Thread(target=self._pipe, args=(conn, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, conn, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                while downstream and self.stalled and not self._closed.is_set():
                    time.sleep(0.01)
                dst.sendall(data)
                if downstream and self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.close()


# --- `clientwatch run` as a child process ------------------------------------------------------
class Daemon:
    """``python -m clientwatch.cli --config X run`` with its log (stderr) collected line by line."""

    def __init__(self, config: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_SOCKET", "WATCHDOG_"))}
        self.proc = subprocess.Popen([sys.executable, "-m", "clientwatch.cli", "--config", str(config), *args, "run"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env={**env, "PYTHONUNBUFFERED": "1"})
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def matching(self, pattern: str) -> list[tuple[float, str]]:
        with self._cond:
            return [(t, x) for t, x in self.lines if re.search(pattern, x)]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30) -> list[tuple[float, str]]:
        rx = re.compile(pattern)
        with self._cond:
            self._cond.wait_for(lambda: self._eof or sum(1 for _, x in self.lines if rx.search(x)) >= count, timeout)
            found = [(t, x) for t, x in self.lines if rx.search(x)]
        if len(found) < count:
            raise AssertionError(f"{len(found)}/{count} log lines match {pattern!r}; the log:\n{self.log}")
        return found

    @property
    def log(self) -> str:
        with self._cond:
            return "\n".join(x for _, x in self.lines)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        with self._cond:
            self._cond.wait_for(lambda: self._eof, 5)
        return code


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons started by a test; any still running at the end is killed (by its own pid)."""
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)


# =================================================================================================
# 1. Dovecot lost in the middle of a sync
# =================================================================================================
@pytest.mark.parametrize("how", ["crash", "stop"])
def test_dovecot_lost_between_batches_exits_4_and_the_next_cycle_resumes_to_a_clean_store(
        own_server: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Crash (SIGKILL) or stop (kick + SIGTERM) Dovecot right after the second committed batch of
    the Sent folder (INBOX is already complete): `run --once` exits 4, what was committed stays,
    the store is consistent; once Dovecot is back the next run fetches only the rest, and the
    store then equals a clean run's: the same messages (folder and UID too) and the same metrics."""
    account = new_account(own_server)
    total = load_sample(account)
    config = write_config(tmp_path / "resumed", account, imap={"batch_size": 10})
    committed: list[tuple[str, int]] = []

    def lose_server(folder: str, last_uid: int) -> None:
        committed.append((folder, last_uid))
        if committed.count(("Sent", 20)) == 1 and (folder, last_uid) == ("Sent", 20):
            getattr(own_server, how)()

    monkeypatch.setattr(cycle, "Syncer", functools.partial(Syncer, on_batch=lose_server))
    code, _out, err = run_cli(config, "run", "--once")
    assert code == 4, err
    assert "connection lost during sync" in err and "the next cycle resumes" in err
    inbox = len(sample().inbox)
    db = tmp_path / "resumed" / "state" / "clientwatch.db"
    assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
    assert dict(db_query(db, "SELECT name, last_uid FROM folders")) == {"INBOX": inbox, "Sent": 20}
    assert db_query(db, "SELECT folder, COUNT(*) FROM messages GROUP BY folder ORDER BY folder") == [
        ("INBOX", inbox), ("Sent", 20)]

    code, _out, err = run_cli(config, "run", "--once")  # still down: fails fast and cleanly
    assert code == 4 and "cannot connect" in err

    own_server.start()
    before = len(committed)
    code, out, err = run_cli(config, "run", "--once")
    assert code == 0, err
    assert f"{total - inbox - 20} new" in out
    assert committed[before:] == [("Sent", 30), ("Sent", 40), ("Sent", len(sample().sent))]  # resumed, not restarted
    monkeypatch.undo()

    cfg = load_config(config)
    with Store(cfg.storage_path) as store:
        resumed = messages(store), metrics(store, cfg)
    assert len(resumed[0]) == total
    assert_same_store(resumed, clean_run(tmp_path, account))


def test_dovecot_crashed_in_the_middle_of_a_fetch_and_restarted(
        own_server: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL Dovecot while a large FETCH answer is streaming in (the client has read 10 of the
    batch's 130 text literals, ~8 MB in all, far more than socket buffers hold): the cycle fails
    with an ImapError naming the FETCH, the first batch stays committed, and after a restart the
    store equals a clean run's."""
    account = new_account(own_server)
    big = [newsletter(n, 70_000) for n in range(225)]  # each text part is capped at 64 KiB
    account.append("INBOX", sample().inbox + big)
    account.append("Sent", sample().sent)
    total = len(sample().inbox) + len(big) + len(sample().sent)
    batch = 150  # batch 1: the sample's 55 client messages and 95 big ones; batch 2: 130 big ones
    config = load_config(write_config(tmp_path / "resumed", account, imap={"batch_size": batch}))
    literals: list[int] = []
    crashed_after: list[int] = []
    real_connect = cycle.connect

    def connect(cfg: Any) -> Any:
        client = real_connect(cfg)
        if crashed_after:
            return client
        # a small receive window: what the kernel may still buffer for us is bounded (~4 MB)
        client._imap.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        imap_read = client._imap.read

        def read(size: int) -> bytes:
            data = imap_read(size)
            if size == 65536:
                literals.append(size)
                if len(literals) == 95 + 10 and not crashed_after:
                    crashed_after.append(len(literals))
                    own_server.crash()
            return data

        client._imap.read = read
        return client

    monkeypatch.setattr(cycle, "connect", connect)
    with Store(config.storage_path) as store:
        try:
            run_cycle(config, store, None, now=NOW)
        except ImapError as e:
            failed = e
        else:
            pytest.fail(f"the cycle survived the crash: {len(literals)} literals read, crash after {crashed_after}, "
                        f"server running: {own_server.running}")
        assert re.search("connection lost during sync.*FETCH", str(failed)) and failed.exit_code == 4, failed
        assert crashed_after == [105]
        assert len(literals) < 95 + 130, "the whole FETCH arrived before the crash: not a mid-FETCH fault"
        assert store.folder_state("INBOX")[1] == batch  # type: ignore[index]
        assert store.count_messages() == batch
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

        own_server.start()
        result = run_cycle(config, store, None, now=NOW)
        assert result.new_messages == total - batch
        resumed = messages(store), metrics(store, config)
    assert_same_store(resumed, clean_run(tmp_path, account, imap={"batch_size": batch}))


def test_a_server_that_stops_answering_mid_fetch_times_out_quickly(
        dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server keeps the connection open but stops sending (a hung process, a dead NAT
    entry): imap.read_timeout ends the cycle with an ImapError within seconds, the batches
    already committed are kept, and the next cycle completes the sync."""
    total = load_sample(dovecot)
    proxy = Proxy(dovecot.imap_port)
    try:
        config = load_config(write_config(tmp_path, dovecot, port=proxy.port,
                                          imap={"batch_size": 10, "connect_timeout": 2, "read_timeout": 1}))
        monkeypatch.setattr(cycle, "Syncer", functools.partial(
            Syncer, on_batch=lambda folder, uid: setattr(proxy, "stalled", True)))
        with Store(config.storage_path) as store:
            started = time.monotonic()
            with pytest.raises(ImapError, match="connection lost during sync.*timed out"):
                run_cycle(config, store, None, now=NOW)
            assert time.monotonic() - started < 6
            assert store.count_messages() == 10 and store.folder_state("INBOX")[1] == 10  # type: ignore[index]
            monkeypatch.undo()
            proxy.stalled = False
            assert run_cycle(config, store, None, now=NOW).new_messages == total - 10
            resumed = messages(store), metrics(store, config)
    finally:
        proxy.close()
    assert_same_store(resumed, clean_run(tmp_path, dovecot))


# =================================================================================================
# 2. UIDVALIDITY changes
# =================================================================================================
@pytest.mark.parametrize("change", ["folder deleted and recreated", "uidvalidity bumped"])
def test_a_uidvalidity_change_gives_identical_metrics_no_duplicates_and_no_repeated_alerts(
        dovecot: ImapAccount, smtp_sink: SmtpSink, model_path: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, change: str) -> None:
    raw = sample().inbox + abusive(["vera.k@gmail.com", "otto.z@gmail.com"], NOW)
    dovecot.append("Clients", raw)
    dovecot.append("Sent", sample().sent)
    config = load_config(write_config(tmp_path, dovecot, sink=smtp_sink, model=model_path,
                                      imap={"folders": ["Clients"], "batch_size": 20}))
    tone = model(model_path)
    with Store(config.storage_path) as store:
        first = run_cycle(config, store, tone, Notifier(config), now=NOW)
        assert first.new_messages == len(raw) + len(sample().sent)
        alerts = len(smtp_sink.messages)
        assert alerts >= 2 and first.alerts_sent == alerts  # at least the two abusive free-mail clients
        before = messages(store), metrics(store, config)
        outbox = db_query(config.storage_path, "SELECT message_id, status FROM outbox ORDER BY id")
        old = store.folder_state("Clients")
        assert old is not None

        if change == "folder deleted and recreated":
            dovecot.delete_folder("Clients")
            dovecot.append("Clients", raw[::-1])  # the same mail, even in another order: UIDs from 1
        else:
            dovecot.set_uidvalidity("Clients", old[0] + 1000)  # the same UIDs under a new UIDVALIDITY
        new_validity = dovecot.status("Clients")["uidvalidity"]
        assert new_validity != old[0]

        caplog.set_level(logging.WARNING, logger="clientwatch")
        second = run_cycle(config, store, tone, Notifier(config), now=NOW, force=True)
        assert second.new_messages == 0 and second.alerts_queued == 0
        assert store.folder_state("Clients") == (new_validity, len(raw), None)
        after = messages(store), metrics(store, config)
        assert [m.message_id for m in after[0]] == [m.message_id for m in before[0]]  # no duplicates
        assert after[1] == before[1]
        assert any("UIDVALIDITY of 'Clients' changed" in r.getMessage() for r in caplog.records)
        assert run_cycle(config, store, tone, Notifier(config), now=NOW, force=True).alerts_queued == 0
    assert len(smtp_sink.messages) == alerts
    assert db_query(config.storage_path, "SELECT message_id, status FROM outbox ORDER BY id") == outbox


# =================================================================================================
# 3. Messages and folders that vanish
# =================================================================================================
def test_a_message_expunged_between_search_and_fetch_is_skipped(
        dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Expunged by another client after our UID SEARCH answered and before the first FETCH was
    sent: no error, no ghost message, nothing recorded as malformed, and the folder's high-water
    mark still moves past it."""
    raw = [mail("ana@client.example", f"Question {n}", f"Question number {n}.", NOW - timedelta(hours=n),
                f"<q{n}@client.example>") for n in range(1, 26)]
    dovecot.append("INBOX", raw)
    gone = [1, 7, 8, 25]
    real_connect = cycle.connect

    def connect(cfg: Any) -> Any:
        client = real_connect(cfg)
        real_search = client.search

        def search(criteria: Any, *a: Any, **kw: Any) -> Any:
            found = real_search(criteria, *a, **kw)
            if client._imap.state == "SELECTED" and not getattr(connect, "done", False):
                connect.done = True  # type: ignore[attr-defined]
                dovecot.expunge("INBOX", gone)
            return found

        client.search = search
        return client

    monkeypatch.setattr(cycle, "connect", connect)
    config = load_config(write_config(tmp_path, dovecot, imap={"batch_size": 10}))
    with Store(config.storage_path) as store:
        result = run_cycle(config, store, None, now=NOW)
        assert getattr(connect, "done", False)
        assert (result.new_messages, result.bad_messages) == (25 - len(gone), 0)
        assert [m.message_id for m in messages(store)] == sorted(
            f"<q{n}@client.example>" for n in range(1, 26) if n not in gone)
        assert all(m.from_addr == "ana@client.example" and m.date.year == 2026 for m in messages(store))
        assert store.bad_messages() == [] and store.folder_state("INBOX")[1] == 25  # type: ignore[index]
        assert run_cycle(config, store, None, now=NOW).new_messages == 0


def test_a_folder_that_disappears_between_cycles_keeps_its_record_and_the_cycle_goes_on(
        dovecot: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = sample()
    dovecot.append("INBOX", box.inbox[:30])
    dovecot.append("Clients/Acme", box.inbox[30:])
    dovecot.append("Sent", box.sent)
    config_path = write_config(tmp_path, dovecot, imap={"folders": ["INBOX", "Clients/Acme"]})
    config = load_config(config_path)
    assert run_cli(config_path, "run", "--once")[0] == 0
    with Store(config.storage_path) as store:
        before = messages(store), metrics(store, config)
    assert len(before[0]) == len(box.inbox) + len(box.sent)

    dovecot.delete_folder("Clients/Acme")
    dovecot.append("INBOX", [mail("ana@client.example", "New", "A new question.", NOW - timedelta(hours=1),
                                  "<new-1@client.example>")])
    caplog.set_level(logging.WARNING, logger="clientwatch")
    code, out, err = run_cli(config_path, "run", "--once")
    assert code == 0 and "1 new" in out, err
    assert any("'Clients/Acme' does not exist on the server; skipped" in r.getMessage() for r in caplog.records)
    with Store(config.storage_path) as store:
        # the written record stays: mail already stored is never dropped because its folder went away
        assert {m.message_id for m in before[0]} < {m.message_id for m in messages(store)}
        assert store.count_messages() == len(before[0]) + 1

    dovecot.append("Clients/Acme", box.inbox[30:])  # it comes back (new UIDVALIDITY): no duplicates
    code, out, _ = run_cli(config_path, "run", "--once")
    assert code == 0 and "0 new" in out
    with Store(config.storage_path) as store:
        assert store.count_messages() == len(before[0]) + 1


def test_a_sent_folder_that_does_not_exist_is_a_warning_not_a_failure(
        dovecot: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dovecot.append("INBOX", sample().inbox)
    config = write_config(tmp_path, dovecot, imap={"sent_folder": "Sent Items"})
    caplog.set_level(logging.WARNING, logger="clientwatch")
    code, out, err = run_cli(config, "run", "--once")
    assert code == 0, err
    assert f"{len(sample().inbox)} new" in out
    assert any("'Sent Items' does not exist" in r.getMessage() for r in caplog.records)
    code, out, _ = run_cli(config, "check")
    assert code == 0 and "watch Sent Items: MISSING on the server" in out


# =================================================================================================
# 4. A server that accepts and never answers; a server that comes back
# =================================================================================================
@pytest.mark.parametrize("security", ["none", "ssl"])
def test_a_server_that_never_answers_times_out_with_exit_4_quickly(dovecot: ImapAccount, tmp_path: Path,
                                                                   security: str) -> None:
    sock, port = silent_listener()
    try:
        config = write_config(tmp_path, dovecot, port=port, security=security,
                              imap={"connect_timeout": 1, "read_timeout": 1,
                                    **({"tls_ca_file": dovecot.cert_path} if security == "ssl" else {})})
        started = time.monotonic()
        code, _out, err = run_cli(config, "run", "--once")
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert code == 4
    assert f"IMAP 127.0.0.1:{port}: no answer within 1 s" in err
    assert elapsed < 4


def test_an_smtp_server_that_never_answers_leaves_the_alert_queued_and_the_cycle_finishes(
        dovecot: ImapAccount, model_path: Path, tmp_path: Path, cached_models: None) -> None:
    dovecot.append("INBOX", abusive(["vera.k@gmail.com"], datetime.now(timezone.utc)))
    sock, port = silent_listener()
    try:
        config = write_config(tmp_path, dovecot, model=model_path, smtp={"smtp_port": port, "timeout": 1})
        started = time.monotonic()
        code, out, err = run_cli(config, "run", "--once")
        assert time.monotonic() - started < 6
    finally:
        sock.close()
    assert code == 0 and "1 alert(s) queued, 0 sent" in out, err
    (row,) = db_query(tmp_path / "state" / "clientwatch.db", "SELECT status, attempts, last_error FROM outbox")
    assert row[:2] == ("pending", 1) and "timed out" in row[2]


def test_the_daemon_survives_a_hung_server_and_recovers_on_its_own(dovecot: ImapAccount, tmp_path: Path,
                                                                   daemons: list[Daemon]) -> None:
    """`clientwatch run` against a server that accepts and never answers: every poll times out
    after imap.read_timeout, is logged, and the process stays up; when the server answers
    again the next poll syncs everything; SIGTERM then exits 0."""
    total = load_sample(dovecot)
    proxy = Proxy(dovecot.imap_port, mode="silent")
    try:
        config = write_config(tmp_path, dovecot, port=proxy.port, poll="1s",
                              imap={"connect_timeout": 1, "read_timeout": 1})
        d = Daemon(config)
        daemons.append(d)
        failures = d.wait_for(r"mail server failure 2 in a row: IMAP 127\.0\.0\.1:\d+: no answer within 1 s; "
                              r"retrying in \d+ s", timeout=30)
        assert d.proc.poll() is None and failures
        proxy.mode = "forward"
        d.wait_for(rf"cycle done: {total} new", timeout=30)
        assert d.proc.poll() is None
        assert d.terminate() == 0
    finally:
        proxy.close()
    assert "Traceback" not in d.log
    assert db_query(tmp_path / "state" / "clientwatch.db", "SELECT COUNT(*) FROM messages") == [(total,)]


def test_service_poll_fails_then_succeeds_when_the_server_answers_again(dovecot: ImapAccount, tmp_path: Path) -> None:
    """The same in-process: Service.poll counts failures and backs off; one good poll resets it."""
    dovecot.append("INBOX", sample().inbox[:5])
    sock, port = silent_listener()
    try:
        config = load_config(write_config(tmp_path, dovecot, port=port, imap={"connect_timeout": 1, "read_timeout": 1}))
        service = Service(config, None)
        service.poll()
        service.poll()
        assert service.failures == 2 and not service.stop.is_set() and service.exit_code == 0
    finally:
        sock.close()
    assert config.imap is not None
    service.config = dataclasses.replace(config, imap=dataclasses.replace(config.imap, port=dovecot.imap_port))
    service.poll()
    assert service.failures == 0 and not service.stop.is_set()
    with Store(config.storage_path) as store:
        assert store.count_messages() == 5


# =================================================================================================
# 5. A wrong password
# =================================================================================================
def test_a_wrong_password_is_a_clear_error_naming_the_account_with_exit_4(dovecot: ImapAccount,
                                                                          tmp_path: Path) -> None:
    config = write_config(tmp_path, dovecot)
    (tmp_path / "imap-password").write_text("not-the-password\n")
    code, _out, err = run_cli(config, "run", "--once")
    assert code == 4
    assert f"login refused for {dovecot.user}" in err and "password" in err
    assert "not-the-password" not in err


def test_backoff_grows_is_capped_jittered_and_never_below_half_its_base() -> None:
    for interval in (1.0, 60.0, 600.0, 7200.0):
        cap = max(interval, BACKOFF_CAP)
        for seed in range(50):
            draws = [random.Random(seed) for _ in range(40)]  # the same random draw for every count
            delays = [backoff_delay(n, interval, draws[n]) for n in range(1, 40)]
            base = [min(cap, min(15.0, interval) * 2 ** (n - 1)) for n in range(1, 40)]
            assert all(b / 2 <= d <= b for d, b in zip(delays, base))  # never below half the base
            assert all(a <= b for a, b in zip(delays, delays[1:]))  # grows with the failure count
            assert max(delays) <= cap and delays[-1] >= cap / 2  # capped, and reaches the cap
        assert backoff_delay(6, interval, random.Random(1)) > backoff_delay(1, interval, random.Random(1))
    spread = {round(backoff_delay(3, 600.0), 6) for _ in range(50)}
    assert len(spread) > 40  # jittered: retries of many clients do not land in step


def test_the_daemon_backs_off_a_wrong_password_instead_of_hammering(
        dovecot: ImapAccount, tmp_path: Path, daemons: list[Daemon]) -> None:
    """poll_interval 1 s and a wrong password, for about 6 s: Dovecot sees far fewer logins
    than one a second, the gaps between them grow, and the service stays up."""
    config = write_config(tmp_path, dovecot, poll="1s")
    (tmp_path / "imap-password").write_text("not-the-password\n")
    log_path = Path(dovecot.server.log_path)  # type: ignore[arg-type]
    log_start = log_path.stat().st_size
    d = Daemon(config)
    daemons.append(d)
    first = d.wait_for(r"mail server failure 1 in a row", timeout=30)[0][0]
    time.sleep(max(0.0, first + 6 - time.monotonic()))
    assert d.proc.poll() is None
    assert d.terminate() == 0
    failures = d.matching(r"mail server failure \d+ in a row: .*login refused for " + re.escape(dovecot.user))
    with open(log_path, errors="replace") as f:
        f.seek(log_start)
        refused = [line for line in f if f"user=<{dovecot.user}>" in line and "auth failed" in line]
    # one a second would be 7; the backoff allows at most 4 in 6 s (0.5-1 s, 1-2 s, 2-4 s, ...)
    assert 2 <= len(failures) <= 4, d.log
    assert len(refused) == len(failures), "".join(refused)
    gaps = [b[0] - a[0] for a, b in zip(failures, failures[1:])]
    assert all(g >= 0.9 for g in gaps), gaps
    if len(gaps) >= 2:
        assert gaps[-1] >= 1.5, gaps


# =================================================================================================
# 6. SMTP refusing
# =================================================================================================
@pytest.mark.parametrize("failure", ["connection refused", "421 at MAIL", "451 at RCPT", "452 at DATA",
                                     "554 at DATA", "550 at RCPT"])
def test_smtp_refusals_keep_alerts_queued_and_each_is_delivered_exactly_once(
        dovecot: ImapAccount, smtp_sink: SmtpSink, model_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: str) -> None:
    """The SMTP server refuses for three cycles, then recovers. Temporary refusals: every cycle
    retries (the backoff is shortened to 0 here), nothing is lost, and each alert arrives exactly
    once. Permanent ones (5xx): logged as errors, kept as failed in the store and never retried."""
    clients = ["otto.z@gmail.com", "vera.k@gmail.com"]
    dovecot.append("INBOX", abusive(clients, NOW))
    config = load_config(write_config(tmp_path, dovecot, sink=smtp_sink, model=model_path))
    monkeypatch.setattr(alerts_module, "retry_delay", lambda attempts, rng=None: 0.0)
    permanent = failure[0] == "5"
    if failure == "connection refused":
        smtp_sink.stop()
    else:
        code, _, stage = failure.split()
        smtp_sink.refuse(int(code), stage=stage)
    caplog.set_level(logging.WARNING, logger="clientwatch")
    tone = model(model_path)
    with Store(config.storage_path) as store:
        results = [run_cycle(config, store, tone, Notifier(config), now=NOW) for _ in range(3)]
        assert [r.alerts_queued for r in results] == [2, 0, 0]
        assert [r.alerts_sent for r in results] == [0, 0, 0]
        outbox = AlertStore(store)
        if permanent:
            failed = outbox.failed()
            assert sorted(r["client"] for r in failed) == clients
            assert all(r["attempts"] == 1 and failure[:3] in r["last_error"] for r in failed)
            assert outbox.pending_count() == 0
            assert sum("refused permanently" in r.getMessage() and r.levelno == logging.ERROR
                       for r in caplog.records) == 2
        else:
            assert outbox.failed() == [] and outbox.pending_count() == 2
            assert db_query(config.storage_path, "SELECT attempts FROM outbox") == [(3,), (3,)]
        assert smtp_sink.messages == []

        if failure == "connection refused":
            smtp_sink.start()
        else:
            smtp_sink.refuse(None)
        sent = [run_cycle(config, store, tone, Notifier(config), now=NOW).alerts_sent for _ in range(3)]
    if permanent:
        assert sent == [0, 0, 0] and smtp_sink.messages == []
        code, out, _ = run_cli(write_config(tmp_path, dovecot, sink=smtp_sink, model=model_path), "report",
                               "--format", "json")
        assert code == 0
        assert sorted(f["client"] for f in json.loads(out)["alerts"]["failed"]) == clients
    else:
        assert sent == [2, 0, 0]
        assert sorted(str(m["Subject"]) for m in smtp_sink.messages) == sorted(
            f"clientwatch: {c} is abusive" for c in clients)
        assert db_query(config.storage_path, "SELECT status, attempts FROM outbox") == [("sent", 4), ("sent", 4)]


# =================================================================================================
# 7. kill -9 in the middle of a cycle
# =================================================================================================
def test_kill_9_mid_cycle_loses_nothing_and_sends_no_alert_twice(
        dovecot: ImapAccount, smtp_sink: SmtpSink, model_path: Path, tmp_path: Path,
        daemons: list[Daemon]) -> None:
    """A first daemon completes a cycle and mails its alerts. New mail arrives (6 MB, over a
    link throttled to 2 MB/s) with a new abusive client at the end; the daemon is SIGKILLed
    right after the first new batch is committed. The store passes integrity_check and holds
    exactly the committed prefix; a restarted daemon fetches the rest, mails only the new
    alert, and no alert ever reaches the SMTP server twice."""
    now = datetime.now(timezone.utc)
    dovecot.append("INBOX", abusive(["vera.k@gmail.com", "otto.z@gmail.com"], now))
    proxy = Proxy(dovecot.imap_port)
    db = tmp_path / "state" / "clientwatch.db"
    try:
        config = write_config(tmp_path, dovecot, port=proxy.port, sink=smtp_sink, model=model_path, poll="1s",
                              imap={"batch_size": 20})
        first = Daemon(config)
        daemons.append(first)
        first.wait_for(r"cycle done: 2 new", timeout=60)
        smtp_sink.wait_for(2)
        alerted = len(smtp_sink.messages)

        proxy.rate = 2_000_000
        filler = [newsletter(n, 20_000, now - timedelta(days=1)) for n in range(300)]
        dovecot.append("INBOX", filler + abusive(["nina.p@gmail.com"], now))
        total = 2 + len(filler) + 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db_query(db, "SELECT last_uid FROM folders WHERE name = 'INBOX'") > [(2,)]:
                break
            time.sleep(0.005)
        first.proc.kill()
        assert first.proc.wait(10) == -signal.SIGKILL
        (last_uid,), = db_query(db, "SELECT last_uid FROM folders WHERE name = 'INBOX'")
        assert 2 < last_uid < total, "not killed mid-sync"

        assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
        assert db_query(db, "SELECT COUNT(*) FROM messages WHERE folder = 'INBOX'") == [(last_uid,)]
        assert db_query(db, "SELECT MAX(uid) FROM messages WHERE folder = 'INBOX'") == [(last_uid,)]

        proxy.rate = None
        second = Daemon(config)
        daemons.append(second)
        second.wait_for(rf"cycle done: {total - last_uid} new", timeout=60)
        second.wait_for(r"cycle done: 0 new", timeout=30)  # and one more, quiet, cycle
        assert second.terminate() == 0
    finally:
        proxy.close()
    assert db_query(db, "SELECT COUNT(*) FROM messages") == [(total,)]
    assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
    ids = [str(m["Message-ID"]).strip() for m in smtp_sink.messages]
    subjects = [str(m["Subject"]) for m in smtp_sink.messages]
    assert len(ids) == len(set(ids)) and len(subjects) == len(set(subjects)), subjects
    assert len(ids) == alerted + 1 and "clientwatch: nina.p@gmail.com is abusive" in subjects
    assert sorted(ids) == sorted(r[0] for r in db_query(db, "SELECT message_id FROM outbox WHERE status = 'sent'"))
    assert db_query(db, "SELECT COUNT(*) FROM outbox WHERE status != 'sent'") == [(0,)]


# =================================================================================================
# 8. The model file
# =================================================================================================
def _broken_model(kind: str, good: Path, target: Path) -> Path:
    import joblib

    if kind == "missing":
        return target
    if kind == "corrupt":
        target.write_bytes(b"\x80\x04not a pickle at all" + os.urandom(64))
    elif kind == "truncated":
        data = good.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif kind == "other scikit-learn":
        blob = joblib.load(good)
        blob["meta"] = {**blob["meta"], "sklearn_version": "0.24.2"}
        joblib.dump(blob, target)
    elif kind == "not a model":
        joblib.dump({"weights": [1, 2, 3]}, target)
    target.chmod(0o644)
    return target


MODEL_FAULTS = {"missing": "no tone model", "corrupt": "damaged", "truncated": "damaged",
                "other scikit-learn": "trained with scikit-learn 0.24.2", "not a model": "not a clientwatch tone model"}


@pytest.mark.parametrize("kind", list(MODEL_FAULTS))
def test_a_bad_model_file_is_exit_3_for_classify_and_run_once_goes_on_without_tone(
        dovecot: ImapAccount, model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    bad = _broken_model(kind, model_path, tmp_path / "tone.joblib")
    dovecot.append("INBOX", abusive(["vera.k@gmail.com"], datetime.now(timezone.utc)))
    config = write_config(tmp_path, dovecot, model=bad)
    texts = tmp_path / "in.jsonl"
    texts.write_text(json.dumps({"id": 1, "subject": "Logo", "text": ABUSE[0]}) + "\n")

    code, out, err = run_cli(config, "classify", str(texts))
    assert code == 3 and out == ""
    assert str(bad) in err and MODEL_FAULTS[kind] in err and "clientwatch train" in err

    caplog.set_level(logging.WARNING, logger="clientwatch")
    code, out, err = run_cli(config, "run", "--once")
    assert code == 0, err
    assert "1 new, 0 malformed, 0 classified" in out
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no usable tone model" in w and MODEL_FAULTS[kind] in w for w in warnings), warnings


# =================================================================================================
# 9. A read-only or full disk
# =================================================================================================
def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB tmpfs (needs root, as the CI runs); skipped where mounting is not allowed."""
    where = tmp_path / "disk"
    if not _mount_tmpfs(where, "600k"):
        pytest.skip("cannot mount a tmpfs here (not root); the max_page_count variant covers a full store")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _big_mail(n: int) -> list[bytes]:
    return [mail("ana@client.example", f"Brief {i}", f"Brief {i}.\n" + "x" * 18_000, NOW - timedelta(hours=i),
                 f"<brief{i}@client.example>") for i in range(n)]


def _committed_prefix_is_consistent(db: Path) -> int:
    assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
    (last_uid,), = db_query(db, "SELECT last_uid FROM folders WHERE name = 'INBOX'") or [(0,)]
    assert db_query(db, "SELECT COUNT(*), COALESCE(MAX(uid), 0) FROM messages") == [(last_uid, last_uid)]
    return last_uid


def test_a_full_disk_is_a_store_error_exit_1_and_nothing_is_corrupted(
        dovecot: ImapAccount, small_disk: Path, tmp_path: Path) -> None:
    raw = _big_mail(60)  # about 1.1 MB of text on a 600 KiB disk
    dovecot.append("INBOX", raw)
    db = small_disk / "cw" / "clientwatch.db"
    config = write_config(tmp_path, dovecot, storage=db, imap={"batch_size": 5})
    code, _out, err = run_cli(config, "run", "--once")
    assert code == 1
    assert f"{db}: write failed and was rolled back: database or disk is full" in err
    committed = _committed_prefix_is_consistent(db)
    assert 0 < committed < len(raw)

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    code, out, err = run_cli(config, "run", "--once")
    assert code == 0 and f"{len(raw) - committed} new" in out, err
    assert _committed_prefix_is_consistent(db) == len(raw)


def test_a_store_that_hits_its_size_limit_is_a_store_error_and_nothing_is_corrupted(
        dovecot: ImapAccount, tmp_path: Path) -> None:
    """The same without root: SQLite's max_page_count makes the store 'full' (SQLITE_FULL, the
    error a full disk gives) at a set size, on the connection the cycle writes through."""
    raw = _big_mail(40)
    dovecot.append("INBOX", raw)
    config = load_config(write_config(tmp_path, dovecot, imap={"batch_size": 5}))
    with Store(config.storage_path) as store:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages + 100}")  # ~400 KiB more, of ~750 KiB
        with pytest.raises(StoreError, match="database or disk is full") as full:
            run_cycle(config, store, None, now=NOW)
        assert full.value.exit_code == 1
    committed = _committed_prefix_is_consistent(config.storage_path)
    assert 0 < committed < len(raw)
    with Store(config.storage_path) as store:
        assert run_cycle(config, store, None, now=NOW).new_messages == len(raw) - committed
    assert _committed_prefix_is_consistent(config.storage_path) == len(raw)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """A directory for the store and a function that makes it read-only: a tmpfs remounted
    read-only when we are root (root ignores file modes), else chmod 0500."""
    where = tmp_path / "ro"
    mounted = os.geteuid() == 0 and _mount_tmpfs(where, "20m")
    where.mkdir(exist_ok=True)

    def make_read_only() -> None:
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        else:
            where.chmod(0o500)
            (where / "cw").chmod(0o500)

    try:
        yield make_read_only
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
        else:
            for p in (where / "cw", where):
                with contextlib.suppress(OSError):
                    p.chmod(0o700)


def test_a_read_only_store_is_a_store_error_exit_1_and_stays_intact(
        dovecot: ImapAccount, read_only_dir: Callable[[], None], tmp_path: Path) -> None:
    dovecot.append("INBOX", sample().inbox)
    db = tmp_path / "ro" / "cw" / "clientwatch.db"
    config = write_config(tmp_path, dovecot, storage=db)
    assert run_cli(config, "run", "--once")[0] == 0
    before = db_query(db, "SELECT message_id FROM messages ORDER BY message_id")
    read_only_dir()
    dovecot.append("INBOX", [mail("ana@client.example", "More", "More.", NOW, "<more@client.example>")])
    code, _out, err = run_cli(config, "run", "--once")
    assert code == 1
    assert str(db) in err and ("Read-only file system" in err or "Permission denied" in err or "readonly" in err)
    # immutable: SQLite cannot create the WAL index (-shm) on a read-only file system
    assert db_query(f"file:{db}?immutable=1", "PRAGMA integrity_check") == [("ok",)]
    assert db_query(f"file:{db}?immutable=1", "SELECT message_id FROM messages ORDER BY message_id") == before
    # and the record can still be read: `report` works from a read-only store (a snapshot, a backup)
    code, out, err = run_cli(config, "report", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["alerts"] == {"pending": 0, "failed": []}


@pytest.mark.parametrize("name", ["C# projects", "what?", "100%25 done", "x&mode=rwc"])
def test_report_reads_a_store_whose_path_has_uri_characters(dovecot: ImapAccount, tmp_path: Path, name: str) -> None:
    """Regression: `report` opens the store read-only through an SQLite URI; an unquoted "#"
    cut the path short there, and SQLite created a stray world-readable file at the cut."""
    dovecot.append("INBOX", [mail("ana@client.example", "Brief", "Here it is.", datetime.now(timezone.utc),
                                  "<brief@client.example>")])
    db = tmp_path / name / "clientwatch.db"
    config = write_config(tmp_path, dovecot, storage=db)
    assert run_cli(config, "run", "--once")[0] == 0
    files = lambda: sorted(str(p) for p in tmp_path.rglob("*") if not p.name.endswith(("-wal", "-shm")))  # noqa: E731
    before = files()
    code, out, err = run_cli(config, "report", "--format", "json")
    assert code == 0, err
    assert [c["messages"]["from_client"] for c in json.loads(out)["clients"]] == [1]
    assert files() == before  # no stray file anywhere
    assert {oct(p.stat().st_mode & 0o777) for p in db.parent.iterdir()} == {"0o600"}  # -shm too
