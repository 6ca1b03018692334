"""MIME parsing: headers, addresses, dates, charsets and the text body of one message.

Two entry points produce the same ``Message``: ``parse_raw`` for whole messages (mbox,
Maildir, tests) and ``parse_fetched`` for what IMAP sync downloads (the header fields plus
the text part chosen from BODYSTRUCTURE). Anything unparseable raises ``ParseError``, which
the callers log and record as a bad message.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.errors
import email.header
import email.utils
import hashlib
import html as html_entities
import itertools
import quopri
import re
from datetime import datetime, timedelta, timezone
from email.message import Message as EmailMessage
from typing import Any, Iterable


from .records import Message

MAX_TEXT_CHARS = 20000
HEADER_FIELDS = ("FROM", "TO", "CC", "DATE", "SUBJECT", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES",
                 "LIST-ID", "LIST-UNSUBSCRIBE", "PRECEDENCE", "AUTO-SUBMITTED", "X-AUTOREPLY",
                 "X-AUTO-RESPONSE-SUPPRESS")

# Labels seen in real mail that Python's codec registry does not know, or maps too narrowly.
CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "ksc5601": "cp949", "euc-kr": "cp949",
    "x-windows-949": "cp949", "windows-874": "cp874", "gb2312": "gb18030", "gbk": "gb18030",
    "x-gbk": "gb18030", "iso-8859-8-i": "iso-8859-8", "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman", "unicode-1-1-utf-7": "utf-7", "x-user-defined": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-1": "cp1252", "latin1": "cp1252",
    "ansi_x3.4-1968": "cp1252", "cp-850": "cp850", "utf8": "utf-8", "x-unknown": "utf-8",
    "unknown-8bit": "utf-8", "default": "utf-8",
}


class ParseError(ValueError):
    """A message is too broken to analyse."""


# HTML to text with a few regexes: html2text gave much the same text for mail at about
# 1 ms a message, the largest single cost of a sync; scripts, styles and comments go,
# block elements become line breaks, <blockquote> becomes "> " lines (text.py drops those)
_HTML_DROP = re.compile(r"(?is)<!--.*?-->|<(script|style|head|title)\b.*?</\1\s*>")
_HIDDEN_OPEN = re.compile(r"(?i)(?P<comment><!--)|<(?:(?P<script>script)|(?P<style>style)|(?P<head>head)|(?P<title>title))\b")
_HIDDEN_CLOSE = {name: re.compile(rf"(?i)</{name}\s*>") for name in ("script", "style", "head", "title")}
_HTML_BLOCK = re.compile(r"(?i)<\s*/?\s*(?:br|p|div|li|ul|ol|tr|table|h[1-6]|hr|pre|blockquote|section|article|header|"
                         r"footer|dd|dt|dl|center|address)\b[^>]*>")
_HTML_CELL = re.compile(r"(?i)<\s*/?\s*t[dh]\b[^>]*>")
_HTML_TAG = re.compile(r"<[^>]*>")
_BLOCKQUOTE = re.compile(r"(?is)<blockquote\b[^>]*>((?:(?!<blockquote\b).)*?)</blockquote\s*>")


def codec_for(charset: str | None) -> str:
    """A Python codec name for a MIME charset label; unknown labels fall back to UTF-8."""
    label = (charset or "utf-8").strip().strip('"').lower()
    label = CHARSET_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
        b"a".decode(name, "ignore")  # "base64", "rot13", "zlib"... are codecs, but not text encodings
    except (LookupError, ValueError):  # ValueError: a NUL or a lone surrogate in the label
        return "utf-8"
    return name


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` by its declared charset; undecodable bytes never raise."""
    codec = codec_for(charset)
    if codec == "cp1252" and not data.isascii():
        # "us-ascii" and "iso-8859-1" labels on 8-bit text very often hide UTF-8; strict UTF-8
        # decoding almost never succeeds by accident, so try it first
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        # a lying label: UTF-8 is the most common truth, cp1252 the last resort
        for fallback in ("utf-8", "cp1252"):
            if fallback != codec:
                try:
                    return data.decode(fallback)
                except UnicodeDecodeError:
                    pass
        return data.decode(codec, errors="replace")


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def decode_header(value: Any) -> str:
    """Decode an RFC 2047 header value (any charset) to one line of text."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        # raw 8-bit header bytes (RFC 6532 UTF-8, or a legacy charset): the email package
        # hands them over as an "unknown-8bit" Header whose str() is replacement characters
        value = "".join(decode_bytes(part, cs) if isinstance(part, bytes) else part
                        for part, cs in email.header.decode_header(value))
    if isinstance(value, bytes):
        value = decode_bytes(value, "utf-8")
    text = str(value)
    if "=?" in text:
        try:
            parts = email.header.decode_header(text)
            text = "".join(decode_bytes(p, cs) if isinstance(p, bytes) else p for p, cs in parts)
        except (ValueError, LookupError, AssertionError, binascii.Error, email.errors.HeaderParseError):
            pass  # HeaderParseError: a "b" encoded word that is not base64 ("=?utf-8?b?a?=")
    # CR, LF and other controls never survive: header values end up in alerts
    return _CONTROLS.sub(" ", text).strip()


# "Name <addr>" or "addr", without quotes, comments, groups or escapes: the common case,
# which email.utils.getaddresses parses the same way, only much slower
_SIMPLE_ADDRESS = re.compile(r"\s*(?:([^\s<>\"(),;:\\@\[\]][^<>\"(),;:\\@\[\]]*?)\s*<([^\s<>\"(),;:\\@\[\]]+@[^\s<>\"(),;:\\@\[\]]+)>"
                             r"|([^\s<>\"(),;:\\@\[\]]+@[^\s<>\"(),;:\\@\[\]]+))\s*")


def _simple_addresses(text: str) -> list[tuple[str, str]] | None:
    pairs = []
    for piece in text.split(","):
        m = _SIMPLE_ADDRESS.fullmatch(piece)
        if m is None:
            return None
        pairs.append((" ".join((m.group(1) or "").split()), m.group(2) or m.group(3)))
    return pairs


def parse_addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    """``(display name, lower-case address)`` pairs; garbage yields no pair."""
    pairs = []
    # split into addresses BEFORE decoding RFC 2047 words: an encoded display name such as
    # "=?utf-8?b?...?=" that decodes to "x, Bcc: evil@example" must stay a name, never an address
    # whitespace runs collapsed: a long one made _SIMPLE_ADDRESS backtrack quadratically
    # (a second for 20,000 spaces in a From field)
    raw = [" ".join(_CONTROLS.sub(" ", _header_text(v)).split()) for v in values if v]
    found: list[tuple[str, str]] = []
    for text in raw:
        simple = _simple_addresses(text)
        if simple is None:
            try:
                simple = email.utils.getaddresses([text])
            except RecursionError:  # thousands of nested "(" comments or groups: garbage
                simple = []
        found += simple
    for name, addr in found:
        addr = addr.strip().strip("<>").lower()
        if "@" in addr and " " not in addr and len(addr) <= 254 and "=?" not in addr:
            pairs.append((decode_header(name).strip() if "=?" in name else name.strip(), addr))
    return pairs


def _header_text(value: Any) -> str:
    """A header value as text, 8-bit bytes decoded, RFC 2047 words left encoded."""
    if isinstance(value, email.header.Header):
        value = "".join(decode_bytes(part, cs) if isinstance(part, bytes) else part
                        for part, cs in email.header.decode_header(value))
    if isinstance(value, bytes):
        value = decode_bytes(value, "utf-8")
    return str(value)


# the usual RFC 5322 form, "Tue, 3 Mar 2026 10:12:00 +0100": read directly, the rest by
# email.utils (which reads this form the same way, at several times the cost)
_DATE = re.compile(r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d\d):(\d\d)(?::(\d\d))?"
                   r"\s+([-+])(\d\d)(\d\d)\s*(?:\([^()]*\))?\s*")
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
# year-like numbers: not part of a time ("10:12") nor a zone ("+0100")
_PADDED_YEAR = re.compile(r"(?<![\d:+-])0\d{2,3}(?![\d:])")
_FULL_YEAR = re.compile(r"(?<![\d:+-])[1-9]\d{3}(?![\d:])")


def _quick_date(value: str) -> datetime | None:
    m = _DATE.fullmatch(value)
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        return None
    offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
    try:
        local = datetime(int(m.group(3)), month, int(m.group(1)), int(m.group(4)), int(m.group(5)),
                         int(m.group(6) or 0), tzinfo=timezone(-offset if m.group(7) == "-" else offset))
        parsed = local.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return parsed if 1990 <= parsed.year <= 2100 else None


def parse_date(value: str | None) -> datetime | None:
    """The Date header as aware UTC, or None when missing or absurd."""
    if not value:
        return None
    if isinstance(value, str):
        quick = _quick_date(value)
        if quick is not None:
            return quick
    text = decode_header(value)
    if _PADDED_YEAR.search(text) and not _FULL_YEAR.search(text):
        # "1 Jan 0001": email.utils reads a zero-padded year as a two-digit one (2001), but
        # such a date is absurd, not recent
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # "-0000": UTC by RFC 5322 §3.3
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        parsed = parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    if not 1990 <= parsed.year <= 2100:
        return None
    return parsed


_MSGID = re.compile(r"<[^<>\s]{1,500}>")


def parse_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in a References / In-Reply-To header, in order, without duplicates."""
    if not value:
        return ()
    found = _MSGID.findall(decode_header(value))
    return tuple(dict.fromkeys(m.lower() for m in found))[-50:]


