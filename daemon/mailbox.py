"""IMAP: connect securely, find the folders to watch, and sync new mail into the store.

Sync is incremental and read-only: each folder is opened with EXAMINE and fetched with
BODY.PEEK, so no flag ever changes. We keep UIDVALIDITY and the highest UID per folder;
a poll on an unchanged folder costs one STATUS. New UIDs are fetched in batches, each
batch committed with the folder's new high-water mark, so a crash resumes where it
stopped. Only the header fields, BODYSTRUCTURE and the chosen text part (capped) are
downloaded: attachments never are. FETCH answers are parsed here (``parse_fetch``), and the
next batch is requested before the current one is processed: see ``_Fetch``.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from .config import ImapConfig
from .errors import AuthError, ImapError
from .mime import HEADER_FIELDS, ParseError, TextPart, choose_text_part, parse_fetched
from .records import BadMessage, Message
from .store import Store

log = logging.getLogger(__name__)
# imapclient's protocol logger writes whole messages at DEBUG; never let it through
logging.getLogger("imapclient").setLevel(logging.WARNING)
logging.getLogger("imapclient.imaplib").setLevel(logging.WARNING)

SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "[Gmail]/Sent Mail", "INBOX.Sent", "INBOX/Sent",
              "Gesendet", "Gesendete Elemente", "Enviados", "Elementos enviados", "Poslano", "Poslane stavke", "보낸편지함")
_HEADER_ITEM = ("BODY.PEEK[HEADER.FIELDS (" + " ".join(HEADER_FIELDS) + ")]").encode()
NETWORK_ERRORS = (OSError, IMAPClientAbortError, ssl.SSLError, socket.timeout, EOFError)


def gmail_hint(host: str) -> str:
    if any(h in host.lower() for h in ("gmail", "google")):
        return (" Gmail refuses normal passwords: create an app password (Google account → Security → "
                "App passwords) or use oauth2_token_command.")
    if any(h in host.lower() for h in ("office365", "outlook", "microsoft")):
        return " Microsoft 365 usually needs OAuth2: set oauth2_token_command."
    return ""


def connect(cfg: ImapConfig) -> imapclient.IMAPClient:
    """Connect, secure and log in; failures become ``ImapError`` / ``AuthError`` that say what to do."""
    where = f"IMAP {cfg.host}:{cfg.port}"
    context = _tls_context(str(cfg.tls_ca_file) if cfg.tls_ca_file else None) if cfg.security != "none" else None
    timeout = imapclient.SocketTimeout(connect=cfg.connect_timeout, read=cfg.read_timeout)
    try:
        client = imapclient.IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "ssl", ssl_context=context,
                                       timeout=timeout)
    except ssl.SSLCertVerificationError as e:
        raise ImapError(f"{where}: the server's TLS certificate is not trusted ({e.verify_message}); "
                        "if it uses a private CA, set imap.tls_ca_file") from e
    except (socket.timeout, TimeoutError) as e:
        raise ImapError(f"{where}: no answer within {cfg.connect_timeout:.0f} s") from e
    except socket.gaierror as e:
        raise ImapError(f"{where}: cannot resolve the host name ({e.strerror})") from e
    except ssl.SSLError as e:
        raise ImapError(f"{where}: TLS failed ({e.reason}); check imap.security and imap.port "
                        "(ssl is usually 993, starttls 143)") from e
    except (OSError, IMAPClientError) as e:
        raise ImapError(f"{where}: cannot connect: {e}") from e
    # aware INTERNALDATEs: by default imapclient converts them to naive local time, using the
    # offset in force *now*, and our fallback date would then be read as UTC
    client.normalise_times = False
    # imapclient turns on imaplib's protocol trace (debug = 5) and routes it to a logger we
    # keep at WARNING; off at the source, it can never log a message, nor cost a call a line
    client._imap.debug = 0
    try:
        if cfg.security == "starttls":
            try:
                client.starttls(context)
            except ssl.SSLCertVerificationError as e:
                raise ImapError(f"{where}: the server's TLS certificate is not trusted ({e.verify_message}); "
                                "if it uses a private CA, set imap.tls_ca_file") from e
            except IMAPClientError as e:
                raise ImapError(f"{where}: STARTTLS failed ({e}); the server may not offer it: use security = \"ssl\"") from e
        try:
            if cfg.oauth2_token is not None:
                client.oauth2_login(cfg.username, cfg.oauth2_token.get())
            else:
                assert cfg.password is not None
                client.login(cfg.username, cfg.password.get())
        except LoginError as e:
            raise AuthError(f"{where}: login refused for {cfg.username}; check the username and the password "
                            f"source.{gmail_hint(cfg.host)}") from e
    except BaseException:
        _quiet_logout(client)
        raise
    return client


def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying client context. Loading the system CAs takes ~50 ms, most of a poll, so
    contexts are reused; a changed ``tls_ca_file`` (new mtime) gets a fresh one."""
    try:
        stamp = os.stat(cafile).st_mtime_ns if cafile else 0
    except OSError:
        stamp = -1  # missing now: create_default_context reports it
    return _cached_context(cafile, stamp)


