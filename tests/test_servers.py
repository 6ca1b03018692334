"""Proof that the test servers in tests/servers.py behave as the other tests assume."""

from __future__ import annotations

import datetime as dt
import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError

from servers import (
    DovecotServer,
    SmtpSink,
    free_port,
    make_self_signed_cert,
    silent_listener,
)

DISCONNECTED = (IMAPClientAbortError, OSError)  # what a dropped IMAP session raises


def assert_dropped(client: IMAPClient) -> None:
    """The client's next command fails because the server side went away."""
    try:
        with pytest.raises(DISCONNECTED):
            client.noop()
    finally:
        try:
            client.shutdown()  # close our end of the dead socket
        except OSError:
            pass


def raw_message(i: int, subject: str | None = None) -> bytes:
    return (
        f"From: Sender {i} <sender{i}@example.test>\r\n"
        f"To: Alice <alice@example.test>\r\n"
        f"Subject: {subject or f'message {i}'}\r\n"
        f"Date: Mon, 06 Jan 2025 10:{i % 60:02d}:00 +0000\r\n"
        f"Message-ID: <m{i}@example.test>\r\n"
        f"\r\n"
        f"Body of message {i}.\r\n"
    ).encode()


def imap_status(client: IMAPClient, folder: str = "INBOX") -> dict[bytes, int]:
    return client.folder_status(folder, [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"])


# --------------------------------------------------------------------------- IMAP


def test_login_over_starttls_verifying_cert(dovecot):
    ctx = ssl.create_default_context(cafile=dovecot.cert_path)
    with IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10) as c:
        assert b"STARTTLS" in c.capabilities()
        c.starttls(ctx)
        c.login(dovecot.user, dovecot.password)
        assert c.select_folder("INBOX")[b"EXISTS"] == 0


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_login_over_implicit_tls_verifying_cert(dovecot, hostname):
    ctx = ssl.create_default_context(cafile=dovecot.cert_path)
    with IMAPClient(hostname, dovecot.imaps_port, ssl=True, ssl_context=ctx, timeout=10) as c:
        c.login(dovecot.user, dovecot.password)
        assert c.select_folder("INBOX")[b"EXISTS"] == 0


def test_tls_with_system_cas_rejects_the_self_signed_cert(dovecot):
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot.host, dovecot.imaps_port, ssl=True,
                   ssl_context=ssl.create_default_context(), timeout=10)


def test_capabilities_and_special_use(dovecot):
    with dovecot.client() as c:
        caps = set(c.capabilities())
        assert {b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE", b"MULTIAPPEND", b"IDLE",
                b"UIDPLUS", b"MOVE"} <= caps
        folders = {name: flags for flags, _sep, name in c.list_folders()}
    assert b"\\Sent" in folders["Sent"]
    assert b"\\Drafts" in folders["Drafts"]
    assert b"\\Trash" in folders["Trash"]
    assert b"\\Junk" in folders["Junk"]


def test_bad_password_fails_fast(dovecot):
    for _ in range(2):  # the 2nd failure would take 4.5 s with the auth penalty on
        t0 = time.monotonic()
        with pytest.raises(LoginError):
            dovecot.server.client(dovecot.user, "wrong-password")
        assert time.monotonic() - t0 < 2.0


def test_append_and_count(dovecot):
    dovecot.append("INBOX", [raw_message(i) for i in range(3)])
    assert dovecot.message_count("INBOX") == 3

    # > 500 messages: several MULTIAPPEND chunks, into a folder that doesn't exist yet
    when = dt.datetime(2024, 5, 17, 8, 30, tzinfo=dt.timezone.utc)
    dovecot.append("Archive/2024", [raw_message(i) for i in range(1201)],
                   flags=[b"\\Seen"], msg_time=when)
    assert dovecot.message_count("Archive/2024") == 1201

    with dovecot.client() as c:
        c.select_folder("Archive/2024", readonly=True)
        uids = c.search(["ALL"])
        assert len(uids) == 1201 and len(c.search(["UNSEEN"])) == 0
        data = c.fetch(uids[:1], [b"INTERNALDATE", b"FLAGS"])[uids[0]]
        assert data[b"INTERNALDATE"].astimezone(dt.timezone.utc) == when
        assert b"\\Seen" in data[b"FLAGS"]


