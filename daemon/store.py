"""The SQLite store: messages, per-folder sync state, bad messages, tone, flags and the outbox.

One file in WAL mode, created 0600 in a 0700 directory. The schema only changes through the
ordered migrations below, each applied in one transaction together with its record.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from .errors import StoreError
from .records import BadMessage, Message

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: messages, folder sync state and bad messages
    """
    CREATE TABLE folders (
        name TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL DEFAULT 0,
        highestmodseq INTEGER, synced_at REAL);
    CREATE TABLE messages (
        message_id TEXT PRIMARY KEY, date REAL NOT NULL, from_addr TEXT NOT NULL, from_name TEXT NOT NULL,
        to_addrs TEXT NOT NULL, cc_addrs TEXT NOT NULL, subject TEXT NOT NULL, in_reply_to TEXT NOT NULL,
        refs TEXT NOT NULL, body TEXT NOT NULL, automated INTEGER NOT NULL, folder TEXT NOT NULL,
        uid INTEGER, added_at REAL NOT NULL,
        tone TEXT, tone_scores TEXT, tone_model TEXT);
    CREATE INDEX messages_date ON messages(date);
    CREATE TABLE bad_messages (
        id INTEGER PRIMARY KEY, folder TEXT NOT NULL, uid INTEGER, reason TEXT NOT NULL,
        size INTEGER NOT NULL, seen_at REAL NOT NULL, UNIQUE(folder, uid));
    """,
    # 2: flags already raised (so each kind is mailed once until it clears), alerted messages
    """
    CREATE TABLE flag_state (
        client TEXT NOT NULL, kind TEXT NOT NULL, raised_at REAL NOT NULL, cleared_at REAL,
        digest_pending INTEGER NOT NULL DEFAULT 0, reasons TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (client, kind));
    CREATE TABLE alerted_messages (message_id TEXT PRIMARY KEY, alerted_at REAL NOT NULL);
    """,
    # 3: the outbox: an alert is recorded before sending and marked sent only when accepted
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
        client TEXT NOT NULL, created_at REAL NOT NULL, payload BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL, last_error TEXT, sent_at REAL);
    CREATE INDEX outbox_status ON outbox(status, next_attempt_at);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)


def _private_file(path: Path) -> None:
    """Create ``path`` (and its WAL and shm siblings) 0600 before SQLite opens them."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(p, 0o600)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class Store:
    """A connection to the store; use as a context manager or call ``close()``."""

    def __init__(self, path: Path | str, readonly: bool = False) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        try:
            if self.path is not None:
                if readonly and not self.path.exists():
                    raise StoreError(f"{self.path}: no store yet; run `clientwatch run --once` first")
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if not readonly:
                    old_mask = os.umask(0o077)
                    try:
                        _private_file(self.path)
                    finally:
                        os.umask(old_mask)
            target = str(self.path) if self.path else ":memory:"
            if readonly:
                # quoted: a "#", "?" or "%" in the path must not cut the URI short (SQLite would
                # then create a stray file at the truncated path) nor add parameters to it
                target = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
                if self.path is not None and _read_only_fs(self.path):
                    # SQLite cannot create the WAL index (-shm) on a read-only file system, and
                    # nothing can change the file there: read it as immutable
                    target += "&immutable=1"
            self.db = sqlite3.connect(target, uri=readonly, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
            elif (version := self.schema_version()) > len(MIGRATIONS):  # read-only users (report) too
                self.db.close()
                raise StoreError(f"{self.path}: the store was written by a newer clientwatch (schema {version})")
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the store: {e}") from e
        except OSError as e:
            raise StoreError(f"{self.path}: cannot create the store: {e.strerror}") from e

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; SQLite errors become StoreError."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot write to the store: {e}") from e
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as e:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"{self.path}: write failed and was rolled back: {e}") from e
            raise

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        done = {row[0] for row in self.db.execute("SELECT version FROM schema_migrations")}
        if done and max(done) > len(MIGRATIONS):
            raise StoreError(f"{self.path}: the store was written by a newer clientwatch (schema {max(done)})")
        for version, script in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            with self.transaction() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            log.debug("store migrated to schema %d", version)

    def schema_version(self) -> int:
        return self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0

    # --- folder sync state ---------------------------------------------------------------
    def folder_state(self, name: str) -> tuple[int, int, int | None] | None:
        """``(uidvalidity, last_uid, highestmodseq)`` of a folder, or None if never synced."""
        row = self.db.execute("SELECT uidvalidity, last_uid, highestmodseq FROM folders WHERE name = ?", (name,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def reset_folder(self, name: str, uidvalidity: int) -> None:
        """Forget a folder's UIDs (UIDVALIDITY changed); messages stay, de-duplicated by Message-ID."""
        with self.transaction() as db:
            db.execute("INSERT INTO folders(name, uidvalidity, last_uid) VALUES (?, ?, 0) "
                       "ON CONFLICT(name) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = 0, highestmodseq = NULL",
                       (name, uidvalidity))
            db.execute("DELETE FROM bad_messages WHERE folder = ?", (name,))

    def touch_folder(self, name: str, highestmodseq: int | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE folders SET highestmodseq = ?, synced_at = ? WHERE name = ?", (highestmodseq, time.time(), name))

    def save_batch(self, folder: str | None, uidvalidity: int | None, last_uid: int | None,
                   messages: Iterable[Message], bad: Iterable[BadMessage] = ()) -> int:
        """Store a batch and advance the folder's last UID in one transaction; returns new rows."""
        now = time.time()
        rows = [(m.message_id, m.date.timestamp(), m.from_addr, m.from_name, _json_list(m.to), _json_list(m.cc),
                 m.subject, _json_list(m.in_reply_to), _json_list(m.references), m.text, int(m.automated),
                 m.folder, m.uid, now) for m in messages]
        with self.transaction() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO messages(message_id, date, from_addr, from_name, to_addrs, cc_addrs, "
                           "subject, in_reply_to, refs, body, automated, folder, uid, added_at) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            added = db.total_changes - before
            db.executemany("INSERT OR REPLACE INTO bad_messages(folder, uid, reason, size, seen_at) VALUES (?,?,?,?,?)",
                           [(b.folder, b.uid, b.reason, b.size, now) for b in bad])
            if folder is not None:
                db.execute("INSERT INTO folders(name, uidvalidity, last_uid, synced_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT(name) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                           "last_uid = MAX(folders.last_uid, excluded.last_uid), synced_at = excluded.synced_at",
                           (folder, uidvalidity, last_uid or 0, now))
        return added

    # --- messages ------------------------------------------------------------------------
    def messages(self, since: datetime | None = None) -> list[Message]:
        """All stored messages dated at or after ``since``, oldest first."""
        query = f"SELECT {_MESSAGE_COLUMNS} FROM messages" + (" WHERE date >= ?" if since else "") + " ORDER BY date, message_id"
        params = (since.timestamp(),) if since else ()
        cursor = self.db.execute(query, params)
        cursor.row_factory = None  # plain tuples: the whole window is read on every analysis
        return [_tuple_to_message(r) for r in cursor]

    def tones(self) -> dict[str, tuple[str, dict[str, float]]]:
        """``message_id -> (label, scores)`` for every classified message."""
        return {r[0]: (r[1], json.loads(r[2] or "{}"))
                for r in self.db.execute("SELECT message_id, tone, tone_scores FROM messages WHERE tone IS NOT NULL")}

    def unclassified(self, model_id: str, ids: Iterable[str]) -> list[tuple[str, str, str]]:
        """``(message_id, subject, body)`` of the given messages not yet classified by ``model_id``."""
        wanted = list(ids)
        out: list[tuple[str, str, str]] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out += [tuple(r) for r in self.db.execute(
                f"SELECT message_id, subject, body FROM messages WHERE message_id IN ({marks}) "
                f"AND (tone_model IS NULL OR tone_model != ?)", (*chunk, model_id))]
        return out

    def set_tones(self, model_id: str, results: Iterable[tuple[str, str, dict[str, float]]]) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE messages SET tone = ?, tone_scores = ?, tone_model = ? WHERE message_id = ?",
                           [(label, json.dumps(scores), model_id, mid) for mid, label, scores in results])

    def get_messages(self, ids: Iterable[str]) -> dict[str, Message]:
        """Stored messages by Message-ID (missing ids are absent from the result)."""
        wanted = list(ids)
        out: dict[str, Message] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            for r in self.db.execute(f"SELECT * FROM messages WHERE message_id IN ({','.join('?' * len(chunk))})", chunk):
                out[r["message_id"]] = _row_to_message(r)
        return out

    def count_messages(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def bad_messages(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT folder, uid, reason, size, seen_at FROM bad_messages ORDER BY id"))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(items) if items else "[]"


def _json_tuple(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))  # most Cc and In-Reply-To lists are empty


_MESSAGE_COLUMNS = "message_id, date, from_addr, from_name, to_addrs, cc_addrs, subject, in_reply_to, refs, body, " \
                   "automated, folder, uid"


def _tuple_to_message(r: tuple) -> Message:  # type: ignore[type-arg]
    return Message(r[0], datetime.fromtimestamp(r[1], timezone.utc), r[2], r[3], _json_tuple(r[4]), _json_tuple(r[5]),
                   r[6], _json_tuple(r[7]), _json_tuple(r[8]), r[9], bool(r[10]), r[11], r[12])


def _row_to_message(r: sqlite3.Row) -> Message:
    return Message(
        message_id=r["message_id"], date=datetime.fromtimestamp(r["date"], timezone.utc), from_addr=r["from_addr"],
        from_name=r["from_name"], to=_json_tuple(r["to_addrs"]), cc=_json_tuple(r["cc_addrs"]),
        subject=r["subject"], in_reply_to=_json_tuple(r["in_reply_to"]), references=_json_tuple(r["refs"]),
        text=r["body"], automated=bool(r["automated"]), folder=r["folder"], uid=r["uid"])


class AlertStore:
    """The flag-state, alerted-message and outbox tables, for ``alerts``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def active_flags(self) -> dict[tuple[str, str], sqlite3.Row]:
        return {(r["client"], r["kind"]): r for r in self.db.execute("SELECT * FROM flag_state WHERE cleared_at IS NULL")}

    def raise_flag(self, db: sqlite3.Connection, client: str, kind: str, digest: bool, reasons: list[str],
                   evidence: list[str]) -> None:
        db.execute("INSERT INTO flag_state(client, kind, raised_at, cleared_at, digest_pending, reasons, evidence) "
                   "VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT(client, kind) DO UPDATE SET raised_at = excluded.raised_at, "
                   "cleared_at = NULL, digest_pending = excluded.digest_pending, reasons = excluded.reasons, "
                   "evidence = excluded.evidence", (client, kind, time.time(), int(digest), json.dumps(reasons),
                                                    json.dumps(evidence)))

    def clear_flag(self, db: sqlite3.Connection, client: str, kind: str) -> None:
        db.execute("UPDATE flag_state SET cleared_at = ?, digest_pending = 0 WHERE client = ? AND kind = ?",
                   (time.time(), client, kind))

    def pending_digest(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM flag_state WHERE digest_pending = 1 AND cleared_at IS NULL "
                                    "ORDER BY client, kind"))

    def alerted(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            found |= {r[0] for r in self.db.execute(
                f"SELECT message_id FROM alerted_messages WHERE message_id IN ({','.join('?' * len(chunk))})", chunk)}
        return found

    def mark_alerted(self, db: sqlite3.Connection, ids: Iterable[str]) -> None:
        now = time.time()
        db.executemany("INSERT OR IGNORE INTO alerted_messages VALUES (?, ?)", [(i, now) for i in ids])

    def enqueue(self, db: sqlite3.Connection, message_id: str, kind: str, client: str, payload: bytes) -> None:
        now = time.time()
        db.execute("INSERT OR IGNORE INTO outbox(message_id, kind, client, created_at, payload, next_attempt_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (message_id, kind, client, now, payload, now))

    def due(self, now: float) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT id, message_id, kind, client, payload, attempts FROM outbox "
                                    "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id", (now,)))

    def claim_due(self, now: float, until: float) -> list[sqlite3.Row]:
        """The alerts due at ``now``, claimed until ``until`` in one transaction (see ``Notifier.flush``)."""
        with self.store.transaction() as db:
            rows = list(db.execute("SELECT id, message_id, kind, client, payload, attempts FROM outbox "
                                   "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id", (now,)))
            db.executemany("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", [(until, r["id"]) for r in rows])
        return rows

    def release(self, ids: Iterable[int]) -> None:
        """Give claimed alerts back untried: due again at once."""
        with self.store.transaction() as db:
            db.executemany("UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'",
                           [(time.time(), i) for i in ids])

    def mark_sent(self, outbox_id: int) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL "
                       "WHERE id = ?", (time.time(), outbox_id))

    def mark_failed(self, outbox_id: int, error: str, retry_at: float | None) -> None:
        with self.store.transaction() as db:
            if retry_at is None:
                db.execute("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
                           (error[:500], outbox_id))
            else:
                db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                           (error[:500], retry_at, outbox_id))

    def outbox_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")}

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]

    def failed(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT message_id, kind, client, attempts, last_error FROM outbox "
                                    "WHERE status = 'failed' ORDER BY id"))
