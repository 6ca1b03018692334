"""Import a mail export (an mbox file or a Maildir) through the same parse-and-store path."""
from __future__ import annotations

import logging
import mailbox
from pathlib import Path
from typing import Iterator

from .errors import InputError
from .mime import ParseError, parse_raw
from .records import BadMessage, Message
from .store import Store

log = logging.getLogger(__name__)
BATCH = 500


def _raw_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(key, raw bytes)`` for every message in an mbox file or a Maildir directory."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise InputError(f"{path}: a directory that is not a Maildir (no cur/ or new/ inside)")
        box: mailbox.Mailbox = mailbox.Maildir(path, factory=None, create=False)
    elif path.is_file():
        with path.open("rb") as f:
            head = f.read(5)
        if head and head != b"From ":
            raise InputError(f"{path}: not an mbox file (it does not start with a 'From ' line)")
        box = mailbox.mbox(path, factory=None, create=False)
    else:
        raise InputError(f"{path}: no such file or directory")
    try:
        for key in box.iterkeys():
            try:
                yield str(key), box.get_bytes(key)
            except (OSError, KeyError) as e:
                log.warning("%s: cannot read message %s: %s", path, key, e)
    finally:
        box.close()


def import_path(store: Store, path: Path) -> tuple[int, int]:
    """Parse and store every message under ``path``; returns ``(new messages, bad messages)``."""
    folder = f"import:{path.name}"
    messages: list[Message] = []
    bad: list[BadMessage] = []
    added = bad_count = 0
    for n, (key, raw) in enumerate(_raw_messages(path), start=1):
        try:
            messages.append(parse_raw(raw, folder=folder))
        except ParseError as e:
            log.warning("%s: message %s skipped: %s", path, key, e)
            bad.append(BadMessage(folder, n, f"message {key}: {e}", len(raw)))
        if len(messages) + len(bad) >= BATCH:
            added += store.save_batch(None, None, None, messages, bad)
            bad_count += len(bad)
            messages, bad = [], []
    added += store.save_batch(None, None, None, messages, bad)
    bad_count += len(bad)
    return added, bad_count