def is_automated(headers: "EmailMessage | HeaderFields", from_addr: str) -> bool:
    """Mailing lists, bulk mail, auto-replies and robots are never clients (SPEC)."""
    if headers.get("List-Id") or headers.get("List-Unsubscribe"):
        return True
    if decode_header(headers.get("Precedence")).lower() in ("bulk", "list", "junk", "auto_reply"):
        return True
    auto = decode_header(headers.get("Auto-Submitted")).lower()
    if auto and auto != "no":
        return True
    if headers.get("X-Autoreply") or "oof" in decode_header(headers.get("X-Auto-Response-Suppress")).lower():
        return True
    local = from_addr.split("@", 1)[0]
    return bool(re.fullmatch(r"(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]daemon|postmaster|"
                             r"bounces?|notifications?|notify|newsletter|automated|auto[-_.]?confirm)"
                             r"([-+._].*)?", local))


def _drop_hidden(html: str) -> str:
    """``_HTML_DROP.sub(" ", html)`` in linear time. Finding no closing tag, the lazy regex
    rescans the rest of the text from every later opening one: seconds for 80 kB of
    "<style>". An element never closed stays, as it does with the regex."""
    out: list[str] = []
    done = start = 0
    unclosed: set[str] = set()
    while (m := _HIDDEN_OPEN.search(html, start)) is not None:
        name, start = m.lastgroup or "", m.end()
        if name in unclosed:
            continue
        if name == "comment":
            end = html.find("-->", start)
            end = end + 3 if end >= 0 else -1
        else:
            close = _HIDDEN_CLOSE[name].search(html, start)
            end = close.end() if close else -1
        if end < 0:  # and so for every later one of its kind
            unclosed.add(name)
            continue
        out += (html[done:m.start()], " ")
        done = start = end
    out.append(html[done:])
    return "".join(out)


