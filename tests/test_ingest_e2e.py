"""End to end through a real Dovecot: sample mailbox -> IMAP sync -> analysis equals the
generator's ground truth; subject threading across languages; the CLI's exit codes and
`report --format json` shape."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from clientwatch import cli, samples
from clientwatch.analysis import analyze
from clientwatch.config import load_config
from clientwatch.cycle import run_cycle
from clientwatch.store import Store
from servers import DovecotServer, ImapAccount
from test_metrics import assert_matches_ground_truth

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)
ME = samples.ME


def config_file(account: ImapAccount, directory: Path, security: str = "none", **imap: Any) -> Path:
    """A private config TOML for ``account``: the sample's [me] and [[clients]] plus [imap]."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = directory / "imap-password"
    secret.write_text(account.password + "\n")
    secret.chmod(0o600)
    table: dict[str, Any] = {"host": "127.0.0.1", "security": security, "username": account.user,
                             "password_file": str(secret),
                             "port": account.imaps_port if security == "ssl" else account.imap_port}
    if security != "none":
        table["tls_ca_file"] = account.cert_path
    table.update(imap)
    path = directory / "config.toml"
    path.write_text(samples.sample_config_toml(str(directory / "state" / "clientwatch.db"), table))
    path.chmod(0o600)
    return path


@functools.lru_cache(maxsize=None)
def sample(now: datetime = NOW) -> samples.SampleMailbox:
    return samples.generate(now)


# --- the sample mailbox, exactly ----------------------------------------------------------------
@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_sample_mailbox_over_imap_gives_exactly_the_ground_truth(dovecot: ImapAccount, tmp_path: Path,
                                                                 security: str) -> None:
    box = sample()
    dovecot.append("INBOX", box.inbox)
    dovecot.append("Sent", box.sent)
    config = load_config(config_file(dovecot, tmp_path, security))
    with Store(config.storage_path) as store:
        result = run_cycle(config, store, None, now=NOW)
        assert (result.new_messages, result.bad_messages) == (len(box.inbox) + len(box.sent), 0)
        assert result.analysed
        assert_matches_ground_truth(box, result.reports)
        # the store alone (what `report` reads) gives the same answer
        assert_matches_ground_truth(box, analyze(store, config, NOW))
        # automated mail and the colleague were stored, and are nobody's mail
        automated = [m for m in store.messages() if m.automated]
        assert len(automated) == box.automated
        everyone = {a for r in result.reports for a in r.metrics.addresses}
        assert not everyone & {"stipe@studio-kvadrat.example", "news@designweekly.example", "mailer-daemon@mx.example"}


# --- threading by subject, in several languages ---------------------------------------------------
def _mail(sender: str, to: str, subject: str, when: datetime, n: int) -> bytes:
    msg = EmailMessage()  # no In-Reply-To, no References: only the subject can thread these
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = f"<t{n}@{sender.split('@')[1]}>"
    msg.set_content(f"message {n}\n")
    return bytes(msg)


def test_replies_without_references_join_by_subject_in_several_languages(dovecot: ImapAccount, tmp_path: Path) -> None:
    start = datetime(2026, 3, 9, 8, 0, tzinfo=timezone.utc)  # Monday, 09:00 in Zagreb
    conversations = {
        # client address: [(hours after start, from me?, subject)]
        "hans@muster.example": [(0, True, "Angebot Webseite"), (5, False, "AW: Angebot Webseite"),
                                (6, True, "AW: AW: Angebot Webseite"), (10, False, "AW: Angebot Webseite"),
                                (24, True, "WG: Angebot Webseite"),
                                # words that only look like prefixes do not thread: no 6 h sample here
                                (30, False, "Reminder: Angebot Webseite")],
        "ewa@piekarnia.example": [(1, False, "Faktura 12/2026"), (3, True, "Re: Faktura 12/2026"),
                                  (50, False, "Odp: Faktura 12/2026"), (51, True, "Re: Odp: Faktura 12/2026"),
                                  (55, False, "Odp: Odp: Faktura 12/2026")],
        "joe@bigcorp.example": [(2, True, "Logo files"), (9, False, "RE: Logo files"),
                                (26, True, "Re[2]: logo   FILES"), (28, False, "RE: RE: Logo files")],
        "jiwoo@hanbit.example": [(3, True, "견적서 요청"), (27, False, "답장: 견적서 요청"),
                                 (28, True, "RE: 답장: 견적서 요청"), (31, False, "답장: 견적서 요청")],
    }
    inbox, sent = [], []
    n = 0
    for client, steps in conversations.items():
        for hours, mine, subject in steps:
            n += 1
            when = start + timedelta(hours=hours)
            if mine:
                sent.append(_mail(ME, client, subject, when, n))
            else:
                inbox.append(_mail(client, ME, subject, when, n))
    dovecot.append("INBOX", inbox)
    dovecot.append("Sent", sent)
    config = load_config(config_file(dovecot, tmp_path))
    with Store(config.storage_path) as store:
        reports = {r.metrics.name: r.metrics for r in run_cycle(config, store, None, now=NOW).reports}
    assert set(reports) == {"muster.example", "piekarnia.example", "bigcorp.example", "hanbit.example"}
    latencies = {name: sorted(h for h, _ in m.latency_evidence) for name, m in reports.items()}
    assert latencies == {"muster.example": [4.0, 5.0], "piekarnia.example": [4.0, 47.0],
                         "bigcorp.example": [2.0, 7.0], "hanbit.example": [3.0, 24.0]}
    assert all(m.chasers == 0 for m in reports.values())


