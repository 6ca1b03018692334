"""Bad input end to end: about 1,000 malformed messages (tests/badmail.py) and 100 good ones,
through ``clientwatch import`` of an mbox file and of a Maildir, and through a real Dovecot
and ``clientwatch run --once``. Nothing may crash; every bad message is logged and recorded,
every good one analysed, and a 10 MB attachment is never downloaded.

What counts as bad, kind by kind, is decided in badmail.py's docstring: a message is bad when
it is not mail at all, or (imported, with no INTERNALDATE to fall back on) has no usable Date.
"""
from __future__ import annotations

import collections
import imaplib
import json
import logging
import mailbox
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from imapclient.exceptions import IMAPClientError

import badmail
from badmail import NOW, Case
from clientwatch import cli
from clientwatch.analysis import analyze
from clientwatch.config import Config, load_config
from clientwatch.mime import ParseError, parse_raw
from clientwatch.store import Store
from servers import ImapAccount

INTERNALDATE = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)  # what every APPEND is dated
PARSE_SECONDS = 2.0  # one message, however broken (the 1,000-deep multipart takes ~0.5 s)


@pytest.fixture(scope="module")
def cases() -> tuple[Case, ...]:
    return badmail.cases()


def write_config(directory: Path, imap: dict[str, object] | None = None) -> tuple[Path, Config]:
    """A private config with [me] and [storage] (and [imap] when given); the path and it, loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    if imap:
        lines += ["[imap]", *(f"{key} = {json.dumps(value)}" for key, value in imap.items())]
    lines += ["[me]", f"addresses = [{json.dumps(badmail.ME)}]", 'timezone = "Europe/Zagreb"',
              "[storage]", f"path = {json.dumps(str(directory / 'clientwatch.db'))}"]
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path, load_config(path, require_imap=bool(imap))


def assert_no_crash(code: int, captured: pytest.CaptureResult[str], caplog: pytest.LogCaptureFixture) -> None:
    """Exit 0, no traceback anywhere, nothing logged as an error."""
    assert code == 0, captured.err[-3000:]
    for text in (captured.out, captured.err, caplog.text):
        assert "Traceback" not in text, text[-3000:]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage()[:300] for r in errors]


def assert_analysed(store: Store, config: Config, cases: tuple[Case, ...]) -> dict[str, object]:
    """Every good message is stored and counted for its client; returns the stored messages by id."""
    stored = {m.message_id: m for m in store.messages()}
    good = [c for c in cases if c.kind == "good"]
    assert good and all(c.message_id in stored for c in good)
    reports = {r.metrics.name: r.metrics for r in analyze(store, config, NOW)}
    for client, ids in _by_client(good).items():
        assert client in reports, sorted(reports)[:20]
        assert set(reports[client].client_message_ids) == ids
        assert reports[client].from_client == len(ids)
    for case in cases:
        if case.big:  # the text beside the 10 MB attachment, and nothing of the attachment
            text = stored[case.message_id].text  # type: ignore[union-attr]
            assert text.startswith("Files attached") and len(text) < 100, text[:200]
    return stored


def _by_client(good: list[Case]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = collections.defaultdict(set)
    for c in good:
        out[c.client].add(c.message_id)  # type: ignore[index,arg-type]
    return out


# --- the generated set -----------------------------------------------------------------------------
def test_the_set_is_large_varied_and_quick_to_make() -> None:
    started = time.monotonic()
    badmail.build()
    seconds = time.monotonic() - started
    made = badmail.generate()
    kinds = collections.Counter(kind for kind, _, _ in made)
    assert seconds < 5, seconds
    assert sum(n for kind, n in kinds.items() if kind != "good") >= 1000
    assert kinds["good"] == 100 and kinds["attachment-10mb"] == 5 and len(kinds) >= 18
    assert all(n >= 5 for n in kinds.values()), kinds
    assert sum(not ok for _, _, ok in made) >= 150  # plenty to record as bad
    assert badmail.build(50, seed=1, good=5, big=1) == badmail.build(50, seed=1, good=5, big=1)  # seeded
    assert badmail.build(50, seed=1, good=5, big=1) != badmail.build(50, seed=2, good=5, big=1)
    big = [raw for kind, raw, _ in made if kind == "attachment-10mb"]
    assert all(len(raw) > badmail.ATTACHMENT_BYTES for raw in big)


def test_every_message_parses_the_way_its_kind_says(cases: tuple[Case, ...]) -> None:
    """Directly through parse_raw, without and with an INTERNALDATE: only ParseError, never
    another exception, the expected outcome, the expected Message-ID, in bounded time."""
    wrong = []
    for case in cases:
        for internaldate, expected in ((None, case.parseable), (INTERNALDATE, case.imap_parseable)):
            started = time.monotonic()
            try:
                msg = parse_raw(case.raw, internaldate=internaldate)
            except ParseError:
                msg = None
            seconds = time.monotonic() - started
            if seconds > PARSE_SECONDS:
                wrong.append((case.kind, case.variant, f"{seconds:.1f} s"))
            if expected is not None and (msg is not None) != expected:
                wrong.append((case.kind, case.variant, internaldate is not None, "parsed" if msg else "bad"))
            if msg is not None and expected and case.message_id and msg.message_id != case.message_id:
                wrong.append((case.kind, case.variant, msg.message_id[:80]))
            if msg is not None:
                assert "\n" not in msg.subject and "\r" not in msg.subject and "\n" not in msg.from_name
                assert internaldate is None or msg.date.tzinfo is not None
    assert not wrong, wrong[:30]


# --- clientwatch import ------------------------------------------------------------------------------
def _write_export(layout: str, directory: Path, cases: tuple[Case, ...]) -> tuple[Path, dict[str, Case]]:
    """The cases as an mbox file or a Maildir; each one's key (as the importer logs it)."""
    if layout == "mbox":
        path = directory / "export.mbox"
        box: mailbox.Mailbox = mailbox.mbox(path, create=True)
    else:
        path = directory / "Maildir"
        box = mailbox.Maildir(path, create=True)
    keys = {}
    try:
        for case in cases:
            keys[str(box.add(case.raw))] = case
    finally:
        box.close()
    return path, keys


