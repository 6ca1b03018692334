"""Alerts end to end, against a real Dovecot (IMAP) and a real aiosmtpd sink (SMTP).

The tone model is a real one, fitted once per session on the committed corpus (the
``tone_model_path`` fixture in conftest.py). Where a test depends on how the model reads
the sample mailbox, it takes the flags from the actual report rather than from the
generator's expectations; the core scenario (the abusive client is alerted at once,
the rest goes in the digest) must hold either way.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from servers import SmtpSink

from clientwatch import samples
from clientwatch.alerts import RETRY_CAP, Notifier
from clientwatch.analysis import analyze
from clientwatch.cli import main
from clientwatch.config import Config, load_config
from clientwatch.cycle import run_cycle
from clientwatch.store import AlertStore, Store
from clientwatch.tone import ToneModel

ME = samples.ME
TZ = ZoneInfo(samples.TIMEZONE)
SENDER = "clientwatch@studio-kvadrat.example"
HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted", "x-auto-response-suppress",
           "x-clientwatch", "mime-version", "content-type"}
ABUSE = [
    "You stupid idiot, you ruined my launch. I will destroy your reputation online, everyone will know what a "
    "fraud you are.",
    "Shut up and do what I pay you for, you pathetic loser.",
    "This is GARBAGE. You are a useless amateur and I regret ever hiring you.",
]


_MODELS: dict[str, ToneModel] = {}


@pytest.fixture(autouse=True)
def load_each_model_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run --once` loads the model (about 1.5 s) on every call; the file never changes here,
    so the first real load is kept for the rest of the module."""
    real_load = ToneModel.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[ToneModel], path: Any = None) -> ToneModel:
        key = str(path)
        if key not in _MODELS:
            _MODELS[key] = real_load(cls, path)
        return _MODELS[key]

    monkeypatch.setattr(ToneModel, "load", classmethod(load))


