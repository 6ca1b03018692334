"""A generator of malformed mail (and some good mail) for the bad-input tests.

``generate(n=1000, seed=0)`` gives ``(kind, raw bytes, expected_parseable)`` for at least
``n`` malformed messages, plus 100 good ones (kind ``good``) and five messages that carry a
10 MB attachment; ``cases()`` gives the same as ``Case`` records with the details the tests
check (the IMAP expectation, the Message-ID and client of good mail, deliberate duplicates).
Output depends on ``seed`` only. It takes about a second; the five 10 MB messages share one
attachment payload, so the whole set holds about 80 MB.

What is "correct" (the rules ``expected_parseable`` encodes)
---------------------------------------------------------------
Clientwatch must never crash on a message, whatever its bytes. Each message either becomes a
``Message`` or is logged and recorded as bad (``store.bad_messages()``). Which one is decided
by two questions only, never by how broken the rest of it is:

1. **Is it mail at all?** A message with none of a From address, a Date field and a
   Message-ID field (binary junk, empty files, header-looking lines without any of the three)
   cannot be dated, attributed or de-duplicated: always bad.
2. **Does it have a date?** The analysis is all about time. A message is dated by its *first*
   Date field (RFC 5322 allows one) when that is an RFC 5322 date or one of its common obsolete
   forms (two-digit year, named zone, no seconds, no zone, a wrong weekday, comments), names a
   real calendar day and time, and falls in 1990-2100 in UTC. Otherwise (missing, empty,
   garbage, ISO 8601, "Feb 30", "25:61", year 0001, 0099, 1970, 9999, a zone of +9999, raw
   8-bit junk) the message has no usable Date:

   * imported from mbox / Maildir (no INTERNALDATE): **bad**, recorded;
   * synced over IMAP: dated by the server's INTERNALDATE, so **parsed** (if it is mail at all).

Everything else is only damage to contain, and the message is still parsed: broken base64 and
quoted-printable decode as far as they go; unknown, empty or lying charsets (utf-8 that is
cp1252, us-ascii with 8-bit bytes, ks_c_5601-1987, euc-kr, iso-2022-jp, gb2312, "base64",
"rot13", a NUL in the label...) decode to some text; raw 8-bit header bytes are decoded;
garbage RFC 2047 words stay as text; From fields without an address give a message without
a sender; a missing or garbage Message-ID gets a synthetic one (a duplicated one keeps the
first message: de-duplication is by Message-ID); huge headers, 1,000-deep multiparts, missing
or wrong boundaries, empty bodies, HTML of any shape and every mix of CR, LF and CRLF parse,
with whatever text can be found (possibly none), in bounded time. 10 MB attachments are
parsed on import and never downloaded over IMAP.

Kind by kind: kinds whose damage is in the body (``base64``, ``qp``, ``charset-*``, ``deep``,
``boundary``, ``empty-body``, ``html``) and ``from`` drop the Date field from every seventh
variant, and ``headers-8bit`` fills it with 8-bit junk, so each of them also shows the "no
usable date" rule. ``date`` decides per variant (see ``DATES``; two Date fields: the first
counts). ``empty-message`` is never mail, nor is most of ``junk`` (random bytes, NULs, lines
without a From, Date or Message-ID); the rest of ``junk`` is good mail with NULs, binary bodies
or no header/body separator. Dovecot refuses the zero-byte message at APPEND, which the IMAP
test records and leaves out. Every other message has a good Date.

Every message carries its own number in its Subject and (when it has one) in its Message-ID,
so no two are the same message by accident; the deliberate duplicates are marked.
"""
from __future__ import annotations

import base64
import functools
import math
import quopri
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Callable, Iterator

ME = "me@freelance.example"
NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)  # the analysis runs "now" for good mail
CRLF = b"\r\n"
ATTACHMENT_BYTES = 10 * 1024 * 1024
GOOD_CLIENTS = 10


@dataclass(frozen=True)
class Case:
    """One generated message and what clientwatch must make of it."""

    kind: str
    variant: str
    raw: bytes
    parseable: bool                # imported from mbox/Maildir: a Message (else recorded as bad)
    imap_parseable: bool | None    # synced over IMAP (INTERNALDATE known); None: the server decides
    message_id: str | None = None  # the Message-ID it must be stored under, when known
    client: str | None = None      # good mail: the client it must be counted for
    duplicate: bool = False        # repeats an earlier case's Message-ID: de-duplicated away
    big: bool = False              # carries a 10 MB attachment


def generate(n: int = 1000, seed: int = 0) -> list[tuple[str, bytes, bool]]:
    """``(kind, raw message, expected_parseable)``: at least ``n`` malformed messages, then good ones."""
    return [(c.kind, c.raw, c.parseable) for c in cases(n, seed)]


def cases(n: int = 1000, seed: int = 0) -> tuple[Case, ...]:
    """``build(n, seed)``, kept for the next caller: the tests share one set (of about 80 MB)."""
    return _cached(n, seed)


@functools.lru_cache(maxsize=1)
def _cached(n: int, seed: int) -> tuple[Case, ...]:
    return build(n, seed)


def build(n: int = 1000, seed: int = 0, good: int = 100, big: int = 5) -> tuple[Case, ...]:
    """At least ``n`` malformed messages, ``big`` with a 10 MB attachment, ``good`` good ones."""
    rng = random.Random(seed)
    total = sum(weight for _, weight, _ in _KINDS)
    out: list[Case] = []
    counter = _Counter()
    for kind, weight, make in _KINDS:
        count = max(1, math.ceil(weight * n / total))
        out += make(_Ctx(kind, rng, counter), count)
    out += _attachments(_Ctx("attachment-10mb", rng, counter), big)
    out += _good(_Ctx("good", rng, counter), good)
    return tuple(out)


# --- building blocks -------------------------------------------------------------------------
class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


@dataclass
class _Ctx:
    kind: str
    rng: random.Random
    counter: _Counter

    def number(self) -> int:
        return self.counter.next()


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def rfc_date(i: int) -> str:
    """A good Date for case number ``i``: spread over January-March 2026."""
    return format_datetime(datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc) + timedelta(minutes=97 * i))


def message(fields: list[tuple[str | bytes, str | bytes]], body: bytes = b"", eol: bytes = CRLF) -> bytes:
    head = b"".join(_b(name) + b": " + _b(value) + eol for name, value in fields)
    return head + eol + body


