"""Alerts: decide what to mail, queue it in the outbox, and deliver it over SMTP.

An alert is written to the outbox (in the same transaction that records the flag) before
any attempt to send it, and marked sent only when the SMTP server accepts it. Temporary
failures (connection refused, timeouts, 4xx) are retried with jittered exponential
backoff; a permanent refusal (5xx) is logged and kept visible as ``failed``.
"""
from __future__ import annotations

import logging
import random
import re
import smtplib
import ssl
import time
from datetime import datetime, timezone
from email.policy import SMTP as SMTP_POLICY
from typing import Sequence

from .analysis import ClientReport, analyze
from .compose import Section, build_email, render_section
from .config import AlertsConfig, Config
from .errors import AuthError, MailError, SmtpError
from .flags import Flag
from .store import AlertStore, Store

log = logging.getLogger(__name__)
RETRY_BASE = 30.0
RETRY_CAP = 3600.0
DIGEST_LAST_RUN = "digest_last_run"  # store meta key: when a digest was last queued
CLAIM_SECONDS = 300.0  # how long a flush owns the rows it is sending
_BARE_EOL = re.compile(rb"\r?\n")


def wire_bytes(payload: bytes) -> bytes:
    """The payload with CRLF line ends, as SMTP requires (RFC 5321 §2.3.8).

    smtplib fixes line ends only for ``str`` messages; bytes go out as they are, and a
    payload with bare LF reaches the server as one huge line ("500 Line too long").
    Rows queued by older versions were stored with LF, so this is applied on sending too.
    """
    return _BARE_EOL.sub(b"\r\n", payload)


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: ~30 s, 60 s, 120 s … capped at an hour."""
    base = min(RETRY_CAP, RETRY_BASE * 2 ** max(attempts - 1, 0))
    return base * (0.5 + (rng or random).random() / 2)


def smtp_connect(cfg: AlertsConfig) -> smtplib.SMTP:
    """Connect, secure and (optionally) log in; errors become ``SmtpError`` that say what to do."""
    where = f"SMTP {cfg.smtp_host}:{cfg.smtp_port}"
    # read the secret first: a SecretError (a config error) must not leave a connection open
    password = (cfg.smtp_password.get() if cfg.smtp_password else "") if cfg.smtp_username else ""
    context = ssl.create_default_context(cafile=str(cfg.tls_ca_file) if cfg.tls_ca_file else None)
    server: smtplib.SMTP | None = None
    try:
        if cfg.smtp_security == "ssl":
            server = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout, context=context)
        else:
            server = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout)
            if cfg.smtp_security == "starttls":
                server.starttls(context=context)
    except ssl.SSLCertVerificationError as e:
        _close(server)
        raise SmtpError(f"{where}: the server's TLS certificate is not trusted ({e.verify_message}); "
                        "if it uses a private CA, set alerts.tls_ca_file") from e
    except smtplib.SMTPNotSupportedError as e:
        _close(server)
        raise SmtpError(f"{where}: the server does not offer STARTTLS; use smtp_security = \"ssl\" (port 465)") from e
    except (OSError, smtplib.SMTPException) as e:
        _close(server)
        raise SmtpError(f"{where}: cannot connect: {e}") from e
    if cfg.smtp_username:
        try:
            server.login(cfg.smtp_username, password)
        except smtplib.SMTPAuthenticationError as e:
            _quit(server)
            hint = (" Gmail needs an app password for SMTP." if "gmail" in cfg.smtp_host.lower() else "")
            raise AuthError(f"{where}: login refused for {cfg.smtp_username}; check smtp_username and the "
                            f"smtp_password source.{hint}") from e
        except (OSError, smtplib.SMTPException) as e:
            _quit(server)
            raise SmtpError(f"{where}: login failed: {e}") from e
    return server


def _close(server: smtplib.SMTP | None) -> None:
    """Drop a connection that never got as far as a session (STARTTLS failed): no leaked socket."""
    if server is not None:
        server.close()


def _quit(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (OSError, smtplib.SMTPException):
        server.close()


def check_smtp(cfg: AlertsConfig) -> None:
    """Connect and log in, as `check` does; raise ``SmtpError`` with advice on failure."""
    _quit(smtp_connect(cfg))


def send_one(server: smtplib.SMTP, cfg: AlertsConfig, payload: bytes) -> None:
    """Send one queued message; ``SmtpError(permanent=…)`` on refusal."""
    try:
        refused = server.sendmail(cfg.sender, list(cfg.to), wire_bytes(payload))
    except smtplib.SMTPRecipientsRefused as e:
        codes = [code for code, _ in e.recipients.values()]
        raise SmtpError(f"all recipients refused: {codes}", permanent=all(c >= 500 for c in codes)) from e
    except smtplib.SMTPResponseException as e:
        raise SmtpError(f"server answered {e.smtp_code} {_reply_text(e.smtp_error)}",
                        permanent=e.smtp_code >= 500) from e
    except (OSError, smtplib.SMTPException) as e:
        raise SmtpError(f"connection failed: {e}") from e
    if refused:
        log.warning("alert accepted for some recipients only; refused: %s", ", ".join(refused))


def _reply_text(text: bytes | str) -> str:
    """The server's reply text, one line and short enough for a log line and the store."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text).split())[:200]


