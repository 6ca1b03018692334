"""1,000+ malformed messages through `import` (mbox and Maildir) and through IMAP sync:
zero crashes, every bad message logged and recorded, every good one analysed."""
from __future__ import annotations

import logging
import mailbox
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import malformed
from clientwatch import cli
from clientwatch.analysis import analyze
from clientwatch.config import load_config
from clientwatch.cycle import sync_mail
from clientwatch.store import Store
from servers import ImapAccount
from test_ingest_e2e import config_file

NOW = datetime(2026, 3, 10, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bytes, str]]:
    return malformed.generate(seed=1)


def expected_ids(corpus: list[tuple[str, bytes, str]]) -> int:
    """Stored messages expected: every non-bad one, less those sharing a Message-ID with an earlier one."""
    seen, count = set(), 0
    for _kind, raw, expect in corpus:
        if expect == "bad":
            continue
        head = raw.split(b"\r\n\r\n", 1)[0]
        m = re.search(rb"(?im)^Message-ID: *(<[^<>\s\x00-\x1f]{1,500}>)", head)
        if m is None or m.group(1) not in seen:
            count += 1
        if m is not None:
            seen.add(m.group(1))
    return count


def import_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[me]\naddresses = ["mara@studio-kvadrat.example"]\ntimezone = "Europe/Zagreb"\n'
                    f'[storage]\npath = "{tmp_path / "cw.db"}"\n')
    return path


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_import_survives_every_malformed_message(corpus: list[tuple[str, bytes, str]], tmp_path: Path, kind: str,
                                                 caplog: pytest.LogCaptureFixture,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / ("export.mbox" if kind == "mbox" else "Maildir")
    box = mailbox.mbox(target) if kind == "mbox" else mailbox.Maildir(target, create=True)
    for _kind, raw, _expect in corpus:
        box.add(raw)
    box.close()
    cfg = import_config(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert cli.main(["--config", str(cfg), "import", str(target)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out + caplog.text
    n_bad = sum(1 for *_, e in corpus if e == "bad")
    with Store(tmp_path / "cw.db") as store:
        assert len(store.bad_messages()) == n_bad
        assert store.count_messages() == expected_ids(corpus)
        config = load_config(cfg, require_imap=False)
        good = {r.metrics.name: r.metrics for r in analyze(store, config, NOW)}["goodclient.example"]
    assert good.from_client == sum(1 for k, *_ in corpus if k == "good")
    assert sum("skipped" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) >= n_bad


def test_imap_sync_survives_every_malformed_message(corpus: list[tuple[str, bytes, str]], dovecot: ImapAccount,
                                                    tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = dovecot.client()
    refused: list[str] = []
    accepted: list[tuple[str, bytes, str]] = []
    for kind, raw, expect in corpus:
        try:
            client.append("INBOX", raw, msg_time=datetime(2026, 3, 4, 9, tzinfo=timezone.utc))
            accepted.append((kind, raw, expect))
        except Exception:  # Dovecot may refuse raw junk at APPEND; it can never reach a user then
            refused.append(kind)
    client.logout()
    assert set(refused) <= {"binary-junk"}, refused
    config = load_config(config_file(dovecot, tmp_path))
    with caplog.at_level(logging.WARNING), Store(config.storage_path) as store:
        new, bad = sync_mail(config, store)
        assert "Traceback" not in caplog.text
        # over IMAP a missing or absurd Date falls back to INTERNALDATE: only junk is unusable
        junk = sum(1 for k, *_ in accepted if k == "binary-junk")
        kinds = sorted({accepted[row["uid"] - 1][0] for row in store.bad_messages()})  # shown on failure
        assert bad == junk == len(store.bad_messages()), kinds
        assert all(row["uid"] for row in store.bad_messages())
        assert new == store.count_messages() >= len(accepted) - junk - 11
        good = {r.metrics.name: r.metrics for r in analyze(store, config, NOW)}["goodclient.example"]
        assert good.from_client == sum(1 for k, *_ in accepted if k == "good")
        bodies = [m.text for m in store.messages() if "see attached" in m.text]
        assert bodies and max(len(b) for b in bodies) < 1000  # the 10 MB attachments stayed on the server