def _fields(ctx: _Ctx, i: int, *, date: str | bytes | None | bool = True, sender: str | bytes | None = None,
            subject: str | bytes | None = None, mid: str | bytes | None | bool = True,
            extra: list[tuple[str | bytes, str | bytes]] | None = None) -> list[tuple[str | bytes, str | bytes]]:
    fields: list[tuple[str | bytes, str | bytes]] = [
        ("From", sender if sender is not None else f"Sender {i} <s{i}@{ctx.kind}.bad.example>"), ("To", ME)]
    if date is True:
        fields.append(("Date", rfc_date(i)))
    elif date not in (None, False):
        fields.append(("Date", date))  # type: ignore[arg-type]
    fields.append(("Subject", subject if subject is not None else f"{ctx.kind} #{i}"))
    if mid is True:
        fields.append(("Message-ID", f"<{ctx.kind}.{i}@bad.example>"))
    elif mid not in (None, False):
        fields.append(("Message-ID", mid))  # type: ignore[arg-type]
    return fields + (extra or [])


def _mid(ctx: _Ctx, i: int) -> str:
    return f"<{ctx.kind}.{i}@bad.example>"


def _body_damage(ctx: _Ctx, count: int, variants: list[tuple[str, Callable[[int], tuple[list, bytes]]]]
                 ) -> Iterator[Case]:
    """Cases whose damage is in the body: every seventh one also has no Date field."""
    for v in range(count):
        name, build = variants[v % len(variants)]
        i = ctx.number()
        dated = v % 7 != 3
        extra, body = build(i)
        raw = message(_fields(ctx, i, date=dated, extra=extra), body)
        yield Case(ctx.kind, name if dated else name + "/no-date", raw, dated, True, _mid(ctx, i))


def _text(i: int) -> str:
    return f"Message {i}: račun je plaćen, thanks. Grüße — Ana\n"


def _junk(rng: random.Random, size: int, nul: bool = True) -> bytes:
    """Random bytes that never look like a From, Date or Message-ID field nor an mbox From_ line."""
    while True:
        data = rng.randbytes(size)
        if not nul:
            data = data.replace(b"\x00", b"\x01")
        if not re.search(rb"(?i)(?:^|[\r\n])\s*(from|date|message-id)\s*:", data) and not data.startswith(b"From "):
            return data


# --- the kinds ---------------------------------------------------------------------------------
def _base64(ctx: _Ctx, count: int) -> Iterator[Case]:
    rng = ctx.rng

    def part(ctype: str, payload: Callable[[int], bytes], cte: str = "base64") -> Callable[[int], tuple[list, bytes]]:
        return lambda i: ([("Content-Type", ctype), ("Content-Transfer-Encoding", cte)], payload(i) + CRLF)

    def enc(i: int) -> bytes:
        return base64.b64encode(_text(i).encode())

    plain = "text/plain; charset=utf-8"
    variants = [
        ("junk-chars", part(plain, lambda i: enc(i) + b"!!@@##\r\nZm9v===YmFy")),
        ("truncated", part(plain, lambda i: enc(i)[:-3])),
        ("only-padding", part(plain, lambda i: b"====")),
        ("no-padding", part(plain, lambda i: enc(i).rstrip(b"="))),
        ("spaced", part(plain, lambda i: b" ".join(enc(i)[k:k + 1] for k in range(len(enc(i)))))),
        ("8bit-inside", part(plain, lambda i: enc(i)[:8] + b"\xff\xfe\x80" + enc(i)[8:])),
        ("random-binary", part(plain, lambda i: base64.b64encode(rng.randbytes(rng.randrange(10, 600))))),
        ("not-base64", part(plain, lambda i: bytes(rng.choice(b"!#$%&()*-.;<>?@[]^_`{|}~") for _ in range(200)))),
        ("one-100k-line", part(plain, lambda i: base64.b64encode(_text(i).encode() * 1500))),
        ("empty", part(plain, lambda i: b"")),
        ("padding-inside", part(plain, lambda i: enc(i)[:8] + b"==" + enc(i)[8:])),
        ("nul", part(plain, lambda i: enc(i)[:4] + b"\x00" + enc(i)[4:])),
        ("html", part("text/html; charset=utf-8",
                      lambda i: base64.b64encode(f"<p>{_text(i)}</p>".encode())[:-5] + b"%%%")),
        ("odd-cte-spelling", part(plain, lambda i: enc(i), cte=" BaSe64 ")),
        ("unknown-cte", part(plain, lambda i: enc(i), cte="base-64")),
        ("uuencode-garbage", part(plain, lambda i: b"begin 644 x\r\n" + rng.randbytes(50).hex().encode(),
                                  cte="x-uuencode")),
        ("in-multipart", lambda i: ([("MIME-Version", "1.0"), ("Content-Type", 'multipart/alternative; boundary="b"')],
                                    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
                                    b"base64\r\n\r\n" + enc(i)[:-2] + b"***\r\n--b--\r\n")),
    ]
    yield from _body_damage(ctx, count, variants)


def _qp(ctx: _Ctx, count: int) -> Iterator[Case]:
    def part(payload: Callable[[int], bytes], charset: str = "utf-8") -> Callable[[int], tuple[list, bytes]]:
        return lambda i: ([("Content-Type", f"text/plain; charset={charset}"),
                           ("Content-Transfer-Encoding", "quoted-printable")], payload(i) + CRLF)

    def enc(i: int) -> bytes:
        return quopri.encodestring(_text(i).encode())

    variants = [
        ("trailing-eq", part(lambda i: enc(i).rstrip() + b"=")),
        ("bad-hex", part(lambda i: b"=ZZ=G1=x " + enc(i))),
        ("truncated-escape", part(lambda i: enc(i) + b"=4")),
        ("raw-8bit", part(lambda i: _text(i).encode() + b"=20")),
        ("soft-break-storm", part(lambda i: b"=\r\n" * 2000 + enc(i))),
        ("one-100k-line", part(lambda i: b"a" * 100_000 + enc(i))),
        ("nul", part(lambda i: b"=00=00" + enc(i))),
        ("invalid-utf8", part(lambda i: b"=C3=28=A0=A1 " + enc(i))),
        ("lf-soft-break", part(lambda i: b"abc=\ndef " + enc(i))),
        ("cr-soft-break", part(lambda i: b"abc=\rdef " + enc(i))),
        ("eq-space", part(lambda i: b"abc= \r\ndef " + enc(i))),
        ("lowercase-hex", part(lambda i: b"=c4=87=c5=a1 " + enc(i))),
        ("latin1-declared-utf8-bytes", part(lambda i: enc(i), charset="iso-8859-1")),
    ]
    yield from _body_damage(ctx, count, variants)


