"""`import` of an mbox file or a Maildir: the same pipeline, the same exact figures."""
from __future__ import annotations

import functools
import json
import mailbox
import random
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from clientwatch import cli, samples
from clientwatch.analysis import analyze
from clientwatch.config import Config, parse_config
from clientwatch.errors import InputError
from clientwatch.importer import import_path
from clientwatch.store import Store
from test_metrics import assert_matches_ground_truth

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)
JUNK = bytes(random.Random(3).randrange(1, 256) for _ in range(2000)).replace(b"\n", b"x")


@functools.lru_cache(maxsize=None)
def sample() -> samples.SampleMailbox:
    return samples.generate(NOW)


def config(tmp_path: Path) -> Config:
    return parse_config(tomllib.loads(samples.sample_config_toml(str(tmp_path / "cw.db"))), require_imap=False)


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.mbox(path, create=True)
    for raw in messages:
        box.add(raw)
    box.close()
    return path


def write_maildir(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for n, raw in enumerate(messages):
        key = box.add(raw)
        if n % 2:  # half of them already read: they live in cur/, the rest in new/
            msg = box.get_message(key)
            msg.set_subdir("cur")
            msg.add_flag("S")
            box[key] = msg
    box.close()
    return path


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_an_export_gives_exactly_the_ground_truth(tmp_path: Path, kind: str) -> None:
    box = sample()
    messages = [raw for _folder, raw in box.all_messages()]
    random.Random(1).shuffle(messages)  # an export's order means nothing
    path = write_mbox(tmp_path / "export.mbox", messages + [JUNK]) if kind == "mbox" else \
        write_maildir(tmp_path / "Maildir", messages + [JUNK])
    if kind == "maildir":
        assert any((path / "cur").iterdir()) and any((path / "new").iterdir())
    cfg = config(tmp_path)
    with Store(cfg.storage_path) as store:
        assert import_path(store, path) == (len(messages), 1)
        assert_matches_ground_truth(box, analyze(store, cfg, NOW))
        [bad] = store.bad_messages()
        assert "not an email message" in bad["reason"] and bad["size"] >= len(JUNK)  # (mbox adds a newline)
        # importing the same export again adds nothing
        assert import_path(store, path) == (0, 1)
        assert store.count_messages() == len(messages)


def test_import_batches_across_the_batch_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import clientwatch.importer as importer

    monkeypatch.setattr(importer, "BATCH", 7)
    box = sample()
    messages = [raw for _folder, raw in box.all_messages()]
    path = write_mbox(tmp_path / "export.mbox", messages)
    cfg = config(tmp_path)
    with Store(cfg.storage_path) as store:
        assert import_path(store, path) == (len(messages), 0)
        assert_matches_ground_truth(box, analyze(store, cfg, NOW))


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing.mbox", "no such file"),
    (lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt", "not an mbox file"),
    (lambda p: (p / "plain-dir").mkdir() or p / "plain-dir", "not a Maildir"),
])
def test_paths_that_are_not_exports_are_input_errors(tmp_path: Path, make, message: str) -> None:
    cfg = config(tmp_path)
    with Store(cfg.storage_path) as store, pytest.raises(InputError, match=message):
        import_path(store, make(tmp_path))


def test_the_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)  # the command measures up to the real now
    box = samples.generate(now)
    path = write_mbox(tmp_path / "export.mbox", [raw for _f, raw in box.all_messages()] + [JUNK])
    conf = tmp_path / "config.toml"
    conf.write_text(samples.sample_config_toml(str(tmp_path / "state" / "cw.db")))
    conf.chmod(0o600)
    assert cli.main(["--config", str(conf), "import", str(path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    head, _, body = out.partition("\n")
    assert head == f"imported {len(box.inbox) + len(box.sent)} new message(s); 1 malformed message(s) logged and skipped"
    doc = json.loads(body)
    assert {c["name"]: c["messages"]["from_client"] for c in doc["clients"]} == \
        {name: e.from_client for name, e in box.expected.items()}
    assert cli.main(["--config", str(conf), "import", str(tmp_path / "nope.mbox")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_raw_utf8_header_fields_are_decoded(tmp_path: Path) -> None:
    """RFC 6532 mail (UTF-8 right in the header) is common; the email package calls it unknown-8bit."""
    raw = ("From: Ivana Perić <ivana@jadran-tours.example>\r\nTo: Mara <mara@studio-kvadrat.example>\r\n"
           "Subject: Račun za ožujak 견적서\r\nDate: Tue, 03 Mar 2026 10:12:00 +0100\r\nMessage-ID: <u8@x>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nPlatit ćemo idući mjesec.\r\n").encode()
    cfg = config(tmp_path)
    with Store(cfg.storage_path) as store:
        import_path(store, write_mbox(tmp_path / "u8.mbox", [raw]))
        [msg] = store.messages()
    assert (msg.subject, msg.from_name, msg.text.strip()) == ("Račun za ožujak 견적서", "Ivana Perić",
                                                            "Platit ćemo idući mjesec.")