@pytest.mark.parametrize("layout", ["mbox", "maildir"])
def test_import_logs_and_records_every_bad_message_and_analyses_the_good(
        layout: str, cases: tuple[Case, ...], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    export, keys = _write_export(layout, tmp_path, cases)
    config_path, config = write_config(tmp_path / "cw")
    with caplog.at_level(logging.INFO):
        code = cli.main(["--config", str(config_path), "import", str(export)])
    assert_no_crash(code, capsys.readouterr(), caplog)

    expected_bad = {key for key, case in keys.items() if not case.parseable}
    warnings = [r.getMessage() for r in caplog.records if r.name == "clientwatch.importer" and r.levelno == logging.WARNING]
    logged = [m.group(1) for text in warnings for m in [re.search(r": message (\S+) skipped: ", text)] if m]
    assert len(logged) == len(expected_bad) and set(logged) == expected_bad, _describe(set(logged) ^ expected_bad, keys)
    with Store(config.storage_path) as store:
        rows = store.bad_messages()
        recorded = {re.match(r"message (\S+): ", r["reason"]).group(1) for r in rows}  # type: ignore[union-attr]
        assert len(rows) == len(expected_bad) and recorded == expected_bad, _describe(recorded ^ expected_bad, keys)
        assert all(r["size"] >= 0 and r["folder"] == f"import:{export.name}" for r in rows)
        stored = assert_analysed(store, config, cases)
        parsed = [c for c in cases if c.parseable]
        assert len(stored) == len(parsed) - sum(c.duplicate for c in parsed)
        assert all(c.message_id in stored for c in parsed if c.message_id)
    shutil.rmtree(export) if export.is_dir() else export.unlink()  # 80 MB: not worth keeping in tmp


def _describe(keys: set[str], cases: dict[str, Case]) -> list[tuple[str, str, bool]]:
    return [(cases[k].kind, cases[k].variant, cases[k].parseable) for k in sorted(keys)[:30] if k in cases]


# --- IMAP -----------------------------------------------------------------------------------------------
def _append_each(account: ImapAccount, cases: tuple[Case, ...]) -> tuple[dict[int, Case], list[Case]]:
    """APPEND one at a time, so a refusal costs only that message and each UID is known
    (APPENDUID, RFC 4315). imaplib sends every line ending as CRLF, as most servers store them."""
    uids: dict[int, Case] = {}
    refused: list[Case] = []
    with account.client(timeout=60) as client:
        for case in cases:
            try:
                answer = client.append("INBOX", case.raw, msg_time=INTERNALDATE)
            except IMAPClientError:
                refused.append(case)
                continue
            m = re.search(rb"\[APPENDUID \d+ (\d+)\]", answer)
            assert m, answer
            uids[int(m.group(1))] = case
    return uids, refused


def test_imap_sync_logs_and_records_bad_mail_by_uid_and_never_downloads_attachments(
        dovecot: ImapAccount, cases: tuple[Case, ...], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    uids, refused = _append_each(dovecot, cases)
    # Dovecot 2.3 refuses the zero-byte message ("Can't save a zero byte message") and nothing
    # else; whatever it refuses is left out of the sync, and must never be mail
    assert all(c.imap_parseable is False for c in refused), [(c.kind, c.variant) for c in refused]
    appended_size = sum(len(c.raw) for c in uids.values())
    assert appended_size > 5 * badmail.ATTACHMENT_BYTES

    secret = tmp_path / "imap-password"
    secret.write_text(dovecot.password + "\n")
    secret.chmod(0o600)
    config_path, config = write_config(tmp_path / "cw", {
        "host": "127.0.0.1", "port": dovecot.imap_port, "security": "none", "username": dovecot.user,
        "password_file": str(secret), "folders": ["INBOX"]})

    # Bytes received, counted where imaplib takes them from the socket: every server answer
    # (greeting, lines and literals) goes through IMAP4.readline() and IMAP4.read(size), which
    # imapclient's plain-connection class does not override; nothing else reads that socket.
    # Wrapped on the class for the duration of the cycle only.
    received = [0]
    real_read, real_readline = imaplib.IMAP4.read, imaplib.IMAP4.readline

    def read(self: imaplib.IMAP4, size: int) -> bytes:
        data = real_read(self, size)
        received[0] += len(data)
        return data

    def readline(self: imaplib.IMAP4) -> bytes:
        line = real_readline(self)
        received[0] += len(line)
        return line

    with monkeypatch.context() as patch, caplog.at_level(logging.INFO):
        patch.setattr(imaplib.IMAP4, "read", read)
        patch.setattr(imaplib.IMAP4, "readline", readline)
        code = cli.main(["--config", str(config_path), "run", "--once"])
    assert_no_crash(code, capsys.readouterr(), caplog)
    # Every message's header fields and text part (capped at 64 kB: the huge headers and
    # bodies in the set make that about 7 MB in all), but not one attachment: a single one is
    # 14 MB on the wire (10 MB in base64), the five together 71 of the 81 MB appended.
    assert 0 < received[0] < badmail.ATTACHMENT_BYTES, received[0]
    assert received[0] < appended_size / 10

    expected_bad = {uid for uid, c in uids.items() if c.imap_parseable is False}
    maybe_bad = {uid for uid, c in uids.items() if c.imap_parseable is None}
    warnings = [r.getMessage() for r in caplog.records if r.name == "clientwatch.mailbox" and r.levelno == logging.WARNING]
    logged = [int(m.group(1)) for text in warnings
              for m in [re.search(r"folder 'INBOX' UID (\d+): skipped a malformed message", text)] if m]
    assert len(logged) == len(set(logged))
    with Store(config.storage_path) as store:
        rows = store.bad_messages()
        recorded = {r["uid"] for r in rows}
        assert all(r["folder"] == "INBOX" for r in rows)
        assert expected_bad <= recorded <= expected_bad | maybe_bad, \
            [(uids[u].kind, uids[u].variant) for u in sorted(recorded ^ expected_bad)][:30]
        assert set(logged) == recorded
        stored = assert_analysed(store, config, cases)
        stored_uids = {m.uid for m in stored.values()}  # type: ignore[attr-defined]
        for uid, case in uids.items():
            if case.imap_parseable and not case.duplicate:
                assert uid in stored_uids, (case.kind, case.variant)
                if case.message_id:
                    assert stored[case.message_id].uid == uid  # type: ignore[union-attr]
        # every appended message is accounted for: stored, recorded as bad, or a duplicate
        duplicates = {uid for uid, c in uids.items() if c.duplicate}
        assert stored_uids | recorded | duplicates == set(uids)
        assert not stored_uids & recorded
