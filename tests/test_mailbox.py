"""IMAP sync against a real Dovecot: TLS, incremental and read-only sync, UIDVALIDITY, lost
servers, vanished messages and folders, malformed mail, and attachments that must never be
downloaded. No IMAP mocks: the fixtures in conftest.py run Dovecot 2.3 on 127.0.0.1.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import logging
import os
import random
import re
import socket
import struct
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import pytest

from clientwatch import cycle, samples
from clientwatch.analysis import analyze
from clientwatch.config import Config, load_config
from clientwatch.cycle import run_cycle, sync_mail
from clientwatch.errors import AuthError, ImapError
from clientwatch.mailbox import SyncResult, Syncer, _quiet_logout, _seqset, connect, parse_fetch, uid_fetch
from clientwatch.mime import HEADER_FIELDS, MAX_TEXT_CHARS, choose_text_part
from clientwatch.report import client_dict
from clientwatch.store import Store
from servers import DovecotServer, ImapAccount
from test_ingest_e2e import config_file

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)
ME = samples.ME


# --- helpers --------------------------------------------------------------------------------
def write_config(account: ImapAccount, directory: Path, security: str = "none", **imap: Any) -> Config:
    """A private config file for ``account`` (the sample's [me] and [[clients]]), loaded."""
    return load_config(config_file(account, directory, security, **imap))


def sync(config: Config, store: Store, **kwargs: Any) -> SyncResult:
    """One Syncer.sync on its own connection (the path sync_mail takes), returning the details."""
    assert config.imap is not None
    client = connect(config.imap)
    try:
        return Syncer(config.imap, store, **kwargs).sync(client)
    finally:
        _quiet_logout(client)


@functools.lru_cache(maxsize=None)
def sample() -> samples.SampleMailbox:
    """The sample mailbox as of NOW (generated once: its ground truth is counted minute by minute)."""
    return samples.generate(NOW)


def load_sample(account: ImapAccount) -> samples.SampleMailbox:
    box = sample()
    account.append("INBOX", box.inbox)
    account.append("Sent", box.sent)
    return box


def report_dicts(store: Store, config: Config) -> list[dict[str, Any]]:
    return [client_dict(r) for r in analyze(store, config, NOW)]


def message_ids(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT message_id FROM messages ORDER BY message_id")]


def mail(n: int, sender: str = "ana@client.example", subject: str | None = None, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ME
    msg["Subject"] = subject or f"Question {n}"
    msg["Date"] = f"Tue, 03 Mar 2026 10:{n % 60:02d}:00 +0100"
    msg["Message-ID"] = f"<q{n}@client.example>"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(f"Question number {n}.\n")
    return bytes(msg)


def logout_record(server: DovecotServer, user: str, after: int, timeout: float = 10) -> dict[str, int]:
    """Dovecot's own account of a session, from its 'Logged out in=.. out=..' log line.

    ``out`` is every byte the server wrote to the client after login, counted by Dovecot.
    Waits (bounded) for the line, which the log process writes shortly after LOGOUT.
    """
    deadline = time.monotonic() + timeout
    pattern = re.compile(rf"imap\({re.escape(user)}\).*Logged out (.*)$")
    while True:
        with open(server.log_path, errors="replace") as f:
            lines = f.readlines()[after:]
        found = [m for m in map(pattern.search, lines) if m]
        if found:
            return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found[-1].group(1))}
        if time.monotonic() > deadline:
            raise AssertionError(f"no logout record for {user}:\n{server.log_tail()}")
        time.sleep(0.02)


def log_lines(server: DovecotServer) -> int:
    with open(server.log_path, errors="replace") as f:
        return sum(1 for _ in f)


def kernel_bytes_received(sock: socket.socket) -> int:
    """``tcpi_bytes_received`` of Linux's struct tcp_info (kernel ≥ 4.1): every payload byte
    this TCP connection has received, TLS records included, counted by the kernel."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < 136:
        pytest.skip("this kernel's tcp_info has no tcpi_bytes_received")
    # 8 one-byte fields, 24 u32 fields, then u64 pacing_rate, max_pacing_rate, bytes_acked, bytes_received
    return struct.unpack_from("=Q", info, 8 + 24 * 4 + 3 * 8)[0]


class NoSentServer(DovecotServer):
    """Dovecot without a SPECIAL-USE \\Sent mailbox (the shared config always has one)."""

    def _write_config(self) -> None:
        super()._write_config()
        assert self.config_path is not None
        with open(self.config_path) as f:
            text = f.read()
        stripped = re.sub(r"\n  mailbox Sent \{.*?\n  \}", "", text, flags=re.S)
        assert stripped != text
        with open(self.config_path, "w") as f:
            f.write(stripped)


@pytest.fixture(scope="module")
def own_server() -> Iterator[DovecotServer]:
    """A Dovecot of this module's own, for tests that crash, stop or restart it. It has no
    \\Sent special-use mailbox, so folders named "Sent" are found by name."""
    with NoSentServer() as server:
        yield server


@pytest.fixture
def own_account(own_server: DovecotServer, request: pytest.FixtureRequest) -> ImapAccount:
    if not own_server.running:
        own_server.start()
    user = re.sub(r"[^A-Za-z0-9]", "", request.node.name)[-40:] + str(random.randrange(10**6))
    own_server.add_user(user, "pw-" + user)
    return ImapAccount(own_server, user, "pw-" + user)


# --- connecting -----------------------------------------------------------------------------
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_paths_verify_the_server_with_tls_ca_file(dovecot: ImapAccount, tmp_path: Path, security: str) -> None:
    dovecot.append("INBOX", [mail(1)])
    config = write_config(dovecot, tmp_path, security)
    assert config.imap is not None
    client = connect(config.imap)
    try:
        assert client.socket().version() is not None  # TLS is really on (an SSLSocket with a protocol)
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1
    finally:
        _quiet_logout(client)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_an_untrusted_certificate_is_an_imap_error_naming_tls_ca_file(dovecot: ImapAccount, tmp_path: Path,
                                                                       security: str) -> None:
    config = write_config(dovecot, tmp_path, security)
    assert config.imap is not None
    with pytest.raises(ImapError, match="tls_ca_file"):  # the system CAs do not know the test server
        connect(dataclasses.replace(config.imap, tls_ca_file=None))


def test_a_wrong_password_is_an_auth_error(dovecot: ImapAccount, tmp_path: Path) -> None:
    config = write_config(dovecot, tmp_path)
    (tmp_path / "imap-password").write_text("not-the-password\n")
    with pytest.raises(AuthError, match=dovecot.user):
        connect(config.imap)  # type: ignore[arg-type]


# --- incremental and read-only -------------------------------------------------------------
def test_sync_is_incremental(dovecot: ImapAccount, tmp_path: Path) -> None:
    box = load_sample(dovecot)
    config = write_config(dovecot, tmp_path)
    batches: list[tuple[str, int]] = []
    with Store(config.storage_path) as store:
        first = sync(config, store, on_batch=lambda f, u: batches.append((f, u)))
        assert first.folders == {"INBOX": len(box.inbox), "Sent": len(box.sent)} and first.bad == 0
        assert store.count_messages() == len(box.inbox) + len(box.sent)
        states = {f: store.folder_state(f) for f in ("INBOX", "Sent")}
        for folder in ("INBOX", "Sent"):
            status = dovecot.status(folder)
            assert states[folder] == (status["uidvalidity"], status["uidnext"] - 1, None)

        # unchanged mailbox: nothing fetched (no batch at all), nothing added, state untouched
        batches.clear()
        mark = log_lines(dovecot.server)
        second = sync(config, store, on_batch=lambda f, u: batches.append((f, u)))
        assert (second.new, second.folders, batches) == (0, {"INBOX": 0, "Sent": 0}, [])
        assert {f: store.folder_state(f) for f in ("INBOX", "Sent")} == states
        assert store.count_messages() == len(box.inbox) + len(box.sent)
        session = logout_record(dovecot.server, dovecot.user, mark)
        assert session["hdr_count"] == 0 and session["body_count"] == 0  # Dovecot agrees: no FETCH of mail

        # three new messages: exactly three more, fetched from the old high-water mark on
        dovecot.append("INBOX", [mail(1), mail(2)])
        dovecot.append("Sent", [mail(3, sender=ME)])
        third = sync(config, store)
        assert (third.new, third.folders) == (3, {"INBOX": 2, "Sent": 1})
        assert store.count_messages() == len(box.inbox) + len(box.sent) + 3
        assert store.folder_state("INBOX")[1] == states["INBOX"][1] + 2  # type: ignore[index]
        assert store.folder_state("Sent")[1] == states["Sent"][1] + 1  # type: ignore[index]


def test_sync_never_marks_mail_seen(dovecot: ImapAccount, tmp_path: Path) -> None:
    box = load_sample(dovecot)
    dovecot.append("INBOX", [mail(1)], flags=[b"\\Flagged"])
    config = write_config(dovecot, tmp_path)
    with Store(config.storage_path) as store:
        sync_mail(config, store)
        assert store.count_messages() == len(box.inbox) + len(box.sent) + 1
    with dovecot.client() as other:
        other.select_folder("INBOX", readonly=True)
        flags = other.get_flags(other.search(["ALL"]))
    assert len(flags) == len(box.inbox) + 1
    assert not [uid for uid, f in flags.items() if b"\\Seen" in f]
    kept = sorted(tuple(x for x in f if x != b"\\Recent") for f in flags.values())  # \Recent is per session
    assert [f for f in kept if f] == [(b"\\Flagged",)]  # and nothing else changed
    assert dovecot.status("Sent")["unseen"] == len(box.sent)


# --- UIDVALIDITY ------------------------------------------------------------------------------
def test_a_uidvalidity_change_resyncs_the_folder_without_duplicates(dovecot: ImapAccount, tmp_path: Path) -> None:
    box = load_sample(dovecot)
    config = write_config(dovecot, tmp_path)
    total = len(box.inbox) + len(box.sent)
    with Store(config.storage_path) as store:
        sync_mail(config, store)
        before_ids, before = message_ids(store), report_dicts(store, config)
        old = store.folder_state("INBOX")
        assert old is not None

        # 1. the server announces a new UIDVALIDITY for INBOX (UIDs unchanged)
        dovecot.set_uidvalidity("INBOX", old[0] + 1000)
        refetched: list[tuple[str, int]] = []
        result = sync(config, store, on_batch=lambda f, u: refetched.append((f, u)))
        assert store.folder_state("INBOX") == (old[0] + 1000, old[1], None)
        assert [f for f, _ in refetched] == ["INBOX"]  # INBOX was fetched again, Sent was not
        assert result.new == 0 and store.count_messages() == total
        assert message_ids(store) == before_ids and report_dicts(store, config) == before

        # 2. Sent deleted and re-created with the same mail: a new UIDVALIDITY, UIDs from 1
        sent_before = store.folder_state("Sent")
        dovecot.delete_folder("Sent")
        dovecot.append("Sent", box.sent[::-1])  # even in another order
        assert dovecot.status("Sent")["uidvalidity"] != sent_before[0]  # type: ignore[index]
        result = sync(config, store)
        assert result.folders == {"INBOX": 0, "Sent": 0}
        assert store.folder_state("Sent") == (dovecot.status("Sent")["uidvalidity"], len(box.sent), None)
        assert store.count_messages() == total == len(set(message_ids(store)))
        assert report_dicts(store, config) == before
        # and the re-synced folders are quiet again
        assert sync(config, store).new == 0


# --- a server lost in the middle of a sync ------------------------------------------------------
@pytest.mark.parametrize("how", ["crash", "stop"])
def test_a_server_lost_mid_sync_fails_the_cycle_and_the_next_one_completes_it(
        own_server: DovecotServer, own_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        how: str) -> None:
    box = load_sample(own_account)
    total = len(box.inbox) + len(box.sent)
    config = write_config(own_account, tmp_path / "interrupted", batch_size=20)
    batches: list[tuple[str, int]] = []

    def lose_server(folder: str, last_uid: int) -> None:
        batches.append((folder, last_uid))
        if len(batches) == 1:
            getattr(own_server, how)()  # SIGKILL everything, or kick the sessions and shut down

    # the seam: the cycle's Syncer, with a callback after each committed batch (IMAP stays real)
    monkeypatch.setattr(cycle, "Syncer", functools.partial(Syncer, on_batch=lose_server))
    with Store(config.storage_path) as store:
        with pytest.raises(ImapError, match="connection lost during sync"):
            run_cycle(config, store, None, now=NOW)
        assert batches == [("INBOX", 20)]
        assert store.count_messages() == 20 and store.folder_state("INBOX")[1] == 20  # type: ignore[index]
        with pytest.raises(ImapError, match="cannot connect"):  # still down: the next cycle fails cleanly
            run_cycle(config, store, None, now=NOW)
        own_server.start()
        result = run_cycle(config, store, None, now=NOW)
        assert result.new_messages == total - 20 and result.analysed
        resumed_ids, resumed = message_ids(store), report_dicts(store, config)
        assert len(resumed_ids) == total == len(set(resumed_ids))
        assert [f for f, _ in batches[1:]] == ["INBOX"] * 2 + ["Sent"] * 3  # resumed after UID 20, not from 1
    monkeypatch.undo()

    clean = write_config(own_account, tmp_path / "clean", batch_size=20)
    with Store(clean.storage_path) as store:
        run_cycle(clean, store, None, now=NOW)
        assert message_ids(store) == resumed_ids
        assert report_dicts(store, clean) == resumed


def test_a_stop_request_ends_the_sync_after_the_committed_batch(dovecot: ImapAccount, tmp_path: Path) -> None:
    """SIGTERM sets the stop event: the batch in hand is committed, the one fetched ahead is
    drained and dropped, the session stays usable, and the next sync resumes after it."""
    dovecot.append("INBOX", [mail(n) for n in range(1, 18)])
    config = write_config(dovecot, tmp_path, batch_size=5)
    stop = threading.Event()
    assert config.imap is not None
    with Store(config.storage_path) as store:
        client = connect(config.imap)
        try:
            result = Syncer(config.imap, store, stop=stop, on_batch=lambda f, u: stop.set()).sync(client)
            assert result.folders == {"INBOX": 5} and store.folder_state("INBOX")[1] == 5  # type: ignore[index]
            assert client.noop()  # nothing left half-read on the connection
        finally:
            _quiet_logout(client)
        assert sync(config, store).folders == {"INBOX": 12, "Sent": 0}
        assert store.count_messages() == 17


# --- vanished messages and folders ---------------------------------------------------------------
def test_a_message_expunged_between_search_and_fetch_is_skipped(dovecot: ImapAccount, tmp_path: Path) -> None:
    dovecot.append("INBOX", [mail(n) for n in range(1, 18)])
    config = write_config(dovecot, tmp_path, batch_size=5)
    committed: list[int] = []

    def expunge_ahead(folder: str, last_uid: int) -> None:
        committed.append(last_uid)
        if folder == "INBOX" and last_uid == 5:
            # UIDs 1-17 were searched; the sync fetches one batch ahead, so 6-10 may be on
            # their way already, but nothing was asked about 11-17 yet
            dovecot.expunge("INBOX", [12, 13, 17])

    with Store(config.storage_path) as store:
        result = sync(config, store, on_batch=expunge_ahead)
        assert (result.new, result.bad) == (14, 0) and committed == [5, 10, 15, 17]
        assert message_ids(store) == sorted(f"<q{n}@client.example>" for n in range(1, 18) if n not in (12, 13, 17))
        # no ghosts: Dovecot answers NIL headers and INTERNALDATE 1970 for an unannounced expunge
        assert all(m.from_addr == "ana@client.example" and m.date.year == 2026 for m in store.messages())
        assert store.bad_messages() == [] and store.folder_state("INBOX")[1] == 17  # type: ignore[index]


def test_a_configured_folder_that_does_not_exist_is_logged_and_skipped(
        dovecot: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dovecot.append("INBOX", [mail(1)])
    dovecot.append("Clients/Acme", [mail(2)])
    config = write_config(dovecot, tmp_path, folders=["Clients/Gone", "INBOX", "Clients/Acme"],
                          sent_folder="Sent Items")
    with Store(config.storage_path) as store, caplog.at_level(logging.WARNING, "clientwatch"):
        result = sync(config, store)
        assert result.missing == ["Clients/Gone", "Sent Items"]
        assert result.folders == {"INBOX": 1, "Clients/Acme": 1} and store.count_messages() == 2
        assert store.folder_state("Clients/Gone") is None
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "'Clients/Gone' does not exist" in warned and "'Sent Items' does not exist" in warned


def test_no_sent_folder_is_a_warning_and_a_sent_folder_by_name_is_found(
        own_account: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    own_account.append("INBOX", [mail(1)])
    config = write_config(own_account, tmp_path)  # sent_folder = "auto"
    with Store(config.storage_path) as store:
        with caplog.at_level(logging.WARNING, "clientwatch"):
            result = sync(config, store)
        assert result.folders == {"INBOX": 1} and result.missing == []
        assert any("no Sent folder found" in r.getMessage() for r in caplog.records)
        # a localised Sent folder without the \Sent attribute is found by its name
        own_account.append("Gesendet", [mail(2, sender=ME)])
        caplog.clear()
        with caplog.at_level(logging.WARNING, "clientwatch"):
            result = sync(config, store)
        assert result.folders == {"INBOX": 0, "Gesendet": 1}
        assert not any("no Sent folder" in r.getMessage() for r in caplog.records)


# --- malformed mail ---------------------------------------------------------------------------------
def malformed_mailbox() -> dict[str, bytes]:
    head = ("From: Ana <ana@client.example>\r\nTo: {me}\r\nSubject: {name}\r\n"
            "Date: Tue, 03 Mar 2026 10:12:00 +0100\r\nMessage-ID: <{name}@client.example>\r\n")

    def msg(name: str, extra: str, body: bytes) -> bytes:
        return (head.format(me=ME, name=name) + extra + "\r\n").encode() + body

    rng = random.Random(5)
    nested = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(50))
    nested += "--b50\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ndeep text\r\n--b50--\r\n"
    nested += "".join(f"--b{i}--\r\n" for i in reversed(range(50)))
    huge_header = ("".join(f"X-Trace-{i}: {'v' * 70}\r\n" for i in range(2500))
                   + "Cc: " + ",\r\n ".join(f"person{i}@crowd.example" for i in range(3000)) + "\r\n")
    return {
        "no-date": f"From: ana@client.example\r\nTo: {ME}\r\nSubject: no date\r\nMessage-ID: <no-date@client.example>"
                   f"\r\n\r\nhi\r\n".encode(),
        "junk": bytes(rng.randrange(1, 256) for _ in range(4000)),
        "junk-with-nul": bytes(rng.randrange(0, 256) for _ in range(4000)),
        "broken-base64": msg("broken-base64", "Content-Type: text/plain; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: base64\r\n",
                             base64.b64encode("Račun je plaćen.".encode()) + b"!!@@##\r\nZm9v===YmFy\r\n"),
        "nested-50": msg("nested-50", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n",
                         nested.encode()),
        "unknown-charset": msg("unknown-charset", "Content-Type: text/plain; charset=x-klingon-42\r\n"
                               "Content-Transfer-Encoding: 8bit\r\n", "déjà vu".encode()),
        "lying-charset": msg("lying-charset", "Content-Type: text/plain; charset=us-ascii\r\n"
                             "Content-Transfer-Encoding: 8bit\r\n", "Žao mi je".encode()),
        "huge-header": msg("huge-header", huge_header, b"under a huge header\r\n"),
        "html-only": msg("html-only", "Content-Type: text/html; charset=utf-8\r\n",
                         b"<html><body><p>Hello <b>there</b></p><script>x()</script><div>On Monday Mara wrote:"
                         b"<blockquote>earlier <i>text</i></blockquote></div></body></html>"),
        "utf8-headers": (f"From: Ivana Peri\u0107 <ivana@client.example>\r\nTo: {ME}\r\nSubject: Ra\u010dun za o\u017eujak"
                         f" \uacac\uc801\uc11c\r\nDate: Tue, 03 Mar 2026 10:12:00 +0100\r\n"
                         f"Message-ID: <utf8-headers@client.example>\r\n\r\nhi\r\n").encode(),
        "good": msg("good", "", b"a normal message\r\n"),
    }


def test_malformed_messages_are_logged_recorded_and_never_fatal(
        dovecot: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = malformed_mailbox()
    odd_internaldate = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=13, minutes=45)))
    for raw in box.values():  # one APPEND each, so UIDs follow the dict's order
        dovecot.append("INBOX", [raw], msg_time=odd_internaldate)
    config = write_config(dovecot, tmp_path)
    with Store(config.storage_path) as store, caplog.at_level(logging.WARNING, "clientwatch"):
        result = run_cycle(config, store, None, now=NOW)
        assert (result.new_messages, result.bad_messages) == (len(box) - 2, 2)
        bad = {(r["folder"], r["uid"]) for r in store.bad_messages()}
        assert bad == {("INBOX", 2), ("INBOX", 3)}  # the two junk blobs, by UID
        assert all(r["size"] >= 4000 and "not an email message" in r["reason"] for r in store.bad_messages())
        texts = {m.message_id: m for m in store.messages()}
        assert texts["<no-date@client.example>"].date == odd_internaldate  # INTERNALDATE as the fallback
        assert texts["<broken-base64@client.example>"].text.startswith("Račun je plaćen.")
        assert texts["<nested-50@client.example>"].text.strip() == "deep text"
        assert texts["<unknown-charset@client.example>"].text.strip() == "déjà vu"
        assert texts["<lying-charset@client.example>"].text.strip() == "Žao mi je"
        html = texts["<html-only@client.example>"].text
        assert html.startswith("Hello there") and "x()" not in html and "\n> earlier text" in html
        utf8 = texts["<utf8-headers@client.example>"]  # raw UTF-8 header fields (RFC 6532)
        assert (utf8.subject, utf8.from_name) == ("Račun za ožujak 견적서", "Ivana Perić")
        assert texts["<huge-header@client.example>"].cc[:2] == ("person0@crowd.example", "person1@crowd.example")
        # the good ones are analysed: all of them are the client's mail
        [client] = result.reports
        assert (client.metrics.name, client.metrics.from_client) == ("client.example", len(box) - 2)
    assert sum("skipped a malformed message" in r.getMessage() for r in caplog.records) == 2


def test_internaldate_fallback_is_right_whatever_the_local_time_zone(dovecot: ImapAccount, tmp_path: Path) -> None:
    """imapclient turns INTERNALDATE into naive *local* time by default; that must not shift dates."""
    when = datetime(2026, 7, 1, 9, 15, tzinfo=timezone.utc)
    dovecot.append("INBOX", [f"From: ana@client.example\r\nTo: {ME}\r\nSubject: s\r\n\r\nno date\r\n".encode()],
                   msg_time=when)
    config = write_config(dovecot, tmp_path)
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        with Store(config.storage_path) as store:
            sync_mail(config, store)
            [stored] = store.messages()
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert stored.date == when


# --- what is downloaded ------------------------------------------------------------------------------
def test_a_20_mb_attachment_is_never_downloaded(dovecot: ImapAccount, tmp_path: Path) -> None:
    """Measured twice, independently: the kernel's count of bytes our socket received
    (TCP_INFO), and Dovecot's count of bytes it sent in the session (its logout record).
    Neither depends on clientwatch or imapclient internals, and a whole-message FETCH
    would show up in both as more than 20 MB."""
    big = EmailMessage()
    big["From"], big["To"], big["Subject"] = "ana@client.example", ME, "Final artwork"
    big["Date"], big["Message-ID"] = "Tue, 03 Mar 2026 10:12:00 +0100", "<big@client.example>"
    big.set_content("Files attached.\n")
    big.add_attachment(random.Random(1).randbytes(20 * 1024 * 1024), maintype="application",
                       subtype="octet-stream", filename="artwork.tiff")
    long_text = mail(2, subject="Long")  # a 1 MB text part: downloaded only up to max_text_bytes
    long_text = long_text.replace(b"Question number 2.", b"Question number 2. " + b"words " * 180_000)
    dovecot.append("INBOX", [bytes(big), long_text])
    with dovecot.client() as other:
        other.select_folder("INBOX", readonly=True)
        sizes = {uid: d[b"RFC822.SIZE"] for uid, d in other.fetch([1, 2], [b"RFC822.SIZE"]).items()}
    assert sizes[1] > 20 * 1024 * 1024 and sizes[2] > 1_000_000

    config = write_config(dovecot, tmp_path, max_text_bytes=8192)
    assert config.imap is not None
    mark = log_lines(dovecot.server)
    with Store(config.storage_path) as store:
        client = connect(config.imap)
        try:
            result = Syncer(config.imap, store).sync(client)
            received = kernel_bytes_received(client.socket())
        finally:
            _quiet_logout(client)
        assert result.new == 2
        texts = {m.message_id: m.text for m in store.messages()}
    sent_by_server = logout_record(dovecot.server, dovecot.user, mark)["out"]
    assert received < 64 * 1024, received            # the whole session, greeting to last FETCH
    assert sent_by_server < 64 * 1024, sent_by_server
    assert texts["<big@client.example>"].strip() == "Files attached."
    long = texts["<q2@client.example>"]
    assert long.startswith("Question number 2. words") and len(long) <= min(8192, MAX_TEXT_CHARS)


# --- the FETCH response parser ----------------------------------------------------------------------
def test_parse_fetch_reads_what_imaplib_hands_over() -> None:
    data = [
        (b'1 (UID 7 RFC822.SIZE 42 BODY[HEADER.FIELDS (FROM SUBJECT)] {31}', b'From: a@b.example\r\nSubject: x\r\n\r\n'),
        b' INTERNALDATE " 3-Mar-2026 10:12:00 -0130" BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL'
        b' "quoted-printable" 12 1 NIL NIL NIL NIL)("application" "pdf" ("name" "a \\"b\\".pdf") NIL NIL "base64"'
        b' 900 NIL ("attachment" ("filename" "a.pdf")) NIL NIL) "mixed" ("boundary" "xyz") NIL NIL NIL))',
        b'2 (FLAGS (\\Seen))',                                   # unsolicited: no UID, ignored
        (b'3 (UID 9 BODY[1]<0> {3}', b'abc'), b' INTERNALDATE "31-Feb-2026 10:12:00 +0000" RFC822.SIZE NIL)',
    ]
    got = parse_fetch(data)
    assert set(got) == {7, 9}
    seven = got[7]
    assert seven[b"BODY[HEADER.FIELDS (FROM SUBJECT)]"] == b"From: a@b.example\r\nSubject: x\r\n\r\n"
    assert seven[b"INTERNALDATE"] == datetime(2026, 3, 3, 11, 42, tzinfo=timezone.utc)
    assert seven[b"RFC822.SIZE"] == 42
    structure = seven[b"BODYSTRUCTURE"]
    assert structure[1][2] == (b"name", b'a "b".pdf') and structure[2] == b"mixed"
    part = choose_text_part(structure)
    assert part is not None and (part.section, part.encoding, part.charset, part.size) == ("1", "quoted-printable", "utf-8", 12)
    # 31 February is no date; NIL is None
    assert got[9] == {b"UID": 9, b"BODY[1]<0>": b"abc", b"INTERNALDATE": None, b"RFC822.SIZE": None}


def test_uid_sets_are_sent_as_ranges() -> None:
    assert _seqset([10, 9, 1, 2, 3, 7, 3]) == "1:3,7,9:10"
    assert _seqset([5]) == "5"
    assert len(_seqset(list(range(1, 20_001)))) < 20  # imapclient would send a 109 KB list (BAD: line too long)


def test_the_fetch_parser_agrees_with_imapclient_on_real_dovecot_answers(dovecot: ImapAccount) -> None:
    """The reference: imapclient's own parser, on the sample mailbox and the malformed one."""
    dovecot.append("INBOX", sample().inbox + list(malformed_mailbox().values()))
    header = ("BODY.PEEK[HEADER.FIELDS (" + " ".join(HEADER_FIELDS) + ")]").encode()
    with dovecot.client() as client:
        client.normalise_times = False
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        theirs = client.fetch(uids, [b"BODYSTRUCTURE", b"INTERNALDATE", b"RFC822.SIZE", header, b"BODY.PEEK[1]<0.300>"])
        ours = uid_fetch(client, uids, b"(BODYSTRUCTURE INTERNALDATE RFC822.SIZE " + header + b" BODY.PEEK[1]<0.300>)")
    assert set(ours) == set(theirs) == set(uids)
    for uid in uids:
        a, b = ours[uid], theirs[uid]
        assert a[b"INTERNALDATE"] == b[b"INTERNALDATE"] and a[b"RFC822.SIZE"] == b[b"RFC822.SIZE"]
        assert {k: v for k, v in a.items() if k.startswith(b"BODY[")} == \
            {k: v for k, v in b.items() if k.startswith(b"BODY[")}
        mine, reference = choose_text_part(a[b"BODYSTRUCTURE"]), choose_text_part(b[b"BODYSTRUCTURE"])
        assert (mine and (mine.section, mine.subtype, mine.encoding, mine.charset, mine.size)) == \
            (reference and (reference.section, reference.subtype, reference.encoding, reference.charset, reference.size))
