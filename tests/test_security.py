"""Proof under attack: TLS is verified and never silently dropped, clear-text logins only to
loopback, secrets and message bodies never reach a log, files are private, client-written
text cannot add headers, recipients or markup to an alert, and secret commands run without
a shell and under a timeout. All against the real Dovecot and SMTP servers of the suite.
"""
from __future__ import annotations

import html.parser
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from servers import ImapAccount, SmtpSink, make_self_signed_cert
from test_faults import (ABUSE, ME, SENDER, abusive, cached_models, db_query, mail, model_path,  # noqa: F401
                         run_cli, write_config)

from clientwatch import config as config_module
from clientwatch.config import load_config
from clientwatch.errors import ModelError
from clientwatch.tone import ToneModel


def tls_imap(account: ImapAccount, security: str, ca: str | None) -> dict[str, object]:
    return {"port": account.imaps_port if security == "ssl" else account.imap_port,
            **({"tls_ca_file": ca} if ca else {})}


def other_ca(directory: Path) -> str:
    """A self-signed certificate for localhost that is not the server's."""
    directory.mkdir(parents=True, exist_ok=True)
    return make_self_signed_cert(str(directory))[0]


# =================================================================================================
# 1. TLS: verified, with a private CA only when configured; never downgraded
# =================================================================================================
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_refuses_a_self_signed_certificate_unless_it_is_the_configured_ca(
        dovecot: ImapAccount, tmp_path: Path, security: str) -> None:
    dovecot.append("INBOX", abusive(["vera.k@gmail.com"], datetime.now(timezone.utc)))
    for name, ca in (("system CAs", None), ("another CA", other_ca(tmp_path / "other"))):
        config = write_config(tmp_path / name, dovecot, security=security, imap=tls_imap(dovecot, security, ca))
        code, _out, err = run_cli(config, "run", "--once")
        assert code == 4, (name, err)
        assert "certificate is not trusted" in err and "imap.tls_ca_file" in err, err
        assert not (tmp_path / name / "state" / "clientwatch.db").exists() or db_query(
            tmp_path / name / "state" / "clientwatch.db", "SELECT COUNT(*) FROM messages") == [(0,)]

    config = write_config(tmp_path / "trusted", dovecot, security=security,
                          imap=tls_imap(dovecot, security, dovecot.cert_path))
    code, out, err = run_cli(config, "run", "--once")
    assert code == 0 and "1 new" in out, err


def test_smtp_starttls_refuses_a_self_signed_certificate_unless_it_is_the_configured_ca(
        dovecot: ImapAccount, tmp_path: Path) -> None:
    with SmtpSink(tls_cert=dovecot.cert_path, tls_key=dovecot.server.key_path, require_starttls=True) as sink:
        for name, ca in (("system CAs", None), ("another CA", other_ca(tmp_path / "other"))):
            smtp = {"smtp_port": sink.port, "smtp_security": "starttls", **({"tls_ca_file": ca} if ca else {})}
            config = write_config(tmp_path / name, dovecot, smtp=smtp)
            code, _out, err = run_cli(config, "check")
            assert code == 4, (name, err)
            assert "certificate is not trusted" in err and "alerts.tls_ca_file" in err, err
        smtp = {"smtp_port": sink.port, "smtp_security": "starttls", "tls_ca_file": dovecot.cert_path}
        config = write_config(tmp_path / "trusted", dovecot, smtp=smtp)
        code, out, err = run_cli(config, "check")
        assert code == 0 and f"SMTP: 127.0.0.1:{sink.port} (starttls): ok" in out, err


def test_smtp_starttls_is_never_silently_dropped(dovecot: ImapAccount, model_path: Path, tmp_path: Path,
                                                 cached_models: None) -> None:
    """A server (or a man in the middle) that does not offer STARTTLS gets nothing: not the
    password, not the alert. The alert stays queued with advice."""
    dovecot.append("INBOX", abusive(["vera.k@gmail.com"], datetime.now(timezone.utc)))
    password = tmp_path / "smtp-password"
    password.write_text("Smtp-Never-In-Clear\n")
    with SmtpSink(require_auth=("cw", "Smtp-Never-In-Clear"), auth_require_tls=False) as sink:
        smtp = {"smtp_port": sink.port, "smtp_security": "starttls", "smtp_username": "cw",
                "smtp_password_file": str(password)}
        config = write_config(tmp_path, dovecot, model=model_path, smtp=smtp)
        code, _out, err = run_cli(config, "check")
        assert code == 4 and "does not offer STARTTLS" in err
        code, out, err = run_cli(config, "run", "--once")
        assert code == 0 and "1 alert(s) queued, 0 sent" in out, err
        assert sink.messages == [] and sink.auth_attempts == []
    (row,) = db_query(tmp_path / "state" / "clientwatch.db", "SELECT status, last_error FROM outbox")
    assert row[0] == "pending" and "does not offer STARTTLS" in row[1]