# --- the command line ----------------------------------------------------------------------------
def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clientwatch.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, cwd="/")


def test_run_once_against_a_stopped_server_exits_4(tmp_path: Path) -> None:
    with DovecotServer() as server:
        account = ImapAccount(server, "alice", "secret1")
        path = config_file(account, tmp_path)
        server.stop()
        done = run_cli("--config", str(path), "run", "--once")
    assert done.returncode == 4, done.stderr
    assert f"IMAP 127.0.0.1:{account.imap_port}: cannot connect" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("mutation,message", [
    (lambda t: t.replace("[me]", "[me]\nadresses = []"), "me.adresses: unknown key (did you mean 'addresses'?)"),
    (lambda t: t.replace('security = "none"', 'security = "none"\nhost = "mail.example.com"'), "invalid TOML"),
    (lambda t: t.replace('host = "127.0.0.1"', 'host = "mail.example.com"'), "allowed only for loopback hosts"),
    (lambda t: t + "[alerts]\nto = [\"me@example.com\"]\n", "alerts.smtp_host: is required"),
    (lambda t: t.replace('timezone = "Europe/Zagreb"', 'timezone = "Mars/Olympus"'), "unknown time zone"),
    (None, "cannot read the configuration"),
])
def test_a_bad_config_exits_3(dovecot: ImapAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              mutation: Any, message: str) -> None:
    path = config_file(dovecot, tmp_path)
    if mutation is None:
        path.unlink()
    else:
        path.write_text(mutation(path.read_text()))
    assert cli.main(["--config", str(path), "run", "--once"]) == 3
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_report_json_has_the_spec_shape(dovecot: ImapAccount, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)  # `report` measures up to the real now
    box = samples.generate(now)
    dovecot.append("INBOX", box.inbox)
    dovecot.append("Sent", box.sent)
    path = str(config_file(dovecot, tmp_path))
    assert cli.main(["--config", path, "run", "--once"]) == 0
    assert f"{len(box.inbox) + len(box.sent)} new, 0 malformed" in capsys.readouterr().out
    assert cli.main(["--config", path, "report", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)

    assert {"generated_at", "window_days", "clients"} <= set(doc)
    assert datetime.fromisoformat(doc["generated_at"]).tzinfo is not None and doc["window_days"] == 90
    assert sorted(c["name"] for c in doc["clients"]) == sorted(box.expected)
    for c in doc["clients"]:
        assert {"name", "addresses", "messages", "reply_latency_hours", "reply_latency_business_hours", "unanswered",
                "chasers", "off_hours_share", "tone", "flags"} <= set(c)
        expected = box.expected[c["name"]]
        assert sorted(c["addresses"]) == sorted(expected.addresses)
        assert c["messages"] == {"from_client": expected.from_client, "to_client": expected.to_client}
        for key in ("reply_latency_hours", "reply_latency_business_hours"):
            assert set(c[key]) == {"median", "p90", "samples"} and c[key]["samples"] == len(expected.latency_hours)
            assert all(isinstance(c[key][k], (int, float)) for k in ("median", "p90"))
        assert (c["unanswered"], c["chasers"]) == (expected.unanswered, expected.chasers)
        assert c["off_hours_share"] == round(expected.off_hours / expected.from_client, 3)
        assert set(c["tone"]) == {"abusive", "controlling", "stalling", "neutral"}
        assert all(isinstance(v, int) for v in c["tone"].values())
        for flag in c["flags"]:
            assert set(flag) == {"kind", "reasons", "evidence"}
            assert all(e.startswith("<") and e.endswith(">") for e in flag["evidence"])
    flags = {c["name"]: {f["kind"]: f["reasons"] for f in c["flags"]} for c in doc["clients"]}
    # flags that need no tone model: slow answers and unanswered reminders, and chasers
    assert {"latency", "unanswered"} <= set(flags["Kowalski Bakery"]["stalling"])
    assert "chasers" in flags["brightside.example"]["controlling"]