def test_accounts_are_isolated(dovecot, dovecot_server):
    dovecot.append("INBOX", [raw_message(1)])
    dovecot_server.add_user("isolation-check", "pw-isolation")
    assert dovecot_server.message_count("INBOX", user="isolation-check") == 0
    assert dovecot.message_count("INBOX") == 1


def test_create_expunge_delete_folder(dovecot):
    dovecot.create_folder("Projects")
    dovecot.append("Projects", [raw_message(i) for i in range(6)])
    dovecot.expunge("Projects", [2, 3, 5])
    with dovecot.client() as c:
        c.select_folder("Projects", readonly=True)
        assert c.search(["ALL"]) == [1, 4, 6]
    dovecot.delete_folder("Projects")
    with dovecot.client() as c:
        assert not c.folder_exists("Projects")


def test_set_uidvalidity(dovecot):
    dovecot.append("INBOX", [raw_message(i) for i in range(2)])
    with dovecot.client() as c:
        before = imap_status(c)
    dovecot.set_uidvalidity("INBOX", 12345)
    with dovecot.client() as c:
        after = imap_status(c)
    assert before[b"UIDVALIDITY"] != 12345
    assert after[b"UIDVALIDITY"] == 12345
    assert after[b"UIDNEXT"] == before[b"UIDNEXT"] == 3


def test_kick_drops_connected_client(dovecot):
    c = dovecot.client()
    c.select_folder("INBOX")
    dovecot.kick()
    assert_dropped(c)
    with dovecot.client() as c2:  # the server itself stays up
        c2.noop()


# ---------------------------------------------- lifecycle (on a private instance)


@pytest.fixture(scope="module")
def private_server():
    with DovecotServer(users={"bob": "pw-bob"}) as server:
        yield server


def test_restart_keeps_ports_data_and_uidvalidity(private_server):
    srv = private_server
    srv.append("INBOX", [raw_message(i) for i in range(5)], user="bob")
    ports = (srv.imap_port, srv.imaps_port)
    with srv.client("bob") as c:
        before = imap_status(c)

    t0 = time.monotonic()
    srv.stop()
    stop_s = time.monotonic() - t0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((srv.host, srv.imap_port), timeout=2)
    t0 = time.monotonic()
    srv.start()
    start_s = time.monotonic() - t0

    assert (srv.imap_port, srv.imaps_port) == ports
    with srv.client("bob") as c:
        assert imap_status(c) == before
    assert stop_s < 3 and start_s < 2, (stop_s, start_s)

    srv.restart()
    assert srv.message_count("INBOX", user="bob") == 5


def test_stop_ends_logged_in_sessions(private_server):
    c = private_server.client("bob")
    c.select_folder("INBOX")
    private_server.stop()
    try:
        assert_dropped(c)
    finally:
        private_server.start()


def test_crash_then_start_works_repeatedly(private_server):
    srv = private_server
    srv.append("Crashy", [raw_message(i) for i in range(4)], user="bob")
    for _ in range(3):
        c = srv.client("bob")
        c.select_folder("Crashy")
        srv.crash()
        assert not srv.running
        assert_dropped(c)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((srv.host, srv.imaps_port), timeout=2)
        srv.start()
        with srv.client("bob") as c:
            assert c.select_folder("Crashy")[b"EXISTS"] == 4


def test_close_leaves_no_processes_or_files():
    srv = DovecotServer()
    srv.start()
    title = srv.instance_name + "/"
    directory = srv.directory
    with srv.client() as c:
        c.noop()
    srv.close()
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if cmd.startswith(title.encode()) and state != "Z":
                left.append(cmd)
    assert left == []
    assert not os.path.exists(directory)


# --------------------------------------------------------------------------- SMTP