# =================================================================================================
# 2. Clear text only to loopback
# =================================================================================================
@pytest.mark.parametrize("host", ["imap.example.com", "10.0.0.5", "192.168.1.10", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "0.0.0.0", "::", "fe80::1"])
def test_security_none_is_refused_for_non_loopback_hosts(dovecot: ImapAccount, tmp_path: Path, host: str) -> None:
    config = write_config(tmp_path / "imap", dovecot, host=host, security="none")
    code, _out, err = run_cli(config, "run", "--once")
    assert code == 3
    assert "imap.security" in err and "loopback" in err and repr(host) in err

    smtp = {"smtp_host": host, "smtp_security": "none", "smtp_port": 25}
    config = write_config(tmp_path / "smtp", dovecot, smtp=smtp)
    code, _out, err = run_cli(config, "check")
    assert code == 3
    assert "alerts.smtp_security" in err and "loopback" in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_security_none_is_allowed_for_loopback_hosts(dovecot: ImapAccount, tmp_path: Path, host: str) -> None:
    config = load_config(write_config(tmp_path, dovecot, host=host, security="none",
                                      smtp={"smtp_host": host, "smtp_security": "none", "smtp_port": 25}))
    assert config.imap is not None and config.imap.security == "none"
    assert config.alerts is not None and config.alerts.smtp_security == "none"


# =================================================================================================
# 3. Secrets and message bodies never reach a log
# =================================================================================================
SMTP_SECRET = "Smtp-Pass-c20b41"
MARKERS = ["Bodymarker-one-5d1c", "Bodymarker-two-a8e2", "Bodymarker-html-90f3"]