@functools.lru_cache(maxsize=8)
def _cached_context(cafile: str | None, _stamp: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def _quiet_logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone; logging out is best effort
        try:
            client.shutdown()
        except Exception:
            pass


@dataclass
class SyncResult:
    """What one sync did, per folder."""

    new: int = 0
    bad: int = 0
    folders: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


class Syncer:
    """Brings the store up to date with the watched IMAP folders."""

    def __init__(self, cfg: ImapConfig, store: Store, stop: threading.Event | None = None,
                 on_batch: Callable[[str, int], None] | None = None) -> None:
        self.cfg, self.store = cfg, store
        self.stop = stop or threading.Event()
        self.on_batch = on_batch

    def folders(self, client: imapclient.IMAPClient) -> tuple[list[str], str | None]:
        """The configured folders plus the Sent folder (SPECIAL-USE \\Sent, else by name)."""
        sent: str | None
        if self.cfg.sent_folder.lower() == "auto":
            try:
                # imapclient exports SENT from imapclient.imapclient only, not the package
                sent = client.find_special_folder(imapclient.imapclient.SENT)
            except IMAPClientError:
                sent = None
            if sent is None:
                names = {name for _flags, _sep, name in client.list_folders()}
                sent = next((n for n in SENT_NAMES if n in names), None)
        else:
            sent = self.cfg.sent_folder
        watched = list(dict.fromkeys([*self.cfg.folders, *([sent] if sent else [])]))
        return watched, sent

    def sync(self, client: imapclient.IMAPClient) -> SyncResult:
        """Sync every watched folder; a folder that has disappeared is logged and skipped."""
        result = SyncResult()
        watched, sent = self.folders(client)
        if sent is None:
            log.warning("no Sent folder found (set imap.sent_folder); my replies will be missing, so latency is unknown")
        for name in watched:
            if self.stop.is_set():
                break
            try:
                added, bad = self.sync_folder(client, name)
            except _FolderMissing:
                log.warning("folder %r does not exist on the server; skipped", name)
                result.missing.append(name)
                continue
            result.new += added
            result.bad += bad
            result.folders[name] = added
        return result

    def sync_folder(self, client: imapclient.IMAPClient, name: str) -> tuple[int, int]:
        try:
            status = client.folder_status(name, [b"UIDVALIDITY", b"UIDNEXT"])
        except IMAPClientAbortError:
            raise
        except IMAPClientError as e:
            raise _FolderMissing(name) from e
        uidvalidity, uidnext = int(status[b"UIDVALIDITY"]), int(status[b"UIDNEXT"])
        state = self.store.folder_state(name)
        if state is not None and state[0] != uidvalidity:
            log.warning("UIDVALIDITY of %r changed (%d -> %d): re-syncing it; messages are de-duplicated by Message-ID",
                        name, state[0], uidvalidity)
            self.store.reset_folder(name, uidvalidity)
            state = (uidvalidity, 0, None)
        last_uid = state[1] if state else 0
        if uidnext <= last_uid + 1:
            return 0, 0  # unchanged: one STATUS is the whole cost of this poll
        info = client.select_folder(name, readonly=True)
        if int(info.get(b"UIDVALIDITY", uidvalidity)) != uidvalidity:
            raise ImapError(f"UIDVALIDITY of {name!r} changed during the sync; retrying next cycle")
        # "UID n:*" always matches the highest UID (RFC 3501 §6.4.8), so filter on our side
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        batches = [uids[i:i + self.cfg.batch_size] for i in range(0, len(uids), self.cfg.batch_size)]
        added = bad = 0
        # Pipelined (RFC 3501 §5.5): the next batch's FETCH commands are sent before this
        # batch is parsed and committed, so the server prepares them meanwhile; each batch is
        # still committed on its own, in order, and only once all of it has arrived.
        pending = self.request_batch(client, batches[0]) if batches and not self.stop.is_set() else None
        for n, batch in enumerate(batches):
            if pending is None:
                break
            structure, parts, texts = pending
            following = None
            if n + 1 < len(batches) and not self.stop.is_set():
                following = _Fetch(client, batches[n + 1], _STRUCTURE_ITEMS)
            fetched: dict[int, dict[bytes, Any]] = {}
            for fetch in texts:
                fetched.update(fetch.result())
            pending = self.request_texts(client, batches[n + 1], following.result()) if following else None
            messages, bad_messages = self.build_batch(name, batch, structure, parts, fetched)
            last_uid = batch[-1]
            added += self.store.save_batch(name, uidvalidity, last_uid, messages, bad_messages)
            bad += len(bad_messages)
            if self.on_batch:
                self.on_batch(name, last_uid)
            if pending is not None and self.stop.is_set():
                for fetch in pending[2]:
                    fetch.result()  # answered but not kept: the next cycle fetches it again
                log.info("stopping: %r synced up to UID %d", name, last_uid)
                break
        try:
            client.unselect_folder()
        except IMAPClientError:
            client.close_folder()
        return added, bad

    def request_batch(self, client: imapclient.IMAPClient, uids: list[int]) -> "_Batch":
        """Fetch the batch's BODYSTRUCTUREs, then send (not wait for) the FETCHes of its texts."""
        return self.request_texts(client, uids, _Fetch(client, uids, _STRUCTURE_ITEMS).result())

    def request_texts(self, client: imapclient.IMAPClient, uids: list[int],
                      structure: dict[int, dict[bytes, Any]]) -> "_Batch":
        """Choose each message's text part and send one FETCH of the header fields and the
        text part (capped) per part number; attachments are never asked for."""
        parts: dict[int, TextPart | None] = {}
        by_section: dict[str | None, list[int]] = {}
        for uid in uids:
            try:
                part = choose_text_part(structure.get(uid, {}).get(b"BODYSTRUCTURE"))
            except (ValueError, TypeError, IndexError, RecursionError):
                part = None
            parts[uid] = part
            by_section.setdefault(part.section if part else None, []).append(uid)
        texts = []
        for section, group in by_section.items():
            text_item = f" BODY.PEEK[{section}]<0.{self.cfg.max_text_bytes}>".encode() if section else b""
            texts.append(_Fetch(client, group, b"(" + _HEADER_ITEM + text_item + b")"))
        return structure, parts, texts

    def build_batch(self, folder: str, uids: list[int], structure: dict[int, dict[bytes, Any]],
                    parts: dict[int, TextPart | None], fetched: dict[int, dict[bytes, Any]],
                    ) -> tuple[list[Message], list[BadMessage]]:
        """Parse one fetched batch; malformed messages are logged and returned apart."""
        messages: list[Message] = []
        bad: list[BadMessage] = []
        for uid in uids:
            data = fetched.get(uid) or {}
            header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), None)
            text = next((v for k, v in data.items() if k.startswith(b"BODY[") and not k.startswith(b"BODY[HEADER")), None)
            if not isinstance(header, bytes):
                # expunged between SEARCH and FETCH: absent from the answer, or (Dovecot, before
                # the expunge is announced to this session) present with NIL header fields and
                # RFC822.SIZE 0; a message with none of the fields still answers b"\r\n"
                log.debug("folder %r UID %d: expunged during the sync; skipped", folder, uid)
                continue
            meta = structure.get(uid, {})
            try:
                messages.append(parse_fetched(header, text if isinstance(text, bytes) else None, parts.get(uid),
                                              meta.get(b"INTERNALDATE"), folder, uid))
            except ParseError as e:
                log.warning("folder %r UID %d: skipped a malformed message: %s", folder, uid, e)
                bad.append(BadMessage(folder, uid, str(e), int(meta.get(b"RFC822.SIZE") or 0)))
        return messages, bad

    def fetch_batch(self, client: imapclient.IMAPClient, folder: str,
                    uids: list[int]) -> tuple[list[Message], list[BadMessage]]:
        """Fetch and parse one batch, without pipelining."""
        structure, parts, texts = self.request_batch(client, uids)
        fetched: dict[int, dict[bytes, Any]] = {}
        for fetch in texts:
            fetched.update(fetch.result())
        return self.build_batch(folder, uids, structure, parts, fetched)