_UNKNOWN_CHARSETS = [b"x-klingon-42", b'""', b"", b"utf-99", b"base64", b"rot13", b"zlib", b"undefined", b"idna",
                     b"hex", b'"utf\x008"', b"utf-\xff8", b"a" * 5000, b"unknown-8bit", b"x-user-defined",
                     b'"  utf-8  "', b"utf-8; charset=latin1", b"UTF-8\x7f", b"\xe9\xe8", b"'utf-8'",
                     b"=?utf-8?q?x?=", b"*", b"utf-8 (comment", b"cp65001", b"mbcs", b"utf_8_sig", b"punycode"]


def _charset_unknown(ctx: _Ctx, count: int) -> Iterator[Case]:
    variants = []
    for cs in _UNKNOWN_CHARSETS:
        def build(i: int, cs: bytes = cs) -> tuple[list, bytes]:
            return ([("Content-Type", b"text/plain; charset=" + cs), ("Content-Transfer-Encoding", "8bit")],
                    _text(i).encode("utf-8" if i % 2 else "cp1250", "replace"))
        variants.append((f"charset={cs[:20]!r}", build))
    variants.append(("rfc2231-bad", lambda i: ([("Content-Type", "text/plain; charset*=utf-8''%ff%00%zz")],
                                                _text(i).encode())))
    variants.append(("rfc2231-continued", lambda i: ([("Content-Type", "text/plain; charset*0*=ut; charset*1=f-8")],
                                                      _text(i).encode())))
    variants.append(("encoded-word-charset", lambda i: ([("X-Note", "=?x-klingon?q?abc?= =?base64?b?YWJj?=")],
                                                         _text(i).encode())))
    yield from _body_damage(ctx, count, variants)


def _charset_lying(ctx: _Ctx, count: int) -> Iterator[Case]:
    rng = ctx.rng
    # (declared charset, how the bytes really are: a codec, or None for random high bytes, or raw bytes)
    lies: list[tuple[str, str | bytes | None, str]] = [
        ("utf-8", "cp1252", "Café — naïve “quotes” {i}"),
        ("us-ascii", "utf-8", "Žao mi je, račun {i}"),
        ("us-ascii", "latin-1", "Grüße, Müller {i}"),
        ("iso-8859-1", "utf-8", "Plaćanje kasni {i}"),
        ("ks_c_5601-1987", "cp949", "안녕하세요 인보이스 {i}"),
        ("ks_c_5601-1987", "utf-8", "안녕하세요 {i}"),
        ("euc-kr", "euc-kr", "견적서 보내드립니다 {i}"),
        ("euc-kr", None, ""),
        ("iso-2022-jp", "iso2022_jp", "請求書を送ります {i}"),
        ("iso-2022-jp", b"\x1b$B\xff\xfe\x1b(B broken escapes \x1b$", ""),
        ("gb2312", "gb2312", "发票已付 {i}"),
        ("gb2312", None, ""),
        ("shift_jis", "utf-8", "請求書 {i}"),
        ("koi8-r", "utf-8", "Счёт оплачен {i}"),
        ("utf-16", b"\xff\xfeh\x00i\x00\x00", ""),
        ("utf-7", b"+AGEAYgBj- and +!!!- broken", ""),
        ("unicode-1-1-utf-7", b"+ZeVnLIqe-", ""),
        ("big5", "cp1252", "Invoice ‘paid’ {i}"),
        ("windows-1250", "utf-8", "Računovođa {i}"),
        ("utf-8", None, ""),
        ("utf-32", b"\x00\x00\xff\xff\x00\x00", ""),
        ("iso-8859-8-i", "utf-8", "שלום {i}"),
    ]
    variants = []
    for declared, really, template in lies:
        for cte in ("8bit", "base64", "quoted-printable"):
            def build(i: int, declared: str = declared, really: str | bytes | None = really, template: str = template,
                      cte: str = cte) -> tuple[list, bytes]:
                if really is None:
                    data = bytes(rng.randrange(128, 256) for _ in range(rng.randrange(5, 300)))
                elif isinstance(really, bytes):
                    data = really
                else:
                    data = template.format(i=i).encode(really, "replace")
                body = (base64.encodebytes(data) if cte == "base64" else
                        quopri.encodestring(data) if cte == "quoted-printable" else data)
                word = b"=?" + declared.encode() + b"?b?" + base64.b64encode(data[:60]) + b"?="
                return ([("Content-Type", f"text/plain; charset={declared}"), ("Content-Transfer-Encoding", cte),
                         ("X-Subject-Word", word)], body)
            variants.append((f"{declared}-is-{really if isinstance(really, str) else 'junk'}/{cte}", build))
    rng.shuffle(variants)
    yield from _body_damage(ctx, count, variants)


def _headers_8bit(ctx: _Ctx, count: int) -> Iterator[Case]:
    rng = ctx.rng

    def noise() -> bytes:
        return bytes(b for b in rng.randbytes(rng.randrange(5, 80)) if b not in b"\r\n")

    subjects: list[Callable[[], bytes]] = [
        lambda: "Račun za ožujak".encode("utf-8"), lambda: "Račun za ožujak".encode("cp1250"),
        lambda: "Счёт оплачен".encode("koi8_r"), lambda: "請求書".encode("shift_jis"),
        lambda: "안녕하세요".encode("euc-kr"), lambda: b"\xff\xfe\xfd", noise, lambda: b"\x00nul\x00",
        lambda: "Ωμέγα".encode("iso-8859-7"), lambda: b"\xc3\x28 invalid utf-8 \xe2\x82",
    ]
    for v in range(count):
        i = ctx.number()
        where = v % 7
        subject = subjects[v % len(subjects)]() + f" #{i}".encode()
        sender = f"Sender {i} <s{i}@{ctx.kind}.bad.example>".encode()
        extra: list = []
        date: bytes | bool = True
        dated = True
        if where == 1:
            sender = subjects[(v + 3) % len(subjects)]() + f" <s{i}@{ctx.kind}.bad.example>".encode()
        elif where == 2:
            extra = [("To", b"J\xf6rg <j@x.example>, " + noise()), ("Cc", noise())]
        elif where == 3:
            date, dated = b"\xff\xfe " + noise(), False  # the whole Date is junk: no usable date
        elif where == 4:
            extra = [(b"X-\xe9t\xe9", b"value"), (b"X-Bin", noise())]  # an 8-bit field name, after the others
        elif where == 5:
            sender = noise().replace(b"@", b"") + f" <s{i}@{ctx.kind}.bad.example>".encode()
        mid: bytes | bool = f"<\u0107{i}@bad.example>".encode() if where == 6 else True
        raw = message(_fields(ctx, i, date=date, sender=sender, subject=subject, mid=mid, extra=extra), _text(i).encode())
        yield Case(ctx.kind, f"8bit-{['subject', 'from', 'to-cc', 'date', 'field-name', 'noise-from', 'message-id'][where]}",
                   raw, dated, True, None if where == 6 else _mid(ctx, i))