def _sub_tags(pattern: re.Pattern[str], repl: str, text: str) -> str:
    # every tag pattern ends with ">": none matches past the last one, but a regex would try
    # from each "<" there, each try scanning to the end (quadratic: seconds for 80 kB of "<")
    end = text.rfind(">") + 1
    return pattern.sub(repl, text[:end]) + text[end:]


def _strip_tags(html: str) -> str:
    return _sub_tags(_HTML_TAG, "", _sub_tags(_HTML_CELL, " ", _sub_tags(_HTML_BLOCK, "\n", html)))


def _quoted(match: re.Match[str]) -> str:
    lines = (line.strip() for line in _strip_tags(match.group(1)).split("\n"))
    return "\n" + "\n".join("> " + line for line in lines if line) + "\n"


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (scripts, styles and comments dropped, quotes as "> ")."""
    html = " ".join(_drop_hidden(html).split())  # source line breaks are only spaces in HTML
    if html.lower().count("<blockquote") <= 50:  # innermost first; a bound against pathological nesting
        for _ in range(10):
            html, n = _BLOCKQUOTE.subn(_quoted, html)
            if not n:
                break
    text = html_entities.unescape(_strip_tags(html))
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Transfer-Encoding; broken base64 or QP decodes as far as it can."""
    encoding = (encoding or "").strip().lower()
    if encoding == "base64":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _cap(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text[:MAX_TEXT_CHARS]


def synthetic_id(from_addr: str, date: datetime | None, subject: str, text: str) -> str:
    """A stable Message-ID for mail that has none, so re-syncs de-duplicate it."""
    key = "\0".join((from_addr, date.isoformat() if date else "", subject, text[:2000]))
    return f"<{hashlib.sha1(key.encode('utf-8', 'replace')).hexdigest()}@clientwatch.invalid>"


def build_message(headers: "EmailMessage | HeaderFields", text: str, internaldate: datetime | None,
                  folder: str = "", uid: int | None = None) -> Message:
    """A ``Message`` from parsed header fields and decoded body text."""
    senders = parse_addresses(headers.get_all("From") or [])
    from_name, from_addr = senders[0] if senders else ("", "")
    if not from_addr and not headers.get("Date") and not headers.get("Message-ID"):
        # binary junk, or text that never was a mail: nothing to attribute, date or de-duplicate
        raise ParseError("no From, Date or Message-ID header: not an email message")
    date = parse_date(headers.get("Date"))
    if date is None and internaldate is not None:
        date = internaldate if internaldate.tzinfo else internaldate.replace(tzinfo=timezone.utc)
        date = date.astimezone(timezone.utc)
    if date is None:
        raise ParseError("no usable Date header and no INTERNALDATE")
    subject = decode_header(headers.get("Subject"))[:500]
    text = _cap(text)
    ids = parse_ids(headers.get("Message-ID"))
    message_id = ids[0] if ids else synthetic_id(from_addr, date, subject, text)
    return Message(
        message_id=message_id, date=date, from_addr=from_addr, from_name=from_name[:200],
        to=tuple(a for _, a in parse_addresses(headers.get_all("To") or []))[:100],
        cc=tuple(a for _, a in parse_addresses(headers.get_all("Cc") or []))[:100],
        subject=subject, in_reply_to=parse_ids(headers.get("In-Reply-To"))[:5],
        references=parse_ids(headers.get("References")),
        text=text, automated=is_automated(headers, from_addr), folder=folder, uid=uid)


def _walk_text(msg: EmailMessage, depth: int = 0) -> tuple[str, str] | None:
    """The first text/plain part (else text/html) that is not an attachment: (kind, text)."""
    if depth > 60:
        return None
    if msg.is_multipart():
        payload = msg.get_payload()
        html = None
        for part in payload if isinstance(payload, list) else []:
            found = _walk_text(part, depth + 1)
            if found and found[0] == "plain":
                return found
            html = html or found
        return html
    ctype = msg.get_content_type()
    if ctype not in ("text/plain", "text/html") or "attachment" in str(msg.get("Content-Disposition", "")).lower():
        return None
    encoding = str(msg.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        # decoded here, not by the email package, so broken encodings decode as far as they can
        payload = msg.get_payload(decode=False)
        if isinstance(payload, str):
            payload = payload.encode("ascii", "surrogateescape") if _ascii_or_escaped(payload) else payload.encode("utf-8", "replace")
        data = decode_transfer(payload or b"", encoding)
    else:
        # 7bit/8bit/binary: the original bytes, to be decoded by the declared charset below
        data = msg.get_payload(decode=True) or b""
    charset = msg.get_param("charset")
    text = decode_bytes(data, charset if isinstance(charset, str) else None)
    if ctype == "text/html":
        return ("html", html_to_text(text[: MAX_TEXT_CHARS * 4]))
    return ("plain", text)


def _ascii_or_escaped(text: str) -> bool:
    try:
        text.encode("ascii", "surrogateescape")
        return True
    except UnicodeEncodeError:
        return False


def parse_raw(raw: bytes, internaldate: datetime | None = None, folder: str = "",
              uid: int | None = None) -> Message:
    """Parse one whole RFC 5322 message."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    try:
        try:
            msg = email.message_from_bytes(raw)
        except RecursionError:
            # parts nested deeper (about 1,000) than the email package's recursive parser can
            # follow: the header fields alone still date and attribute the message
            return build_message(parse_headers(raw), "", internaldate, folder, uid)
        found = _walk_text(msg)
        return build_message(msg, found[1] if found else "", internaldate, folder, uid)
    except ParseError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, IndexError, RecursionError) as e:
        raise ParseError(f"unparseable message: {type(e).__name__}") from e


# one field per match: its name, and its value with the continuation lines (folding kept)
_HEADER_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+):[ \t]*(.*(?:\n[ \t].*)*)", re.M)
_HEADER_END = re.compile(rb"\n\r?\n")


class HeaderFields:
    """Header fields by name, read the way the email package's compat32 parser reads them
    (``get`` and ``get_all``, values with their folding kept), but in one quick pass."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, failobj: Any = None) -> Any:
        values = self._fields.get(name.lower())
        return values[0] if values else failobj

    def get_all(self, name: str, failobj: Any = None) -> Any:
        return self._fields.get(name.lower(), failobj)


def parse_headers(data: bytes) -> HeaderFields:
    """Parse a block of header fields (as fetched with BODY.PEEK[HEADER.FIELDS ...]).

    Raw 8-bit values (RFC 6532 UTF-8, or a legacy charset) are decoded like a body without
    a declared charset; lines that are neither a field nor a continuation are skipped.
    """
    data = data or b""
    end = _HEADER_END.search(data)
    fields: dict[str, list[str]] = {}
    for name, raw in _HEADER_FIELD.findall(data[:end.start() + 1] if end else data):
        raw = raw.rstrip(b"\r\n")
        fields.setdefault(name.decode("ascii").lower(), []).append(
            raw.decode("ascii") if raw.isascii() else decode_bytes(raw, None))
    return HeaderFields(fields)


def parse_fetched(header_bytes: bytes, text_bytes: bytes | None, part: "TextPart | None",
                  internaldate: datetime | None, folder: str, uid: int) -> Message:
    """Build a ``Message`` from an IMAP FETCH of header fields and the chosen text part."""
    try:
        headers = parse_headers(header_bytes)
        text = ""
        if part is not None and text_bytes:
            decoded = decode_bytes(decode_transfer(text_bytes, part.encoding), part.charset)
            text = html_to_text(decoded) if part.subtype == "html" else decoded
        return build_message(headers, text, internaldate, folder, uid)
    except ParseError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, IndexError, RecursionError) as e:
        raise ParseError(f"unparseable message: {type(e).__name__}") from e


class TextPart:
    """The body part IMAP sync downloads for one message: its number and how to decode it."""

    __slots__ = ("section", "subtype", "encoding", "charset", "size")

    def __init__(self, section: str, subtype: str, encoding: str, charset: str | None, size: int) -> None:
        self.section, self.subtype, self.encoding, self.charset, self.size = section, subtype, encoding, charset, size


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value) if value is not None else ""


