"""The SQLite store: private files, recorded migrations, refusal of newer schemas, batches."""
from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from clientwatch.errors import StoreError
from clientwatch.records import BadMessage, Message
from clientwatch.store import MIGRATIONS, Store

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def message(n: int, folder: str = "INBOX", uid: int | None = None, **changes: object) -> Message:
    fields: dict[str, object] = dict(
        message_id=f"<m{n}@client.example>", date=T0 + timedelta(hours=n), from_addr="ana@client.example",
        from_name="Ana Šimić", to=("me@example.com",), cc=("boss@client.example",), subject=f"Logo {n}",
        in_reply_to=(f"<m{n - 1}@client.example>",) if n else (), references=tuple(f"<m{k}@client.example>" for k in range(n)),
        text=f"Body {n}: računovođa 안녕하세요", automated=False, folder=folder, uid=uid if uid is not None else n + 1)
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Run with umask 000, so the store's own modes are tested rather than the umask's."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_files_are_private_even_with_a_permissive_umask(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "state" / "clientwatch.db"
    with Store(path) as store:
        store.save_batch("INBOX", 7, 3, [message(0), message(1)])
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        # WAL mode with the connection open: both side files exist and hold data
        assert wal.exists() and shm.exists() and wal.stat().st_size > 0
        assert mode(path.parent) == 0o700
        assert {p.name: mode(p) for p in (path, wal, shm)} == {p.name: 0o600 for p in (path, wal, shm)}
    # re-opened (SQLite may have removed and now re-creates the side files): still private
    with Store(path) as store:
        store.save_batch("INBOX", 7, 4, [message(2)])
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert mode(p) == 0o600, p


def test_migrations_are_recorded_and_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    with Store(path) as store:
        first = [tuple(r) for r in store.db.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")]
        assert [v for v, _ in first] == list(range(1, len(MIGRATIONS) + 1))
        assert store.schema_version() == len(MIGRATIONS)
        store.save_batch("INBOX", 7, 1, [message(0)])
    for _ in range(2):
        with Store(path) as store:
            again = [tuple(r) for r in store.db.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")]
            assert again == first  # nothing re-applied, nothing re-recorded
            assert store.count_messages() == 1
            tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"messages", "folders", "bad_messages", "flag_state", "outbox", "meta", "schema_migrations"} <= tables


def test_a_partly_migrated_store_is_completed(tmp_path: Path) -> None:
    """A store from an older clientwatch (only migration 1 applied) gets the later ones."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO schema_migrations VALUES (1, 0)")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.db.execute("SELECT applied_at FROM schema_migrations WHERE version = 1").fetchone()[0] == 0
        assert store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_a_store_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    with Store(path) as store:
        store.db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer"):
        Store(path)
    with pytest.raises(StoreError, match="newer"):  # what `report` opens
        Store(path, readonly=True)


def test_readonly_open_of_a_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run --once"):
        Store(tmp_path / "nothing.db", readonly=True)
    assert not (tmp_path / "nothing.db").exists()


def test_messages_round_trip_exactly(tmp_path: Path) -> None:
    originals = [message(0), message(1, automated=True, cc=()), message(2, folder="Sent")]
    with Store(tmp_path / "cw.db") as store:
        store.save_batch("INBOX", 7, 3, originals)
    with Store(tmp_path / "cw.db", readonly=True) as store:
        assert store.messages() == originals
        assert store.get_messages(["<m1@client.example>", "<nope@x>"]) == {"<m1@client.example>": originals[1]}
        assert store.messages(since=T0 + timedelta(hours=1)) == originals[1:]


def test_save_batch_deduplicates_and_never_moves_the_high_water_mark_back(tmp_path: Path) -> None:
    with Store(tmp_path / "cw.db") as store:
        assert store.save_batch("INBOX", 7, 10, [message(0), message(1)]) == 2
        assert store.save_batch("INBOX", 7, 12, [message(1), message(2)]) == 1  # <m1> already stored
        assert store.count_messages() == 3
        assert store.folder_state("INBOX") == (7, 12, None)
        store.save_batch("INBOX", 7, 5, [])  # an older batch replayed: last_uid stays
        assert store.folder_state("INBOX") == (7, 12, None)
        assert store.folder_state("Sent") is None


def test_bad_messages_are_recorded_once_per_uid_and_reset_with_the_folder(tmp_path: Path) -> None:
    with Store(tmp_path / "cw.db") as store:
        store.save_batch("INBOX", 7, 3, [message(0)], [BadMessage("INBOX", 2, "junk", 3000)])
        store.save_batch("INBOX", 7, 3, [], [BadMessage("INBOX", 2, "junk again", 3000),
                                             BadMessage("Sent", 9, "broken", 10)])
        assert [(r["folder"], r["uid"], r["reason"]) for r in store.bad_messages()] == \
            [("INBOX", 2, "junk again"), ("Sent", 9, "broken")]
        store.reset_folder("INBOX", 99)  # UIDVALIDITY changed
        assert store.folder_state("INBOX") == (99, 0, None)
        assert [(r["folder"], r["uid"]) for r in store.bad_messages()] == [("Sent", 9)]
        assert store.count_messages() == 1  # messages stay; Message-IDs de-duplicate the re-sync


def test_a_failed_batch_is_rolled_back_whole(tmp_path: Path) -> None:
    with Store(tmp_path / "cw.db") as store:
        store.save_batch("INBOX", 7, 3, [message(0)])
        broken = message(1, text=object())  # cannot be bound: fails inside the transaction, after <m2> went in
        with pytest.raises(StoreError, match="rolled back"):
            store.save_batch("INBOX", 7, 9, [message(2), broken])
        assert store.count_messages() == 1 and store.folder_state("INBOX") == (7, 3, None)


def test_meta_values(tmp_path: Path) -> None:
    with Store(tmp_path / "cw.db") as store:
        assert store.get_meta("analysed_at", "0") == "0"
        store.set_meta("analysed_at", "12.5")
        store.set_meta("analysed_at", "13.5")
        assert store.get_meta("analysed_at") == "13.5"