def make_email(subject: str = "Hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "watcher@example.test"
    msg["To"] = "ops@example.test"
    msg["Subject"] = subject
    msg.set_content("Body text\n")
    return msg


def smtp(sink: SmtpSink) -> smtplib.SMTP:
    return smtplib.SMTP(sink.host, sink.port, local_hostname="client.example.test", timeout=10)


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cert")
    cert, key = make_self_signed_cert(str(directory))
    return cert, key


def test_smtp_sink_receives_plain(smtp_sink):
    with smtp(smtp_sink) as s:
        s.send_message(make_email("plain one"), to_addrs=["ops@example.test", "cc@example.test"])
    (msg,) = smtp_sink.wait_for(1)
    assert msg["Subject"] == "plain one"
    assert msg.get_content() == "Body text\n"
    assert smtp_sink.envelopes == [("watcher@example.test", ["ops@example.test", "cc@example.test"])]


def test_smtp_sink_starttls_verifying_cert(tls_pair):
    cert, key = tls_pair
    with SmtpSink(tls_cert=cert, tls_key=key) as sink:
        with smtp(sink) as s:
            s.starttls(context=ssl.create_default_context(cafile=cert))
            s.send_message(make_email("over tls"))
        assert sink.wait_for(1)[0]["Subject"] == "over tls"


def test_smtp_sink_auth_success_and_535():
    with SmtpSink(require_auth=("mailer", "s3cret")) as sink:
        with smtp(sink) as s:
            with pytest.raises(smtplib.SMTPAuthenticationError) as info:
                s.login("mailer", "wrong")
            assert info.value.smtp_code == 535
        with smtp(sink) as s:
            with pytest.raises(smtplib.SMTPSenderRefused) as info:  # AUTH required
                s.send_message(make_email("no auth"))
            assert info.value.smtp_code == 530
        with smtp(sink) as s:
            s.login("mailer", "s3cret")
            s.send_message(make_email("authed"))
        assert [m["Subject"] for m in sink.wait_for(1)] == ["authed"]
        assert sink.auth_logins == ["mailer"]
        # smtplib.login() tries PLAIN, then LOGIN, before giving up
        assert sink.auth_attempts[-1] == ("mailer", True)
        assert {ok for _user, ok in sink.auth_attempts[:-1]} == {False}


def test_smtp_sink_auth_after_starttls(tls_pair):
    cert, key = tls_pair
    with SmtpSink(tls_cert=cert, tls_key=key, require_auth=("mailer", "s3cret")) as sink:
        with smtp(sink) as s:
            s.ehlo()
            assert not s.has_extn("auth")  # with TLS configured, AUTH only after STARTTLS
            s.starttls(context=ssl.create_default_context(cafile=cert))
            s.login("mailer", "s3cret")
            s.send_message(make_email("tls+auth"))
        assert sink.wait_for(1)[0]["Subject"] == "tls+auth"


def test_smtp_sink_refuse_and_recover(smtp_sink):
    smtp_sink.refuse(451)
    with smtp(smtp_sink) as s:
        with pytest.raises(smtplib.SMTPDataError) as info:
            s.send_message(make_email("deferred"))
    assert info.value.smtp_code == 451
    assert isinstance(info.value, smtplib.SMTPResponseException)

    smtp_sink.refuse(554, stage="RCPT")
    with smtp(smtp_sink) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as rinfo:
            s.send_message(make_email("rejected"))
    assert rinfo.value.recipients["ops@example.test"][0] == 554
    assert smtp_sink.messages == []

    smtp_sink.refuse(None)
    with smtp(smtp_sink) as s:
        s.send_message(make_email("accepted"))
    assert [m["Subject"] for m in smtp_sink.wait_for(1)] == ["accepted"]


def test_smtp_sink_restart_keeps_port(smtp_sink):
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((smtp_sink.host, port), timeout=2)
    smtp_sink.start()
    assert smtp_sink.port == port
    with smtp(smtp_sink) as s:
        s.send_message(make_email("after restart"))
    assert smtp_sink.wait_for(1)[0]["Subject"] == "after restart"
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(2, timeout=0.1)


# -------------------------------------------------------------------------- misc


def test_silent_listener_times_out():
    listener, port = silent_listener()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:  # accepted...
            with pytest.raises(TimeoutError):  # ...but never answered
                s.recv(1)
        with pytest.raises(TimeoutError):
            IMAPClient("127.0.0.1", port, ssl=False, timeout=0.3)
        with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
            smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.test", timeout=0.3)
    finally:
        listener.close()


def test_free_port_is_bindable():
    a, b = free_port(), free_port()
    assert a != b
    with socket.socket() as s:
        s.bind(("127.0.0.1", a))