def choose_text_part(structure: Any) -> TextPart | None:
    """Pick the text part to download from an IMAP BODYSTRUCTURE (RFC 3501 §7.4.2).

    Plain text wins over HTML; parts marked as attachments and anything that is not text
    are skipped, so a large attachment is never downloaded.
    """
    best: dict[str, TextPart] = {}

    def walk(node: Any, section: str, depth: int) -> None:
        if depth > 60 or not isinstance(node, (tuple, list)) or not node:
            return
        if isinstance(node[0], (tuple, list)):
            # multipart: imapclient gives ([part, part, ...], subtype, ...); the raw
            # RFC 3501 form is (part, part, ..., subtype, ...)
            if isinstance(node[0], list):
                children = node[0]
            else:
                children = list(itertools.takewhile(lambda c: isinstance(c, (tuple, list)), node))
            for index, child in enumerate(children, start=1):
                walk(child, f"{section}.{index}" if section else str(index), depth + 1)
            return
        if len(node) < 7:
            return
        maintype, subtype = _s(node[0]).lower(), _s(node[1]).lower()
        if maintype != "text" or subtype not in ("plain", "html"):
            return
        if _is_attachment(node):
            return
        params = node[2] if isinstance(node[2], (tuple, list)) else ()
        charset = None
        for k, v in zip(params[::2], params[1::2]):
            if _s(k).lower() == "charset":
                charset = _s(v)
        try:
            size = int(node[6])
        except (TypeError, ValueError):
            size = 0
        best.setdefault(subtype, TextPart(section or "1", subtype, _s(node[5]).lower(), charset, size))

    walk(structure, "", 0)
    return best.get("plain") or best.get("html")


def _is_attachment(node: Any) -> bool:
    # single-part text: extension data after md5 (index 7 for text: lines at 7, md5 8, disposition 9)
    for item in node[7:]:
        if isinstance(item, (tuple, list)) and item and isinstance(item[0], (bytes, str)) \
                and _s(item[0]).lower() == "attachment":
            return True
    return False