def _secret_mailbox(account: ImapAccount) -> None:
    now = datetime.now(timezone.utc)
    html_body = (f"From: Ivo <ivo.b@gmail.com>\r\nTo: {ME}\r\nSubject: Update\r\n"
                 f"Date: {format_datetime(now - timedelta(hours=5))}\r\nMessage-ID: <html-1@gmail.com>\r\n"
                 "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                 f"<p>You stupid idiot. {MARKERS[2]}</p>\r\n").encode()
    account.append("INBOX", [
        mail("vera.k@gmail.com", "Logo", f"{ABUSE[0]} {MARKERS[0]}", now - timedelta(hours=3), "<s1@gmail.com>"),
        mail("ana@client.example", "Brief", f"Thanks for the drafts. {MARKERS[1]}", now - timedelta(hours=4),
             "<s2@client.example>"),
        html_body])


def test_no_password_or_message_body_reaches_any_log_at_debug_level(
        dovecot: ImapAccount, model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        cached_models: None) -> None:
    """A whole cycle, `digest`, `check` and `report`, at DEBUG (-v), in-process (every logger,
    the root included, captured) and as a real process (all of stderr and stdout): neither
    password nor any body marker appears anywhere, though the mail was fetched, classified
    and the alert with its quotes really went out over an authenticated session."""
    _secret_mailbox(dovecot)
    (tmp_path / "smtp-password").write_text(SMTP_SECRET + "\n")
    (tmp_path / "smtp-password").chmod(0o600)
    with SmtpSink(require_auth=("cw-alerts", SMTP_SECRET), auth_require_tls=False) as sink:
        smtp = {"smtp_port": sink.port, "smtp_username": "cw-alerts",
                "smtp_password_file": str(tmp_path / "smtp-password")}
        config = write_config(tmp_path / "in-process", dovecot, model=model_path, smtp=smtp)
        caplog.set_level(logging.DEBUG)
        outputs = []
        for args in (("-v", "run", "--once"), ("-v", "digest"), ("-v", "check"), ("-v", "report")):
            code, out, err = run_cli(config, *args)
            assert code == 0, err
            outputs += [out, err]
        sink.wait_for(1)
        assert any(MARKERS[0] in m.get_body(("plain",)).get_content() for m in sink.messages)  # it was read
        assert sink.auth_logins and all(login == "cw-alerts" for login in sink.auth_logins)

        config = write_config(tmp_path / "subprocess", dovecot, model=model_path, smtp=smtp)
        sent_before = len(sink.messages)
        done = subprocess.run([sys.executable, "-m", "clientwatch.cli", "--config", str(config), "-v", "run", "--once"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert len(sink.messages) > sent_before
    everything = "\n".join([caplog.text, *outputs, done.stdout, done.stderr])
    assert "DEBUG clientwatch" in done.stderr and any(r.levelno == logging.DEBUG for r in caplog.records), \
        "debug logging was not on: the check would be empty"
    for secret in (dovecot.password, SMTP_SECRET, *MARKERS, "stupid idiot", "Thanks for the drafts"):
        assert secret not in everything, f"{secret!r} reached a log"


def test_secrets_are_masked_in_repr_and_in_error_messages(dovecot: ImapAccount, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path, dovecot, secret="inline",
                          smtp={"smtp_port": 25, "smtp_username": "cw", "smtp_password_command": f"echo {SMTP_SECRET}"})
    loaded = load_config(config)
    for shown in (repr(loaded), str(loaded), repr(loaded.imap), repr(loaded.alerts)):
        assert dovecot.password not in shown and SMTP_SECRET not in shown
        assert "***" in shown
    # a refused login names the account, never the password that was tried
    config.write_text(config.read_text().replace(dovecot.password, dovecot.password + "-wrong"))
    caplog.set_level(logging.DEBUG)
    code, out, err = run_cli(config, "-v", "run", "--once")
    assert code == 4 and f"login refused for {dovecot.user}" in err
    assert dovecot.password not in err + out + caplog.text


# =================================================================================================
# 4. Files
# =================================================================================================
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_is_private_even_with_a_permissive_umask(dovecot: ImapAccount, tmp_path: Path) -> None:
    """`run --once` under umask 000 creates the store directory 0700 and the store 0600; while
    a store is open its -wal and -shm are 0600 too; the outbox lives in the same file."""
    dovecot.append("INBOX", abusive(["vera.k@gmail.com"], datetime.now(timezone.utc)))
    state = tmp_path / "state" / "deep"
    config = write_config(tmp_path, dovecot, storage=state / "clientwatch.db",
                          smtp={"smtp_port": 9})  # nothing listens: an alert would stay queued
    done = subprocess.run([sys.executable, "-c", "import os, sys; os.umask(0); from clientwatch.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "--config", str(config), "run", "--once"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _mode(state) == 0o700
    assert sorted(p.name for p in state.iterdir()) == ["clientwatch.db"]
    assert _mode(state / "clientwatch.db") == 0o600
    tables = {r[0] for r in db_query(state / "clientwatch.db", "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"messages", "outbox", "flag_state"} <= tables

    from clientwatch.store import Store

    old = os.umask(0)
    try:
        with Store(state / "clientwatch.db") as store:
            store.set_meta("probe", "1")
            for name in ("clientwatch.db", "clientwatch.db-wal", "clientwatch.db-shm"):
                assert _mode(state / name) == 0o600, name
        fresh = tmp_path / "fresh" / "x" / "clientwatch.db"
        with Store(fresh):
            assert _mode(fresh.parent) == 0o700
            assert {_mode(fresh.parent / n) for n in os.listdir(fresh.parent)} == {0o600}
    finally:
        os.umask(old)


def test_an_existing_store_readable_by_others_is_made_private(dovecot: ImapAccount, tmp_path: Path) -> None:
    db = tmp_path / "state" / "clientwatch.db"
    db.parent.mkdir(mode=0o700)
    db.touch(mode=0o644)
    db.chmod(0o644)
    config = write_config(tmp_path, dovecot, storage=db)
    assert run_cli(config, "run", "--once")[0] == 0
    assert _mode(db) == 0o600


@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o640, True), (0o604, True), (0o600, False),
                                          (0o400, False)])
def test_an_inline_password_in_a_config_others_can_read_is_warned_about(
        dovecot: ImapAccount, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, warned: bool) -> None:
    config = write_config(tmp_path, dovecot, secret="inline", mode=mode)
    caplog.set_level(logging.WARNING, logger="clientwatch")
    load_config(config)
    found = [r.getMessage() for r in caplog.records if "inline password" in r.getMessage()]
    assert bool(found) == warned
    if warned:
        assert "imap.password" in found[0] and "chmod 600" in found[0] and dovecot.password not in found[0]
    caplog.clear()
    file_config = write_config(tmp_path / "file", dovecot, mode=mode)  # password_file: nothing secret inside
    load_config(file_config)
    assert not [r for r in caplog.records if "inline password" in r.getMessage()]


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666, 0o620])
def test_a_model_file_writable_by_group_or_others_is_refused(
        dovecot: ImapAccount, model_path: Path, tmp_path: Path, mode: int) -> None:
    unsafe = tmp_path / "tone.joblib"
    shutil.copyfile(model_path, unsafe)
    unsafe.chmod(mode)
    with pytest.raises(ModelError, match="group or others can write"):
        ToneModel.load(unsafe)
    texts = tmp_path / "in.jsonl"
    texts.write_text(json.dumps({"id": 1, "subject": "Logo", "text": ABUSE[0]}) + "\n")
    config = write_config(tmp_path, dovecot, model=unsafe)
    code, out, err = run_cli(config, "classify", str(texts))
    assert code == 3 and out == "" and "refusing to load" in err and str(unsafe) in err
    if mode != 0o664:
        return
    unsafe.chmod(0o644)
    code, out, _err = run_cli(config, "classify", str(texts))
    assert code == 0 and json.loads(out)["id"] == 1


# =================================================================================================
# 5. Client-written text cannot add headers, recipients or markup to an alert
# =================================================================================================
ALERT_HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted", "x-auto-response-suppress",
                 "x-clientwatch", "mime-version", "content-type"}
SAFE_TAGS = {"html", "head", "meta", "body", "p", "div", "h2", "h3", "b", "br", "table", "tr", "td", "blockquote",
             "pre"}
SAFE_ATTRIBUTES = {"style", "charset", "name", "content"}


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _hostile_mailbox(account: ImapAccount) -> list[str]:
    """Abusive mail whose every client-controlled field tries to break out of its place."""
    now = datetime.now(timezone.utc)
    when = lambda h: format_datetime(now - timedelta(hours=h))  # noqa: E731
    body = ("You useless idiot, you ruined everything, I will destroy your reputation online.\r\n"
            "<script>alert(document.cookie)</script></blockquote><a href=\"javascript:alert(1)\">click</a>\r\n"
            "<img src=x onerror=alert(2)><iframe src=//evil.example></iframe>\r\n"
            "Bcc: evil-body@evil.example\r\nTo: evil-body@evil.example\r\n.\r\nRCPT TO:<evil-smtp@evil.example>\r\n")
    raws = [
        # a display name that decodes to CR LF + a header, with markup
        ("=?utf-8?q?Eve_=3Cscript=3Ealert=281=29=3C/script=3E=0D=0ABcc=3A_evil-name@evil.example?= "
         "<eve.x@gmail.com>", "Logo"),
        # a subject that decodes to CR LF + headers, with markup and Unicode line breaks
        ("Mallory <mallory.y@gmail.com>", "=?utf-8?b?" + __import__("base64").b64encode(
            "Invoice\r\nBcc: evil-subject@evil.example\r\nContent-Type: text/html\u2028X-Evil: 1\u0085"
            "<img src=x onerror=alert(3)>".encode()).decode() + "?="),
        # header look-alikes in a plain display name and subject
        ('"Bcc: evil-quoted@evil.example" <trent.z@gmail.com>', "Re: To: evil-subj2@evil.example <b>hi</b>"),
    ]
    messages = []
    for n, (sender, subject) in enumerate(raws):
        messages.append((f"From: {sender}\r\nTo: {ME}\r\nSubject: {subject}\r\nDate: {when(n + 2)}\r\n"
                         f"Message-ID: <hostile-{n}@gmail.com>\r\nMIME-Version: 1.0\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode())
    account.append("INBOX", messages)
    return ["eve.x@gmail.com", "mallory.y@gmail.com", "trent.z@gmail.com"]


def test_client_text_cannot_add_headers_recipients_or_markup_to_alerts(
        dovecot: ImapAccount, smtp_sink: SmtpSink, model_path: Path, tmp_path: Path, cached_models: None) -> None:
    clients = _hostile_mailbox(dovecot)
    config = write_config(tmp_path, dovecot, sink=smtp_sink, model=model_path,
                          smtp={"immediate": ["abusive", "controlling", "stalling"]})
    code, out, err = run_cli(config, "run", "--once")
    assert code == 0, err
    assert run_cli(config, "digest")[0] == 0
    alerts = smtp_sink.messages
    assert sorted(str(m["Subject"]) for m in alerts if "is abusive" in str(m["Subject"])) == sorted(
        f"clientwatch: {c} is abusive" for c in clients)
    for raw, envelope, alert in zip(smtp_sink.raw, smtp_sink.envelopes, alerts):
        assert envelope == (SENDER, [ME])
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in (" ", "\t")]
        assert sorted(names) == sorted(ALERT_HEADERS), names  # each exactly once, nothing added
        for key in alert.keys():
            value = str(alert[key])
            assert "evil" not in value and "\n" not in value and "\r" not in value, (key, value)
        assert b"evil-smtp" not in raw.split(b"\r\n\r\n", 1)[0]
        parts = {p.get_content_type(): p for p in alert.walk() if not p.is_multipart()}
        assert set(parts) == {"text/plain", "text/html"}
        page = parts["text/html"].get_content()
        parser = _Tags()
        parser.feed(page)
        assert {t for t, _ in parser.tags} <= SAFE_TAGS, {t for t, _ in parser.tags} - SAFE_TAGS
        assert {a for _, attrs in parser.tags for a, _ in attrs} <= SAFE_ATTRIBUTES
        for bad in ("<script", "<img", "<iframe", "<a ", "onerror=\"", "</blockquote><a"):
            assert bad not in page.lower(), bad
    # the hostile subjects are quoted as evidence, escaped (tags in bodies are dropped as markup)
    pages = "".join(m.get_body(("html",)).get_content() for m in alerts)
    assert "&lt;img src=x onerror=alert(3" in pages and "&lt;b&gt;hi&lt;/b&gt;" in pages


# =================================================================================================
# 6. Secret commands: no shell, a timeout, clear failures
# =================================================================================================
def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return path


def test_password_command_runs_without_a_shell(dovecot: ImapAccount, tmp_path: Path) -> None:
    argv_file = tmp_path / "argv"
    script = _script(tmp_path, "pw.sh", f'for a in "$@"; do printf "%s\\n" "$a"; done > {argv_file}\n'
                                        f'echo {dovecot.password}\n')
    marks = [tmp_path / f"mark{i}" for i in range(3)]
    command = f"{script} $(touch {marks[0]}) ; touch {marks[1]} | tee {marks[2]} `id` $HOME"
    config = write_config(tmp_path, dovecot, secret=None, imap={"password_command": command})
    code, _out, err = run_cli(config, "run", "--once")
    assert code == 0, err
    assert not any(m.exists() for m in marks)
    assert argv_file.read_text().splitlines() == ["$(touch", f"{marks[0]})", ";", "touch", str(marks[1]), "|", "tee",
                                                  str(marks[2]), "`id`", "$HOME"]


@pytest.mark.parametrize("key", ["password_command", "oauth2_token_command", "smtp_password_command"])
@pytest.mark.parametrize("fault", ["hangs", "fails", "prints nothing", "not found", "not executable"])
def test_a_failing_secret_command_is_a_clear_config_error_exit_3(
        dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, fault: str) -> None:
    monkeypatch.setattr(config_module, "SECRET_COMMAND_TIMEOUT", 0.5)
    pid_file = tmp_path / "child.pid"
    scripts = {
        # a wrapper whose child outlives it unless the whole process group is killed
        "hangs": _script(tmp_path, "hang.sh", f"sleep 30 &\necho $! > {pid_file}\nwait\n"),
        "fails": _script(tmp_path, "fail.sh", "echo 'leaked-stderr-hunter2' >&2\nexit 7\n"),
        "prints nothing": _script(tmp_path, "empty.sh", "exit 0\n"),
        "not found": tmp_path / "no-such-helper",
        "not executable": tmp_path / "in.txt",
    }
    (tmp_path / "in.txt").write_text("not a program\n")
    command = str(scripts[fault])
    if key == "smtp_password_command":
        imap: dict[str, object] = {}
        smtp: dict[str, object] | None = {"smtp_port": 25, "smtp_username": "cw", key: command}
        shown = f"alerts.{key}"
        dovecot.append("INBOX", abusive(["vera.k@gmail.com"], datetime.now(timezone.utc)))
    else:
        imap, smtp, shown = {key: command}, None, f"imap.{key}"
    config = write_config(tmp_path, dovecot, imap=imap, smtp=smtp, secret="file" if smtp else None)
    if key == "smtp_password_command":  # an alert must be due, so that SMTP is used at all
        from clientwatch.store import AlertStore, Store

        cfg = load_config(config)
        with Store(cfg.storage_path) as store, store.transaction() as db:
            AlertStore(store).enqueue(db, "<probe@cw>", "abusive", "vera.k@gmail.com", b"Subject: x\r\n\r\nx\r\n")
    started = time.monotonic()
    code, _out, err = run_cli(config, "check" if key != "smtp_password_command" else "run", *(
        ["--once"] if key == "smtp_password_command" else []))
    elapsed = time.monotonic() - started
    assert code == 3, err
    assert shown in err, err
    expected = {"hangs": "did not finish within 0.5 s", "fails": "exited with status 7",
                "prints nothing": "printed nothing", "not found": "command not found",
                "not executable": "cannot run"}[fault]
    assert expected in err and "leaked-stderr" not in err and "Traceback" not in err
    assert elapsed < 5
    if fault == "hangs":
        child = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(child), "the command's child outlived the timeout"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False