def _connection_lost(error: SmtpError) -> bool:
    """True when the session is gone (no point trying the next alert on it)."""
    cause = error.__cause__
    # SMTPException is an OSError too: only a disconnect or a socket error ends the session
    return isinstance(cause, smtplib.SMTPServerDisconnected) or (
        isinstance(cause, OSError) and not isinstance(cause, smtplib.SMTPException))


class Notifier:
    """Turns flags into queued alerts and delivers the outbox."""

    def __init__(self, config: Config) -> None:
        assert config.alerts is not None
        self.config = config
        self.cfg: AlertsConfig = config.alerts

    # --- deciding what to mail --------------------------------------------------------------
    def queue_for(self, reports: Sequence[ClientReport], store: Store) -> int:
        """Record new and cleared flags; queue immediate alerts. Returns the number queued."""
        alerts = AlertStore(store)
        active = alerts.active_flags()
        current = {(r.metrics.name, f.kind): (r, f) for r in reports for f in r.flags}
        abusive_new: dict[str, list[str]] = {}
        for r in reports:
            ids = r.metrics.tone_evidence.get("abusive", [])
            done = alerts.alerted(ids) if ids else set()
            fresh = [i for i in ids if i not in done]
            if fresh:
                abusive_new[r.metrics.name] = fresh
        wanted_ids = {i for r, f in current.values() for i in f.evidence[:10]}
        messages = store.get_messages(wanted_ids | {i for ids in abusive_new.values() for i in ids})
        names = {m.from_addr: m.from_name for m in messages.values()}
        queued = 0
        with store.transaction() as db:
            for (client, kind), (report, flag) in sorted(current.items()):
                if (client, kind) in active:
                    continue
                immediate = kind in self.cfg.immediate
                alerts.raise_flag(db, client, kind, not immediate, list(flag.reasons), list(flag.evidence))
                if immediate:
                    section = render_section(report, flag, messages, names, self.config.me.timezone)
                    self._enqueue(alerts, db, [section], f"clientwatch: {section.client} is {kind}", kind, client)
                    queued += 1
                    if kind == "abusive":
                        alerts.mark_alerted(db, abusive_new.pop(client, []))
            for (client, kind) in active:
                if (client, kind) not in current:
                    alerts.clear_flag(db, client, kind)
                    log.info("flag %s cleared for %s", kind, client)
            # every new abusive message is mailed at once, even when the flag was already up
            for client, ids in sorted(abusive_new.items()):
                report = next(r for r in reports if r.metrics.name == client)
                flag = Flag("abusive", ("tone",), tuple(ids))
                headline = f"{client}: new abusive message" if len(ids) == 1 else f"{client}: {len(ids)} new abusive messages"
                section = render_section(report, flag, messages, names, self.config.me.timezone, headline)
                self._enqueue(alerts, db, [section], f"clientwatch: new abusive message from {section.client}",
                              "abusive-message", client)
                alerts.mark_alerted(db, ids)
                queued += 1
        return queued

    def queue_digest(self, store: Store, force: bool = False, now: datetime | None = None) -> int:
        """Queue one digest with every flag waiting for it; returns 1 if queued, else 0.

        The run is recorded (``digest_last_run``) even when nothing was pending, so the
        service knows whether a scheduled digest was missed while it was not running.
        """
        alerts = AlertStore(store)
        ran_at = str((now or datetime.now(timezone.utc)).timestamp())
        pending = alerts.pending_digest()
        if not pending:
            store.set_meta(DIGEST_LAST_RUN, ran_at)
            return 0
        reports = {r.metrics.name: r for r in analyze(store, self.config, now)}
        items: list[tuple[ClientReport, Flag]] = []
        for row in pending:
            report = reports.get(row["client"])
            flag = next((f for f in report.flags if f.kind == row["kind"]), None) if report else None
            if report and flag:
                items.append((report, flag))
        messages = store.get_messages({i for _, f in items for i in f.evidence[:10]})
        names = {m.from_addr: m.from_name for m in messages.values()}
        sections = [render_section(r, f, messages, names, self.config.me.timezone) for r, f in items]
        with store.transaction() as db:
            if sections:
                clients = sorted({s.client for s in sections})
                subject = f"clientwatch digest: {len(sections)} new flag(s) — {', '.join(clients)}"
                self._enqueue(alerts, db, sections, subject, "digest", ", ".join(clients)[:200],
                              intro=f"{len(sections)} client flag(s) raised since the last digest.")
            db.execute("UPDATE flag_state SET digest_pending = 0 WHERE digest_pending = 1")
            # recorded with the digest itself: a digest that failed to queue is not taken as sent
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (DIGEST_LAST_RUN, ran_at))
        return 1 if sections else 0

    def _enqueue(self, alerts: AlertStore, db: object, sections: list[Section], subject: str, kind: str,
                 client: str, intro: str | None = None) -> None:
        intro = intro or "clientwatch raised a flag on one of your clients."
        email = build_email(self.cfg.sender, self.cfg.to, subject, sections, intro)
        payload = email.as_bytes(policy=SMTP_POLICY)  # CRLF line ends, ready for the wire
        alerts.enqueue(db, email["Message-ID"], kind, client, payload)  # type: ignore[arg-type]

    # --- delivering ------------------------------------------------------------------------------
    def flush(self, store: Store, now: float | None = None) -> int:
        """Send every due alert; stop at the first connection failure. Returns how many were accepted.

        The due rows are claimed first (their next attempt moved ``CLAIM_SECONDS`` ahead in
        one transaction), so a `clientwatch digest` or `run --once` started while the
        service is flushing never sends the same alert a second time; if this process dies
        mid-send, the claim expires and the alert is retried.
        """
        alerts = AlertStore(store)
        due = alerts.claim_due(now if now is not None else time.time(), time.time() + CLAIM_SECONDS)
        if not due:
            return 0
        try:
            server = smtp_connect(self.cfg)
        except MailError as e:  # SmtpError, or AuthError when the login is refused
            log.warning("alerts stay queued (%d): %s", len(due), e)
            for row in due:
                alerts.mark_failed(row["id"], str(e), time.time() + retry_delay(row["attempts"] + 1))
            return 0
        sent = 0
        try:
            for n, row in enumerate(due):
                try:
                    send_one(server, self.cfg, row["payload"])
                except SmtpError as e:
                    if e.permanent:
                        log.error("alert %s for %s to %s refused permanently (%s); kept as failed in the store, "
                                  "see `clientwatch report`", row["kind"], row["client"], ", ".join(self.cfg.to), e)
                        alerts.mark_failed(row["id"], str(e), None)
                        continue
                    delay = retry_delay(row["attempts"] + 1)
                    log.warning("alert %s for %s stays queued, retry in %.0f s: %s", row["kind"], row["client"],
                                delay, e)
                    alerts.mark_failed(row["id"], str(e), time.time() + delay)
                    if _connection_lost(e):
                        # the rest were not tried: release their claim so the next flush retries them
                        alerts.release([r["id"] for r in due[n + 1:]])
                        break
                    continue
                alerts.mark_sent(row["id"])
                sent += 1
                log.info("alert sent: %s for %s", row["kind"], row["client"])
        finally:
            _quit(server)
        return sent