class _FolderMissing(Exception):
    pass


class _Fetch:
    """One ``UID FETCH`` sent now through imaplib; ``result()`` reads its answer later.

    imapclient's own ``fetch()`` lexes every response byte by byte in Python, which made
    parsing (BODYSTRUCTURE above all) the larger part of a sync, and it cannot pipeline.
    imaplib's command/complete pair (what its ``uid()`` does in one go) can: answers come
    in command order, each read up to its own tag. Same connection and timeouts;
    imaplib's ``abort`` is imapclient's ``IMAPClientAbortError``.
    """

    def __init__(self, client: imapclient.IMAPClient, uids: list[int], items: bytes) -> None:
        self.imap = client._imap
        self.uids = uids
        self.tag = self.imap._command("UID", "FETCH", _seqset(uids), items) if uids else None
        # imaplib keeps untagged FETCH responses in one list per connection, and a server may
        # answer pipelined commands out of order (Dovecot does): whichever completion pops
        # them, they are merged here by UID, and each command takes its own UIDs' fields
        self.pool: dict[int, dict[bytes, Any]] = self.imap.__dict__.setdefault("_clientwatch_pool", {})

    def result(self) -> dict[int, dict[bytes, Any]]:
        """``{uid: {item: value}}``, parsed by ``parse_fetch``."""
        if self.tag is None:
            return {}
        tag, self.tag = self.tag, None
        try:
            typ, data = self.imap._command_complete("FETCH", tag)
            typ, data = self.imap._untagged_response(typ, data, "FETCH")
        except IMAPClientAbortError:
            raise
        except IMAPClientError as e:  # BAD: our command, or the server, is broken
            raise ImapError(f"UID FETCH refused: {e}") from e
        if typ != "OK":
            raise ImapError(f"UID FETCH failed: {typ} {data!r:.200}")
        if data and data != [None]:
            for uid, fields in parse_fetch(data).items():
                self.pool.setdefault(uid, {}).update(fields)
        return {uid: self.pool.pop(uid) for uid in self.uids if uid in self.pool}