_ENCODED_WORDS = [
    "=?utf-8?b?a?=", "=?utf-8?q?=ZZ?=", "=?", "?=", "=?utf-8?b?" + "QUFB" * 25_000, "=?x-unknown?q?abc?=",
    "=?base64?q?abc?=", "=??q?abc?=", "=?utf-8*en?q?x?=", "=?utf-8?q?line=0D=0ABcc:_evil@bad.example?=",
    "=?utf-8?q?nul=00byte?=", "=?utf-8?x?abc?=", " ".join(["=?utf-8?q?w?="] * 1000),
    "=?utf-8?b?" + base64.b64encode(b"\xc3\x28\xff").decode() + "?=",
    "=?ks_c_5601-1987?b?" + base64.b64encode("박지우".encode("cp949")).decode() + "?=",
    "=?iso-2022-jp?b?GyRCJTUhPBsoQg==?=", "=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?=", "abc=?utf-8?q?x?=def",
    "=?UTF-8?B?" + base64.b64encode("Račun".encode()).decode() + "?=", "=?utf-8?b?!!!?=", "=?utf-8?q?a?==?utf-8?q?b?=",
    "=?rot13?q?nop?=", "=?utf-16?b?//4=?=", "=?utf-8?b?" + base64.b64encode(b"\r\n\x00").decode() + "?=",
]


def _encoded_words(ctx: _Ctx, count: int) -> Iterator[Case]:
    for v in range(count):
        i = ctx.number()
        word = _ENCODED_WORDS[v % len(_ENCODED_WORDS)]
        where = (v // len(_ENCODED_WORDS)) % 3
        subject = f"{word} #{i}" if where != 1 else f"#{i}"
        sender = f"{word} <s{i}@{ctx.kind}.bad.example>" if where == 1 else \
            f'"{word}" <s{i}@{ctx.kind}.bad.example>' if where == 2 else None
        raw = message(_fields(ctx, i, sender=sender, subject=subject), _text(i).encode())
        yield Case(ctx.kind, f"{word[:24]!r}-in-{['subject', 'from', 'quoted-from'][where]}", raw, True, True,
                   _mid(ctx, i))


# (Date field value or None for no field, usable): see the module docstring
DATES: list[tuple[bytes | None, bool]] = [
    (None, False), (b"", False), (b"   ", False),
    (b"Mon, 01 Jan 0001 00:00:00 +0000", False), (b"Fri, 31 Dec 9999 23:59:59 +0000", False),
    (b"1 Jan 099 00:00 +0000", False), (b"Mon, 30 Feb 2026 10:00:00 +0000", False),
    (b"31 Apr 2026 10:00:00 +0000", False), (b"32 Jan 2026 10:00:00 +0000", False),
    (b"Tue, 03 Mar 2026 25:61:61 +0100", False), (b"yesterday", False), (b"0", False), (b"1700000000", False),
    (b"2026-03-03T10:12:00Z", False), (b"03/03/2026 10:12", False), (b"Tue, 03 Foo 2026 10:12:00 +0100", False),
    (b"Thu, 01 Jan 1970 00:00:00 +0000", False), (b"Tue, 03 Mar 1989 10:00:00 +0000", False),
    (b"Tue, 03 Mar 2101 10:00:00 +0000", False), (b"Fri, 31 Dec 2100 23:00:00 -0500", False),
    (b"Tue, 03 Mar 2026 10:12:00 +9999", False), (b"\xff\xfe\xfd\xfc", False), (b"\x00", False),
    (b"=?utf-8?b?!!!?=", False), (b"x" * 100_000, False), (b"Tue, 03 Mar 2026", False),
    (b"Tue, 03 Mar 2026 10:12:00 +0100", True), (b"3 Mar 2026 10:12 +0100", True),
    (b"Tue, 3 Mar 26 10:12:00 +0100", True), (b"Tue, 03 Mar 2026 10:12:00 GMT", True),
    (b"Tue, 03 Mar 2026 10:12:00 EST", True), (b"Tue, 03 Mar 2026 10:12:00 UT", True),
    (b"Tue, 03 Mar 2026 10:12:00 -0000", True), (b"Tue, 03 Mar 2026 10:12:00", True),
    (b"Mon, 03 Mar 2026 10:12:00 +0100", True), (b" Tue,  3   Mar  2026 10:12:00 +0100 (CET)", True),
    (b"tue, 03 mar 2026 10:12:00 +0100", True), (b"Tue, 03 Mar 2026 10:12:00 Z", True),
    (b"Tue Mar  3 10:12:00 2026", True), (b"Sat, 1 Jan 2100 03:00:00 +0500", True),
    (b"Mon, 01 Jan 1990 12:30:00 +0100", True), (b"Tue, 03 Mar 2026 10:12:00 +0100\t(comment\t)", True),
]


def _dates(ctx: _Ctx, count: int) -> Iterator[Case]:
    for v in range(count):
        i = ctx.number()
        k = v % (len(DATES) + 2)
        if k < len(DATES):
            value, usable = DATES[k]
            fields = _fields(ctx, i, date=value if value is not None else None)
            name = f"date={value[:30]!r}" if value is not None else "no-date"
        else:  # two Date fields: the first decides
            first_good = k == len(DATES)
            pair = [rfc_date(i), "garbage"] if first_good else ["garbage", rfc_date(i)]
            fields = _fields(ctx, i, date=pair[0], extra=[("Date", pair[1])])
            value, usable, name = None, first_good, f"two-dates-{'good' if first_good else 'garbage'}-first"
        yield Case(ctx.kind, name, message(fields, _text(i).encode()), usable, True, _mid(ctx, i))


def _message_ids(ctx: _Ctx, count: int) -> Iterator[Case]:
    shapes: list[tuple[str, Callable[[int], list | None], bool]] = [
        # (name, Message-ID fields, the stored id is this case's own "<message-id.i@bad.example>")
        ("missing", lambda i: None, False), ("empty", lambda i: [""], False), ("angle-pair", lambda i: ["<>"], False),
        ("space-inside", lambda i: [f"<a b{i}@bad.example>"], False), ("no-angles", lambda i: [f"id{i}@bad.example"], False),
        ("double-angles", lambda i: [f"<<message-id.{i}@bad.example>>"], True),
        ("10kb", lambda i: ["<" + "x" * 10_000 + f"{i}@bad.example>"], False),
        ("100kb", lambda i: ["<" + "y" * 100_000 + f"{i}@bad.example>"], False),
        ("two-fields", lambda i: [f"<message-id.{i}@bad.example>", f"<other.{i}@bad.example>"], True),
        ("trailing-junk", lambda i: [f"<message-id.{i}@bad.example> (junk) <<"], True),
        ("leading-junk", lambda i: [f"junk: <message-id.{i}@bad.example>"], True),
        ("8bit", lambda i: [b"<\xff\xfe" + str(i).encode() + b"@bad.example>"], False),
        ("nul", lambda i: [b"<\x00" + str(i).encode() + b"@bad.example>"], False),
        ("encoded-word", lambda i: [f"=?utf-8?q?=3Cmessage-id.{i}=40bad.example=3E?="], True),
        ("upper-case", lambda i: [f"<MESSAGE-ID.{i}@BAD.EXAMPLE>"], True),
        ("folded", lambda i: [f"\r\n <message-id.{i}@bad.example>"], True),
    ]
    pair_id = None
    for v in range(count):
        i = ctx.number()
        k = v % (len(shapes) + 2)
        duplicate = False
        if k < len(shapes):
            name, ids, own = shapes[k]
            values = ids(i)
            extra = [("Message-ID", value) for value in values or []]
            known = _mid(ctx, i) if own else None
        else:  # a pair of messages with the same Message-ID: the second is de-duplicated away
            name = "pair-first" if k == len(shapes) else "pair-second"
            if k == len(shapes):
                pair_id = f"<pair.{i}@bad.example>"
            duplicate = k > len(shapes)
            extra, known = [("Message-ID", pair_id or "")], pair_id
        raw = message(_fields(ctx, i, mid=None, extra=extra), _text(i).encode())
        yield Case(ctx.kind, name, raw, True, True, known, duplicate=duplicate)


def _huge_headers(ctx: _Ctx, count: int) -> Iterator[Case]:
    rng = ctx.rng
    shapes: list[tuple[str, Callable[[int], dict]]] = [
        ("1000-received", lambda i: {"extra": [("Received", f"from h{k}.example by mx{k}.example; {rfc_date(i)}")
                                                for k in range(1000)]}),
        ("100kb-subject", lambda i: {"subject": f"#{i} " + "s" * 100_000}),
        ("100kb-folded-subject", lambda i: {"subject": f"#{i} " + "\r\n ".join(["word " * 16] * 1250)}),
        ("5000-to", lambda i: {"extra": [("To", ", ".join(f"p{k}@crowd.example" for k in range(5000)))]}),
        ("10000-references", lambda i: {"extra": [("References", " ".join(f"<r{k}@x.example>" for k in range(10_000)))]}),
        ("20000-spaces-in-from", lambda i: {"sender": "Ana" + " " * 20_000 + f"<s{i}@{ctx.kind}.bad.example>"}),
        ("10000-fields", lambda i: {"extra": [(f"X-F{k}", "v") for k in range(10_000)]}),
        ("3000-cc-folded", lambda i: {"extra": [("Cc", ",\r\n ".join(f"c{k}@crowd.example" for k in range(3000)))]}),
        ("1000-in-reply-to", lambda i: {"extra": [("In-Reply-To", "".join(f"<i{k}@x.example>" for k in range(1000)))]}),
        ("1mb-line", lambda i: {"extra": [("X-Junk", "j" * 1_000_000)]}),
        ("20000-tabs-in-to", lambda i: {"extra": [("To", "a" + "\t " * 10_000 + "<b@x.example>")]}),
    ]
    for v in range(count):
        i = ctx.number()
        name, shape = shapes[v % len(shapes)]
        if name == "1mb-line" and v >= len(shapes) * 2:
            name, shape = shapes[rng.randrange(len(shapes) - 2)]  # at most two 1 MB lines
        spec = shape(i)
        raw = message(_fields(ctx, i, sender=spec.get("sender"), subject=spec.get("subject"), extra=spec.get("extra")),
                      _text(i).encode())
        yield Case(ctx.kind, name, raw, True, True, _mid(ctx, i))


def _nested(depth: int, text: bytes, closed: bool = True) -> bytes:
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (k, k + 1) for k in range(depth))
    body += b"--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" % (depth, text)
    if closed:
        body += b"--b%d--\r\n" % depth + b"".join(b"--b%d--\r\n" % k for k in reversed(range(depth)))
    return body