# --- a small world: a config for one Dovecot account and one SMTP sink ---------------------
@dataclass
class World:
    config_path: Path
    db: Path

    def cli(self, *args: str) -> tuple[int, str]:
        """``clientwatch --config … ARGS`` in-process; returns the exit code and stdout."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["--config", str(self.config_path), *args])
        return code, out.getvalue()

    def report(self) -> dict[str, Any]:
        code, out = self.cli("report", "--format", "json")
        assert code == 0
        return json.loads(out)

    def config(self) -> Config:
        return load_config(self.config_path)

    def outbox(self) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.db)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT id, message_id, kind, client, status, attempts, "
                                                "next_attempt_at, last_error FROM outbox ORDER BY id")]
        finally:
            db.close()

    def flush(self, now: float | None = None) -> int:
        """A fresh Notifier and Store, as a restarted process would have, flushing the outbox."""
        config = self.config()
        with Store(config.storage_path) as store:
            return Notifier(config).flush(store, now=now)


def make_world(tmp_path: Path, account: Any, model_path: Path, smtp: dict[str, Any] | None,
               security: str = "none", sender: str = SENDER, immediate: tuple[str, ...] = ("abusive",)) -> World:
    db = tmp_path / "state" / "clientwatch.db"
    imap: dict[str, Any] = {"host": account.host, "port": account.imap_port, "security": security,
                            "username": account.user, "password": account.password}
    if security == "starttls":
        imap["tls_ca_file"] = account.cert_path
    text = samples.sample_config_toml(str(db), imap)
    if smtp is not None:
        settings = {"to": [ME], "from": sender, "smtp_host": "127.0.0.1", "smtp_security": "none",
                    "immediate": list(immediate), "timeout": 10, **smtp}
        text += "[alerts]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    text += f"[model]\npath = {json.dumps(str(model_path))}\n"
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return World(path, db)


def sink_settings(sink: SmtpSink) -> dict[str, Any]:
    return {"smtp_port": sink.port}


def mail(sender: str, subject: str, body: str, date: datetime, mid: str, name: str | None = None,
         to: str = ME, reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = mid
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body)
    return bytes(msg)


def plain(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def html(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()


def hours(v: float | None) -> str:
    """How the alert writes a latency figure."""
    assert v is not None
    return f"{v:.1f} h" if v < 48 else f"{v / 24:.1f} days"


def flags_of(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["name"], f["kind"]) for c in report["clients"] for f in c["flags"]}


def load_sample(account: Any) -> samples.SampleMailbox:
    box = samples.generate()
    account.append("INBOX", box.inbox)
    account.append("Sent", box.sent)
    return box


def abusive_mailbox(account: Any, clients: list[str], now: datetime | None = None) -> None:
    """One abusive message from each of ``clients`` (free-mail addresses: each is its own client)."""
    now = now or datetime.now(timezone.utc)
    account.append("INBOX", [mail(c, "Logo", ABUSE[i % len(ABUSE)], now - timedelta(hours=2 + i), abuse_id(i, c))
                             for i, c in enumerate(clients)])


def abuse_id(i: int, client: str) -> str:
    return f"<abuse{i}.{client.replace('@', '.at.')}@mail.example>"


# --- 1. the whole story -------------------------------------------------------------------
def test_end_to_end_alert_digest_new_abuse_and_an_smtp_outage(dovecot, smtp_sink, tone_model_path, tmp_path) -> None:
    load_sample(dovecot)
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink))

    # the first cycle mails the abusive client at once, and only the abusive ones
    code, out = w.cli("run", "--once")
    assert code == 0 and "100 new" in out
    report = w.report()
    flagged = flags_of(report)
    abusive = {name for name, kind in flagged if kind == "abusive"}
    assert "rick.moody77@gmail.com" in abusive  # the sample's abusive client, however the model reads the rest
    assert sorted(m["Subject"] for m in smtp_sink.messages) == sorted(f"clientwatch: {n} is abusive" for n in abusive)
    sent = len(abusive)

    # the digest carries every other flag, once
    rest = {(name, kind) for name, kind in flagged if kind != "abusive"}
    assert {kind for _, kind in rest} >= {"controlling", "stalling"}
    code, out = w.cli("digest")
    assert code == 0 and "digest: 1 queued, 1 sent" in out
    assert len(smtp_sink.messages) == sent + 1
    digest = smtp_sink.messages[sent]
    sent += 1
    assert digest["Subject"].startswith(f"clientwatch digest: {len(rest)} new flag(s)")
    body = plain(digest)
    for name, kind in rest:
        assert f"{name}: {kind} (" in body
    assert ": abusive (" not in body

    # nothing new: a second cycle and a second digest mail nothing
    assert w.cli("run", "--once")[0] == 0
    assert w.cli("digest") == (0, "digest: 0 queued, 0 sent\n")
    assert len(smtp_sink.messages) == sent

    # a new abusive message arrives by IMAP: exactly one new alert, quoting it
    now = datetime.now(timezone.utc)
    dovecot.append("INBOX", [mail("rick.moody77@gmail.com", "Re: Logo for my food truck", ABUSE[0],
                                  now - timedelta(minutes=30), "<new-abuse-1@gmail.com>", name="Rick Moody")])
    assert w.cli("run", "--once")[0] == 0
    assert len(smtp_sink.messages) == sent + 1
    alert = smtp_sink.messages[sent]
    sent += 1
    assert alert["Subject"] == "clientwatch: new abusive message from rick.moody77@gmail.com"
    assert "ruined my launch" in plain(alert)

    # the SMTP server is down: the next alert is queued, not lost
    smtp_sink.stop()
    dovecot.append("INBOX", [mail("rick.moody77@gmail.com", "Re: Logo for my food truck", ABUSE[1],
                                  now - timedelta(minutes=5), "<new-abuse-2@gmail.com>", name="Rick Moody")])
    before = time.time()
    assert w.cli("run", "--once")[0] == 0
    pending = [r for r in w.outbox() if r["status"] == "pending"]
    assert len(pending) == 1 and pending[0]["kind"] == "abusive-message"
    assert pending[0]["attempts"] == 1 and pending[0]["next_attempt_at"] > before + 10
    assert "cannot connect" in pending[0]["last_error"]
    assert w.report()["alerts"] == {"pending": 1, "failed": []}
    assert "alerts: 1 queued" in w.cli("report")[1]

    # back up, but the backoff has not run out: still queued, nothing sent twice
    smtp_sink.start()
    assert w.cli("run", "--once")[0] == 0
    assert len(smtp_sink.messages) == sent

    # once the backoff is over, a fresh process delivers it exactly once ...
    assert w.flush(now=time.time() + 2 * RETRY_CAP) == 1
    assert len(smtp_sink.messages) == sent + 1
    assert "do what I pay you for" in plain(smtp_sink.messages[sent])
    sent += 1
    # ... and a restart resends nothing that was accepted
    assert w.flush(now=time.time() + 10 * RETRY_CAP) == 0
    assert w.cli("run", "--once")[0] == 0 and w.cli("digest")[0] == 0
    assert len(smtp_sink.messages) == sent

    rows = w.outbox()
    assert [r["status"] for r in rows] == ["sent"] * sent
    received = [str(m["Message-ID"]).strip() for m in smtp_sink.messages]
    assert sorted(received) == sorted(r["message_id"] for r in rows) and len(set(received)) == sent
    assert all(rcpts == [ME] for _, rcpts in smtp_sink.envelopes)
    assert w.report()["alerts"] == {"pending": 0, "failed": []}


# --- 2. what an alert says ----------------------------------------------------------------
def test_alert_content_figures_quotes_next_steps_and_headers(dovecot, smtp_sink, tone_model_path, tmp_path) -> None:
    box = load_sample(dovecot)
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink))
    assert w.cli("run", "--once")[0] == 0
    (alert,) = [m for m in smtp_sink.messages if m["Subject"] == "clientwatch: rick.moody77@gmail.com is abusive"]
    immediate = len(smtp_sink.messages)
    rick = next(c for c in w.report()["clients"] if c["name"] == "rick.moody77@gmail.com")

    assert alert.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alert.iter_parts()] == ["text/plain", "text/html"]
    assert alert["Auto-Submitted"] == "auto-generated"
    mid = str(alert["Message-ID"])
    assert mid == mid.strip() and mid.startswith("<") and mid.endswith("@studio-kvadrat.example>")
    assert mid.count("@") == 1 and " " not in mid
    assert parsedate_to_datetime(alert["Date"]).tzinfo is not None

    text = plain(alert)
    assert "Client: rick.moody77@gmail.com" in text
    assert "Flag: abusive — because of tone" in text
    lat = rick["reply_latency_hours"]
    assert f"median {hours(lat['median'])}, p90 {hours(lat['p90'])} ({lat['samples']} replies)" in text
    assert f"Unanswered: {rick['unanswered']}" in text and f"Chasers: {rick['chasers']}" in text
    tone = rick["tone"]
    assert (f"Tone: abusive {tone['abusive']}, controlling {tone['controlling']}, stalling {tone['stalling']}, "
            f"neutral {tone['neutral']}") in text

    # the abusive message is quoted with its date, in my time zone
    from email import message_from_bytes
    from email.policy import default

    raw = next(r for r in box.inbox if b"rick.moody77" in r.split(b"\n\n")[0]
               and any(t.split(".")[0].encode() in r for t in samples.TEXTS["abusive"]))
    original = message_from_bytes(raw, policy=default)
    first_sentence = original.get_content().split(".")[0].strip()
    local = parsedate_to_datetime(original["Date"]).astimezone(TZ).strftime("%a %d %b %Y %H:%M")
    assert first_sentence in text and local in text
    assert local in html(alert)
    assert "Suggested next step: Document it and consider ending the engagement." in text
    assert text.count("“") <= 3

    # the digest: a next step that fits each kind
    assert w.cli("digest")[0] == 0
    digest = plain(smtp_sink.messages[immediate])
    sections = digest.split("\n\n\n")
    for name, kind in {(n, k) for n, k in flags_of(w.report()) if k != "abusive"}:
        section = next(s for s in sections if f"{name}: {kind} (" in s)
        if kind == "controlling":
            assert "Suggested next step: Set clear boundaries" in section
        elif kind == "stalling" and name == "Kowalski Bakery":
            assert "invoice reminder" in section and "pause work" in section
    assert "<h3" in html(smtp_sink.messages[immediate])


# --- 3. untrusted input -------------------------------------------------------------------
def _encoded(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def test_client_input_cannot_add_headers_recipients_or_markup(dovecot, tone_model_path, tmp_path) -> None:
    """Also the TLS paths: IMAP STARTTLS and SMTP STARTTLS + AUTH, both with a private CA."""
    evil_name = '"<script>alert(1)</script> Bcc: evil@x.example"'
    evil_subject = ("Invoice <script>alert(2)</script> <img src=x onerror=alert(1)>\r\nBcc: evil@x.example\r\n"
                    "Content-Type: text/html")
    body = ("<script>alert('x')</script>\r\nBcc: evil@x.example\r\nTo: evil@x.example\r\n\r\n"
            "<img src=x onerror=alert(1)> <b>bold</b> You are a useless idiot and a fraud. "
            "I will ruin your reputation online, you pathetic amateur.\r\n")
    when = format_datetime(datetime.now(timezone.utc) - timedelta(hours=3))
    raw = (f"From: {evil_name} <mallory.evil@gmail.com>\r\nTo: {ME}\r\n"
           f"Subject: {_encoded(evil_subject)}\r\nDate: {when}\r\nMessage-ID: <evil-1@gmail.com>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
    dovecot.append("INBOX", [raw])
    password_file = tmp_path / "smtp-password"
    password_file.write_text("s3cret\n")
    with SmtpSink(tls_cert=dovecot.cert_path, tls_key=dovecot.server.key_path,
                  require_auth=("cw-alerts", "s3cret"), require_starttls=True) as sink:
        w = make_world(tmp_path, dovecot, tone_model_path, security="starttls", smtp={
            "smtp_port": sink.port, "smtp_security": "starttls", "tls_ca_file": dovecot.cert_path,
            "smtp_username": "cw-alerts", "smtp_password_file": str(password_file)})
        code, out = w.cli("run", "--once")
        assert code == 0 and "1 new" in out
        (alert,) = sink.messages
        assert sink.auth_logins == ["cw-alerts"]
        assert sink.envelopes == [(SENDER, [ME])]
        raw_alert = sink.raw[0]

    assert alert["Subject"] == "clientwatch: mallory.evil@gmail.com is abusive"
    assert {k.lower() for k in alert.keys()} == HEADERS and len(alert.keys()) == len(HEADERS)
    head = raw_alert.split(b"\r\n\r\n", 1)[0].decode()
    for line in head.split("\r\n"):
        assert line[:1] in (" ", "\t") or line.split(":", 1)[0].lower() in HEADERS, line
    assert "\n" not in str(alert["Subject"]) and "evil" not in str(alert["To"])
    page = html(alert)
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;" in page  # the display name, in the draft
    assert "&lt;script&gt;alert(2)" in page  # the subject, above the quote
    assert "<script" not in page
    assert "&lt;img" in page and "<img" not in page and "<b>bold" not in page
    for part in alert.iter_parts():
        assert part.get_content_type() in ("text/plain", "text/html")


# --- 4. what never counts as client mail -------------------------------------------------
def test_own_alerts_back_in_the_inbox_and_my_own_words_never_count(dovecot, smtp_sink, tone_model_path,
                                                                    tmp_path) -> None:
    now = datetime.now(timezone.utc)
    dovecot.append("INBOX", [
        mail("lena@northwind.example", "Spring catalogue", "Thanks for the drafts, we like option B.",
             now - timedelta(days=3), "<lena-1@northwind.example>", name="Lena Fischer"),
        mail("rick.moody77@gmail.com", "Logo", ABUSE[2], now - timedelta(days=2), "<rick-1@gmail.com>"),
    ])
    # my own harsh words to a client are not the client's tone
    dovecot.append("Sent", [mail(ME, "Re: Spring catalogue", "You are a useless, incompetent idiot and I regret "
                                 "working with you.", now - timedelta(days=2, hours=20), "<mine-1@studio-kvadrat.example>",
                                 to="lena@northwind.example", reply_to="<lena-1@northwind.example>")])
    # alerts come from an address outside my domain: if counted, it would become a client of its own
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink), sender="alerts@cw-notify.example")
    assert w.cli("run", "--once")[0] == 0
    (alert,) = smtp_sink.messages
    before = w.report()
    lena = next(c for c in before["clients"] if c["name"] == "Northwind Design")
    assert lena["messages"] == {"from_client": 1, "to_client": 1}
    assert lena["tone"]["abusive"] == 0 and lena["flags"] == []

    # the alert lands in the watched inbox (alerts.to is this mailbox)
    dovecot.append("INBOX", [smtp_sink.raw[0]])
    code, out = w.cli("run", "--once")
    assert code == 0 and "1 new" in out
    after = w.report()
    assert [c["name"] for c in after["clients"]] == [c["name"] for c in before["clients"]]
    assert all("cw-notify" not in a for c in after["clients"] for a in c["addresses"])
    assert [c["messages"] for c in after["clients"]] == [c["messages"] for c in before["clients"]]
    assert len(smtp_sink.messages) == 1

    db = sqlite3.connect(w.db)
    try:
        assert db.execute("SELECT automated, tone FROM messages WHERE message_id = ?",
                          (str(alert["Message-ID"]).strip(),)).fetchone() == (1, None)
        assert db.execute("SELECT tone FROM messages WHERE message_id = '<mine-1@studio-kvadrat.example>'"
                          ).fetchone() == (None,)
    finally:
        db.close()


# --- 5. the outbox ------------------------------------------------------------------------
@pytest.mark.parametrize("failure", ["connection refused", "451 at DATA", "451 at RCPT"])
def test_temporary_failures_keep_alerts_queued_with_backoff_until_delivered_once(
        failure: str, dovecot, smtp_sink, tone_model_path, tmp_path) -> None:
    clients = ["vera.k@gmail.com", "otto.z@gmail.com"]
    abusive_mailbox(dovecot, clients)
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink))
    if failure == "connection refused":
        smtp_sink.stop()
    else:
        smtp_sink.refuse(451, stage=failure.split()[-1])

    start = time.time()
    assert w.cli("run", "--once")[0] == 0
    rows = w.outbox()
    assert sorted(r["client"] for r in rows) == sorted(clients)
    for r in rows:
        assert r["status"] == "pending" and r["attempts"] == 1
        assert start + 14 < r["next_attempt_at"] < time.time() + 31  # first retry after 15-30 s
        assert ("cannot connect" if failure == "connection refused" else "451") in r["last_error"]
    assert smtp_sink.messages == []

    # not due yet: a flush now neither sends nor counts an attempt
    assert w.flush() == 0
    assert [r["attempts"] for r in w.outbox()] == [1, 1]

    # still failing when it is due: the attempt counts and the backoff grows
    due = max(r["next_attempt_at"] for r in rows) + 1
    assert w.flush(now=due) == 0
    for r in w.outbox():
        assert r["status"] == "pending" and r["attempts"] == 2
        assert time.time() + 29 < r["next_attempt_at"] < time.time() + 61  # then after 30-60 s

    if failure == "connection refused":
        smtp_sink.start()
    else:
        smtp_sink.refuse(None)
    assert w.flush(now=time.time() + 2 * RETRY_CAP) == 2
    assert w.flush(now=time.time() + 4 * RETRY_CAP) == 0
    assert sorted(str(m["Subject"]) for m in smtp_sink.messages) == sorted(
        f"clientwatch: {c} is abusive" for c in clients)
    assert [r["status"] for r in w.outbox()] == ["sent", "sent"]


@pytest.mark.parametrize("code, stage", [(554, "DATA"), (550, "RCPT")])
def test_a_permanent_refusal_is_failed_logged_and_shown_by_report(code: int, stage: str, dovecot, smtp_sink,
                                                                  tone_model_path, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="clientwatch")
    abusive_mailbox(dovecot, ["vera.k@gmail.com"])
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink))
    smtp_sink.refuse(code, stage=stage)
    assert w.cli("run", "--once")[0] == 0
    (row,) = w.outbox()
    assert row["status"] == "failed" and row["attempts"] == 1 and str(code) in row["last_error"]
    assert any(r.levelno == logging.ERROR and "refused permanently" in r.getMessage() for r in caplog.records)

    # never retried, even when the server would now accept it
    smtp_sink.refuse(None)
    assert w.flush(now=time.time() + 10 * RETRY_CAP) == 0
    assert smtp_sink.messages == []

    alerts = w.report()["alerts"]
    assert alerts["pending"] == 0
    assert [(f["kind"], f["client"], f["message_id"]) for f in alerts["failed"]] == [
        ("abusive", "vera.k@gmail.com", row["message_id"])]
    assert str(code) in alerts["failed"][0]["error"]
    table = w.cli("report")[1]
    assert "FAILED abusive alert for vera.k@gmail.com" in table and str(code) in table


def test_a_refused_smtp_login_keeps_alerts_queued(dovecot, tone_model_path, tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="clientwatch")
    abusive_mailbox(dovecot, ["vera.k@gmail.com"])
    with SmtpSink(require_auth=("cw-alerts", "right"), auth_require_tls=False) as sink:
        w = make_world(tmp_path, dovecot, tone_model_path, smtp={
            "smtp_port": sink.port, "smtp_username": "cw-alerts", "smtp_password": "wrong"})
        assert w.cli("run", "--once")[0] == 0
        (row,) = w.outbox()
        assert row["status"] == "pending" and row["attempts"] == 1 and "login refused" in row["last_error"]
        assert any("stay queued" in r.getMessage() for r in caplog.records)
        assert sink.messages == []


def test_an_alert_being_sent_by_one_process_is_not_sent_by_another(dovecot, smtp_sink, tone_model_path,
                                                                    tmp_path) -> None:
    abusive_mailbox(dovecot, ["vera.k@gmail.com"])
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink))
    config = w.config()
    model = ToneModel.load(config.model_path)
    with Store(config.storage_path) as one, Store(config.storage_path) as two:
        run_cycle(config, one, model, notifier=None)  # sync and classify, no mail yet
        assert Notifier(config).queue_for(analyze(one, config), one) == 1
        claimed = AlertStore(one).claim_due(time.time(), time.time() + 300)  # process one starts sending
        assert len(claimed) == 1
        assert Notifier(config).flush(two) == 0  # process two (the service) keeps its hands off
        assert smtp_sink.messages == []
        AlertStore(one).release([claimed[0]["id"]])
        assert Notifier(config).flush(two) == 1
    assert len(smtp_sink.messages) == 1


def test_an_untrusted_smtp_certificate_keeps_alerts_queued_with_advice(dovecot, tone_model_path, tmp_path) -> None:
    abusive_mailbox(dovecot, ["vera.k@gmail.com"])
    with SmtpSink(tls_cert=dovecot.cert_path, tls_key=dovecot.server.key_path) as sink:
        w = make_world(tmp_path, dovecot, tone_model_path, smtp={"smtp_port": sink.port, "smtp_security": "starttls"})
        assert w.cli("run", "--once")[0] == 0
        (row,) = w.outbox()
        assert row["status"] == "pending" and "not trusted" in row["last_error"] and "tls_ca_file" in row["last_error"]
        assert sink.messages == []


def test_alerts_queued_with_bare_lf_line_ends_are_still_delivered(dovecot, smtp_sink, tone_model_path,
                                                                  tmp_path) -> None:
    """Regression: payloads were stored with LF, which smtplib sends as is (bytes) and the server
    refused as one huge line ("500 Line too long"); every alert failed permanently."""
    from clientwatch.compose import build_email, render_section
    from clientwatch.flags import Flag

    abusive_mailbox(dovecot, ["vera.k@gmail.com"])
    w = make_world(tmp_path, dovecot, tone_model_path, sink_settings(smtp_sink))
    config = w.config()
    with Store(config.storage_path) as store:
        run_cycle(config, store, ToneModel.load(config.model_path), notifier=None)
        report = next(r for r in analyze(store, config) if r.metrics.name == "vera.k@gmail.com")
        section = render_section(report, Flag("abusive", ("tone",), (abuse_id(0, "vera.k@gmail.com"),)), {}, {}, TZ)
        email = build_email(SENDER, [ME], "old alert", [section], "intro " * 200)  # long lines, LF line ends
        payload = email.as_bytes()
        assert b"\r\n" not in payload
        with store.transaction() as db:
            AlertStore(store).enqueue(db, email["Message-ID"], "abusive", "vera.k@gmail.com", payload)
    assert w.flush() == 1
    assert smtp_sink.messages[0]["Subject"] == "old alert"
    assert smtp_sink.raw[0].count(b"\r\n") > 20 and b"\r\r" not in smtp_sink.raw[0]