def uid_fetch(client: imapclient.IMAPClient, uids: list[int], items: bytes) -> dict[int, dict[bytes, Any]]:
    """``UID FETCH`` ``items`` (e.g. ``b"(RFC822.SIZE)"``) of ``uids`` now: ``{uid: {item: value}}``."""
    return _Fetch(client, uids, items).result()


# one batch on its way: BODYSTRUCTUREs by UID, the chosen text parts, and the FETCHes in flight
_Batch = tuple[dict[int, dict[bytes, Any]], dict[int, "TextPart | None"], list[_Fetch]]
_STRUCTURE_ITEMS = b"(BODYSTRUCTURE INTERNALDATE RFC822.SIZE)"


# one token per match, as (paren, quoted string with its quotes, literal size, atom); an
# atom may carry a section, "BODY[HEADER.FIELDS (FROM TO)]" or "BODY[1]<0>"
_TOKEN = re.compile(rb"""\s*(?:([()])|("(?:[^"\\]|\\.)*")|\{(\d+)\}\s*$|([^\s()"{}\[\]]+(?:\[[^\]]*\](?:<\d+>)?)?))""",
                    re.S)
_UNQUOTE = re.compile(rb"\\(.)")
_INTERNALDATE = re.compile(rb"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)")
_MONTHS = {m: i for i, m in enumerate(b"jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}


def parse_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """Parse imaplib's FETCH data (lines, and ``(line, literal)`` pairs) by UID.

    Lists become tuples (the raw RFC 3501 form ``choose_text_part`` reads), NIL None,
    numbers int, quoted strings and literals bytes; INTERNALDATE an aware datetime.
    Responses without a UID (unsolicited flag updates) are ignored.
    """
    out: dict[int, dict[bytes, Any]] = {}
    stack: list[list[Any]] = []
    current: list[Any] = []
    for item in data:
        literal = None
        if isinstance(item, tuple):
            item, literal = item
        if not isinstance(item, bytes):
            continue
        for paren, quoted, literal_size, atom in _TOKEN.findall(item):
            if quoted:
                value = quoted[1:-1]
                current.append(_UNQUOTE.sub(rb"\1", value) if b"\\" in value else value)
            elif atom:
                current.append(None if atom == b"NIL" else int(atom) if atom.isdigit() else atom)
            elif paren == b"(":
                stack.append(current)
                current = []
            elif paren == b")" and stack:
                closed = tuple(current)
                current = stack.pop()
                if stack:
                    current.append(closed)
                else:  # the end of one response: "<seq> (<name> <value> ...)"
                    _add_response(out, closed)
                    current = []
            elif literal_size:
                current.append(literal)
    return out


def _add_response(out: dict[int, dict[bytes, Any]], items: tuple[Any, ...]) -> None:
    fields = {bytes(k).upper(): v for k, v in zip(items[::2], items[1::2]) if isinstance(k, bytes)}
    uid = fields.get(b"UID")
    if not isinstance(uid, int):
        return
    if b"INTERNALDATE" in fields:
        fields[b"INTERNALDATE"] = _internaldate(fields[b"INTERNALDATE"])
    out.setdefault(uid, {}).update(fields)


def _internaldate(value: Any) -> datetime | None:
    """``"17-Jul-1996 02:44:25 -0700"`` (RFC 3501 date-time) as an aware datetime, or None."""
    m = _INTERNALDATE.match(value) if isinstance(value, bytes) else None
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        return None
    offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9))) * (-1 if m.group(7) == b"-" else 1)
    try:
        return datetime(int(m.group(3)), month, int(m.group(1)), int(m.group(4)), int(m.group(5)), int(m.group(6)),
                        tzinfo=timezone(offset))
    except ValueError:
        return None


def _seqset(uids: list[int]) -> str:
    """Sorted UIDs as an IMAP sequence set with ranges: [1, 2, 3, 7, 9, 10] -> "1:3,7,9:10"."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:] + [None]:  # type: ignore[list-item]
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(parts)