def _deep(ctx: _Ctx, count: int) -> Iterator[Case]:
    rng = ctx.rng

    def build(depth: int, closed: bool) -> tuple[str, Callable[[int], tuple[list, bytes]]]:
        return (f"depth-{depth}{'' if closed else '-unclosed'}",
                lambda i: ([("MIME-Version", "1.0"), ("Content-Type", "multipart/mixed; boundary=b0")],
                           _nested(depth, _text(i).encode(), closed)))

    # 1,000 deep costs ~0.4 s a parse: two of those, however large the set; then 50, 200 and others
    thousand = [build(1000, True), build(1000, False)]
    rest = [build(d, c) for d, c in [(50, True), (200, True), (60, True), (61, True), (300, True), (50, False),
                                     (200, False), (100, True), (101, False)]]
    rest += [build(rng.randrange(2, 150), rng.random() < 0.7) for _ in range(6)]
    variants = (thousand + [rest[j % len(rest)] for j in range(max(0, count - 2))])[:count]
    yield from _body_damage(ctx, count, variants)


def _boundaries(ctx: _Ctx, count: int) -> Iterator[Case]:
    def mp(ctype: str, body: Callable[[int], bytes]) -> Callable[[int], tuple[list, bytes]]:
        return lambda i: ([("MIME-Version", "1.0"), ("Content-Type", ctype)], body(i))

    def t(i: int) -> bytes:
        return _text(i).encode()

    part = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    variants = [
        ("missing-param", mp("multipart/mixed", lambda i: b"--x\r\n" + part + t(i) + b"\r\n--x--\r\n")),
        ("wrong", mp("multipart/mixed; boundary=AAA", lambda i: b"--BBB\r\n" + part + t(i) + b"\r\n--BBB--\r\n")),
        ("unclosed", mp("multipart/mixed; boundary=b", lambda i: b"--b\r\n" + part + t(i))),
        ("empty", mp('multipart/mixed; boundary=""', lambda i: b"--\r\n" + part + t(i) + b"\r\n----\r\n")),
        ("unquoted-spaces", mp("multipart/mixed; boundary=a b c", lambda i: b"--a b c\r\n" + part + t(i) + b"\r\n--a b c--")),
        ("200-chars", mp("multipart/mixed; boundary=" + "x" * 200,
                         lambda i: b"--" + b"x" * 200 + b"\r\n" + part + t(i) + b"\r\n--" + b"x" * 200 + b"--\r\n")),
        ("in-text", mp("multipart/mixed; boundary=b", lambda i: b"--b\r\n" + part + t(i) + b"--b is here\r\n--b--\r\n")),
        ("no-parts", mp("multipart/mixed; boundary=b", lambda i: b"--b--\r\n")),
        ("preamble-only", mp("multipart/mixed; boundary=b", lambda i: b"just a preamble\r\n" + t(i))),
        ("plain-second", mp("multipart/alternative; boundary=b",
                            lambda i: b"--b\r\nContent-Type: text/html\r\n\r\n<p>" + t(i) + b"</p>\r\n--b\r\n" + part + t(i)
                            + b"\r\n--b--\r\n")),
        ("reused-by-child", mp("multipart/mixed; boundary=b", lambda i: b"--b\r\nContent-Type: multipart/mixed; "
                               b"boundary=b\r\n\r\n--b\r\n" + part + t(i) + b"\r\n--b--\r\n--b--\r\n")),
        ("close-junk", mp("multipart/mixed; boundary=b", lambda i: b"--b\r\n" + part + t(i) + b"\r\n--b--junk\r\n")),
        ("no-subtype", mp("multipart/; boundary=b", lambda i: b"--b\r\n" + part + t(i) + b"\r\n--b--\r\n")),
        ("unterminated-quote", mp('multipart/mixed; boundary="abc', lambda i: b"--abc\r\n" + part + t(i) + b"\r\n--abc--\r\n")),
        ("digest", mp("multipart/digest; boundary=b", lambda i: b"--b\r\n\r\nnot a message " + t(i) + b"\r\n--b--\r\n")),
        ("rfc822-garbage", mp("multipart/mixed; boundary=b",
                              lambda i: b"--b\r\nContent-Type: message/rfc822\r\n\r\n\xff\xfe junk\r\n--b\r\n" + part + t(i)
                              + b"\r\n--b--\r\n")),
        ("8bit-boundary", lambda i: ([("MIME-Version", "1.0"), ("Content-Type", b"multipart/mixed; boundary=\xe9\xe9")],
                                     b"--\xe9\xe9\r\n" + part + t(i) + b"\r\n--\xe9\xe9--\r\n")),
        ("spaces-after", mp("multipart/mixed; boundary=b", lambda i: b"--b   \r\n" + part + t(i) + b"\r\n--b--   \r\n")),
        ("headerless-parts", mp("multipart/mixed; boundary=b", lambda i: b"--b\r\n\r\n" + t(i) + b"\r\n--b\r\n\r\n\r\n--b--\r\n")),
        ("not-multipart-type", mp("multipart", lambda i: t(i))),
    ]
    yield from _body_damage(ctx, count, variants)


_EMPTY_MESSAGES = [b"", b"\r\n", b"\n\n\n", b" \t \r\n", b"\x00"]


def _empty(ctx: _Ctx, count: int) -> Iterator[Case]:
    """Empty bodies (still mail) and empty messages (never mail)."""
    def sp(headers: list, body: bytes) -> Callable[[int], tuple[list, bytes]]:
        return lambda i: (headers, body)

    variants = [
        ("no-body", sp([], b"")), ("whitespace-body", sp([], b" \r\n\t\r\n\r\n")),
        ("empty-base64", sp([("Content-Transfer-Encoding", "base64")], b"")),
        ("empty-qp", sp([("Content-Transfer-Encoding", "quoted-printable")], b"")),
        ("empty-parts", sp([("Content-Type", "multipart/mixed; boundary=b")], b"--b\r\n\r\n--b\r\n\r\n--b--\r\n")),
        ("empty-html", sp([("Content-Type", "text/html")], b"<html></html>")),
        ("nul-body", sp([], b"\x00" * 10)),
    ]
    n_empty = max(1, count // 6)
    yield from _body_damage(ctx, count - n_empty, variants)
    for v in range(n_empty):
        raw = _EMPTY_MESSAGES[v % len(_EMPTY_MESSAGES)]
        ctx.number()
        yield Case("empty-message", f"empty-message={raw!r}", raw, False, False)


def _attachments(ctx: _Ctx, count: int) -> Iterator[Case]:
    payload = base64.encodebytes(random.Random(ctx.rng.random()).randbytes(ATTACHMENT_BYTES)).replace(b"\n", CRLF)
    shapes = [
        ("octet-stream", b"application/octet-stream; name=big.bin", b"attachment; filename=big.bin", True),
        ("pdf-first", b"application/pdf; name=contract.pdf", b"attachment; filename=contract.pdf", False),
        ("inline-image", b"image/jpeg; name=photo.jpg", b"inline; filename=photo.jpg", True),
        ("text-attachment", b"text/plain; charset=utf-8; name=log.txt", b"attachment; filename=log.txt", True),
        ("html-attachment", b"text/html; charset=utf-8; name=page.html", b"attachment; filename=page.html", True),
    ]
    for v in range(count):
        i = ctx.number()
        name, ctype, disposition, text_first = shapes[v % len(shapes)]
        text = b"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFiles attached, case " + str(i).encode() + b".\r\n"
        big = (b"--m\r\nContent-Type: " + ctype + b"\r\nContent-Disposition: " + disposition
               + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + payload)
        body = (text + big if text_first else big + text) + b"--m--\r\n"
        fields = _fields(ctx, i, extra=[("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="m"')])
        yield Case(ctx.kind, name, message(fields, body), True, True, _mid(ctx, i), big=True)


def _html(ctx: _Ctx, count: int) -> Iterator[Case]:
    def h(body: Callable[[int], bytes], charset: str = "utf-8", cte: str = "8bit") -> Callable[[int], tuple[list, bytes]]:
        def build(i: int) -> tuple[list, bytes]:
            data = body(i)
            data = base64.encodebytes(data) if cte == "base64" else quopri.encodestring(data) if cte == "quoted-printable" \
                else data
            return [("Content-Type", f"text/html; charset={charset}" if charset else "text/html"),
                    ("Content-Transfer-Encoding", cte)], data
        return build

    def t(i: int) -> bytes:
        return _text(i).encode()

    variants = [
        ("script-style", h(lambda i: b"<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><p>"
                           + t(i) + b"</p></body></html>")),
        ("malformed-tags", h(lambda i: b"<p<b>text</b <div class='x>" + t(i) + b"<<>> </p></p></p><scr<script>ipt>")),
        ("unclosed-comment", h(lambda i: t(i) + b"<!-- never closed <p>hidden")),
        ("entities", h(lambda i: b"&nbsp;&amp;&lt;&gt;&#x1F600;&#99999999;&#0;&bogus;&#xZZ;&#55296; " + t(i))),
        ("blockquote-100", h(lambda i: t(i) + b"<blockquote>" * 100 + b"old" + b"</blockquote>" * 100)),
        ("blockquote-30", h(lambda i: t(i) + b"<blockquote>" * 30 + b"old" + b"</blockquote>" * 30)),
        ("70k-lt", h(lambda i: t(i) + b"<" * 70_000)),
        ("10k-unclosed-style", h(lambda i: t(i) + b"<style>" * 10_000)),
        ("17k-unclosed-comments", h(lambda i: t(i) + b"<!--" * 17_000)),
        ("35k-p", h(lambda i: t(i) + b"<p" * 35_000)),
        ("23k-td", h(lambda i: t(i) + b"<td" * 23_000)),
        ("base64", h(lambda i: b"<p>" + t(i) + b"</p>", cte="base64")),
        ("qp", h(lambda i: b"<p>" + t(i) + b"</p>", cte="quoted-printable")),
        ("meta-charset-only", h(lambda i: b'<meta charset="windows-1252"><p>Caf\xe9 ' + t(i).decode().encode("cp1252", "replace"),
                                charset="")),
        ("10k-br", h(lambda i: t(i) + b"<br>" * 10_000)),
        ("svg-math", h(lambda i: b"<svg><script>x()</script><text>svg</text></svg><math><mi>x</mi></math>" + t(i))),
        ("nul-bytes", h(lambda i: b"<p>\x00" + t(i) + b"\x00</p>")),
        ("cdata", h(lambda i: b"<![CDATA[ <p>not html</p> ]]>" + t(i))),
        ("lying-charset", h(lambda i: "<p>Café ".encode("cp1252") + t(i), charset="utf-8")),
        ("only-tags", h(lambda i: b"<div><span></span></div>" * 2000)),
        ("uppercase-script", h(lambda i: b"<SCRIPT type=x>alert(2)</sCrIpT >" + t(i))),
    ]
    yield from _body_damage(ctx, count, variants)


def _junk_kind(ctx: _Ctx, count: int) -> Iterator[Case]:
    rng = ctx.rng
    good_head = lambda i: message(_fields(ctx, i), b"")[:-2]  # noqa: E731  (the fields, without the blank line)
    shapes: list[tuple[str, bool, Callable[[int], bytes]]] = [
        # (name, mail: has a From address, Date or Message-ID field, builder)
        ("random-bytes", False, lambda i: _junk(rng, rng.randrange(100, 20_000), nul=False)),
        ("random-with-nuls", False, lambda i: _junk(rng, rng.randrange(100, 20_000))),
        ("nuls-only", False, lambda i: b"\x00" * rng.randrange(1, 5000)),
        ("printable-no-colons", False, lambda i: b"\r\n".join(
            bytes(rng.choice(b"abcdefghij klmnop") for _ in range(60)) for _ in range(40))),
        ("header-lines-without-mail-fields", False, lambda i: b"X-A: 1\r\nX-B: 2\r\nSubject: no sender, date or id\r\n"
                                                             b"\r\nbody\r\n"),
        ("leading-blank-line", False, lambda i: b"\r\nFrom: a@x.example\r\nDate: " + rfc_date(i).encode() + b"\r\n\r\nbody"),
        ("nuls-in-body", True, lambda i: good_head(i) + b"\r\n" + _text(i).encode().replace(b" ", b"\x00")),
        ("nuls-in-subject", True, lambda i: good_head(i).replace(b"Subject: ", b"Subject: \x00\x00") + b"\r\nbody"),
        ("no-separator-body", True, lambda i: good_head(i) + b"this body line follows the headers directly\r\n"),
        ("headers-only-no-eol", True, lambda i: good_head(i).rstrip(b"\r\n")),
        ("binary-body", True, lambda i: good_head(i) + b"\r\n" + rng.randbytes(rng.randrange(100, 10_000))),
    ]
    for v in range(count):
        i = ctx.number()
        name, mail, build = shapes[v % len(shapes)]
        yield Case(ctx.kind, name, build(i), mail, mail, _mid(ctx, i) if mail else None)


def _line_endings(ctx: _Ctx, count: int) -> Iterator[Case]:
    """Date is the first field, so whichever way a parser splits lines, it is read."""
    rng = ctx.rng
    for v in range(count):
        i = ctx.number()
        mode = v % 12
        fields = [("Date", rfc_date(i)), ("From", f"s{i}@{ctx.kind}.bad.example"), ("To", ME),
                  ("Subject", f"{ctx.kind} #{i}"), ("Message-ID", _mid(ctx, i)),
                  ("Content-Type", "text/plain; charset=utf-8")]
        lines = [f"{k}: {v}".encode() for k, v in fields]
        body = [b"First line of case %d." % i, b"", b"> quoted", b"Last line."]
        eols = {0: b"\n", 1: b"\r", 2: b"\r\n", 3: b"\r\r\n", 4: b"\n\r"}
        name = {0: "lf", 1: "cr", 2: "crlf", 3: "cr-cr-lf", 4: "lf-cr"}.get(mode, "")
        if mode in eols:
            raw = eols[mode].join(lines) + eols[mode] * 2 + eols[mode].join(body)
        elif mode == 5:
            name = "random-mix"
            raw = b"".join(line + rng.choice([b"\n", b"\r", b"\r\n"]) for line in lines) + b"\r\n" + \
                b"".join(line + rng.choice([b"\n", b"\r", b"\r\n"]) for line in body)
        elif mode == 6:
            name, raw = "crlf-head-lf-body", b"\r\n".join(lines) + b"\r\n\r\n" + b"\n".join(body)
        elif mode == 7:
            name, raw = "lf-head-cr-body", b"\n".join(lines) + b"\n\n" + b"\r".join(body)
        elif mode == 8:
            name = "bare-cr-in-subject"
            raw = b"\r\n".join(lines).replace(b"Subject: ", b"Subject: a\rb\rc ") + b"\r\n\r\n" + b"\r\n".join(body)
        elif mode == 9:
            name, raw = "bare-lf-fold", b"\r\n".join(lines).replace(b"Subject: ", b"Subject: x\n y ") + b"\r\n\r\n" + \
                b"\r\n".join(body)
        elif mode == 10:
            name, raw = "many-blank-lines", b"\r\n".join(lines) + b"\r\n" * 6 + b"\r\n".join(body)
        else:
            name, raw = "no-final-eol-no-body", b"\r\n".join(lines)
        # a bare CR (modes 3, 4 and 8) is a line break to the email package: the header ends there
        yield Case(ctx.kind, name, raw, True, True, None if mode in (3, 4, 8) else _mid(ctx, i))


def _froms(ctx: _Ctx, count: int) -> Iterator[Case]:
    senders: list[tuple[str, Callable[[int], bytes | None]]] = [
        ("no-address", lambda i: b"Ana Kova\xc4\x8d"), ("empty", lambda i: b""), ("angles", lambda i: b"<>"),
        ("at", lambda i: b"@"), ("undisclosed", lambda i: b"undisclosed-recipients:;"),
        ("group", lambda i: b"team: a@team.bad.example, b@team.bad.example;"),
        ("100-addresses", lambda i: b", ".join(b"p%d@many.bad.example" % k for k in range(100))),
        ("5000-addresses", lambda i: b", ".join(b"p%d@many.bad.example" % k for k in range(5000))),
        ("b-word-not-base64", lambda i: b"=?utf-8?b?a?= <s%d@from.bad.example>" % i),
        ("quoted-b-word", lambda i: b'"=?utf-8?b?a?=" <s%d@from.bad.example>' % i),
        ("bogus-charset-word", lambda i: b"=?bogus?q?x?= <s%d@from.bad.example>" % i),
        ("word-hiding-address", lambda i: b"=?utf-8?q?x=2C_evil=40evil.bad.example?= <s%d@from.bad.example>" % i),
        ("unbalanced-quote", lambda i: b'"Ana <s%d@from.bad.example>' % i),
        ("unclosed-comment", lambda i: b"Ana (comment <s%d@from.bad.example>" % i),
        ("5000-nested-comments", lambda i: b"(" * 5000 + b"x" + b")" * 5000 + b" <s%d@from.bad.example>" % i),
        ("20000-open-parens", lambda i: b"(" * 20_000),
        ("3000-nested-groups", lambda i: b"g:" * 3000 + b"a@from.bad.example" + b";" * 3000),
        ("double-angle", lambda i: b"<<s%d@from.bad.example>" % i), ("no-open-angle", lambda i: b"s%d@from.bad.example>" % i),
        ("no-close-angle", lambda i: b"Ana <s%d@from.bad.example" % i),
        ("8bit-name", lambda i: b"\xc4\x8cedo \xff <s%d@from.bad.example>" % i),
        ("100kb-name", lambda i: b"x" * 100_000 + b" <s%d@from.bad.example>" % i),
        ("300-char-address", lambda i: b"a" * 300 + b"@from.bad.example"),
        ("two-ats", lambda i: b"a@b@from.bad.example"), ("ip-literal", lambda i: b"ana@[192.0.2.1]"),
        ("idn", lambda i: "ana@žuta.bad.example".encode()), ("missing", lambda i: None),
        ("20000-spaces", lambda i: b" " * 20_000 + b"<s%d@from.bad.example>" % i),
        ("trailing-commas", lambda i: b"Ana <s%d@from.bad.example>, , ," % i), ("escapes", lambda i: b'"\\"\\\\" <s@x.example>'),
        ("semicolons", lambda i: b";;;;"), ("colons", lambda i: b"::::"), ("20000-angles", lambda i: b"<" * 20_000),
        ("tab-separated", lambda i: b"Ana\t<s%d@from.bad.example>\tBob\t<b@from.bad.example>" % i),
        ("two-fields", lambda i: b"Ana <s%d@from.bad.example>" % i),
    ]
    for v in range(count):
        i = ctx.number()
        name, sender = senders[v % len(senders)]
        value = sender(i)
        dated = v % 7 != 3
        fields = _fields(ctx, i, date=dated, sender=b"" if value is None else value)
        if value is None:
            fields = [f for f in fields if f[0] != "From"]
        if name == "two-fields":
            fields.append(("From", f"Second <t{i}@from.bad.example>"))
        yield Case(ctx.kind, name if dated else name + "/no-date", message(fields, _text(i).encode()), dated, True,
                   _mid(ctx, i))


def _good(ctx: _Ctx, count: int) -> Iterator[Case]:
    """Ordinary client mail: ten clients, each asking, chasing and thanking."""
    rng = ctx.rng
    names = ["Ana Kovač", "Marko Horvat", "Ivana Perić", "Jiwoo Park", "Luka Babić", "Sara Novak", "Tomislav Jurić",
             "Petra Knežević", "Hana Kim", "Nikola Marić"]
    previous: dict[int, str] = {}
    for v in range(count):
        i = ctx.number()
        k = v % GOOD_CLIENTS
        client = f"client{k}.example"
        mid = f"<good.{i}@{client}>"
        when = NOW - timedelta(days=70) + timedelta(hours=rng.randrange(0, 68 * 24))
        local = names[k].split()[0].lower().replace("č", "c").replace("š", "s")
        fields: list[tuple[str | bytes, str | bytes]] = [
            ("From", f"{names[k]} <{local}@{client}>"), ("To", f"Me <{ME}>"), ("Date", format_datetime(when)),
            ("Subject", f"Re: Project {k} — status #{i}"), ("Message-ID", mid), ("MIME-Version", "1.0")]
        if k in previous:
            fields += [("In-Reply-To", previous[k]), ("References", previous[k])]
        previous[k] = mid
        text = f"Hi,\n\ncould you send the status of project {k}? Thanks ({i}).\n\nBest,\n{names[k]}\n"
        style = v % 4
        if style == 0:
            fields.append(("Content-Type", "text/plain; charset=utf-8"))
            body = text.encode()
        elif style == 1:
            fields += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")]
            body = quopri.encodestring(text.encode())
        elif style == 2:
            fields += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "base64")]
            body = base64.encodebytes(text.encode())
        else:
            fields.append(("Content-Type", 'multipart/alternative; boundary="alt"'))
            body = (b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode() + b"\r\n--alt\r\n"
                    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + text.encode() + b"</p>\r\n--alt--\r\n")
        yield Case("good", f"good-{['plain', 'qp', 'base64', 'alternative'][style]}", message(fields, body), True, True,
                   mid, client=client)


# (kind, weight at n=1000, generator)
_KINDS: list[tuple[str, int, Callable[[_Ctx, int], Iterator[Case]]]] = [
    ("base64", 70, _base64), ("qp", 60, _qp), ("charset-unknown", 60, _charset_unknown),
    ("charset-lying", 80, _charset_lying), ("headers-8bit", 60, _headers_8bit), ("encoded-words", 50, _encoded_words),
    ("date", 100, _dates), ("message-id", 60, _message_ids), ("huge-headers", 30, _huge_headers),
    ("deep", 30, _deep), ("boundary", 70, _boundaries), ("empty-body", 40, _empty), ("html", 90, _html),
    ("junk", 80, _junk_kind), ("line-endings", 60, _line_endings), ("from", 95, _froms),
]
