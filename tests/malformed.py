"""A generator of malformed mail (and some good mail) for the bad-input tests.

``generate(seed)`` returns ``(kind, raw bytes, expect)`` triples, ``expect`` being
``"good"`` (must be analysed), ``"parse"`` (odd but parseable: must be stored) or ``"bad"``
(must be logged and recorded as a bad message). The rule for "bad": a message with no usable
Date (imported from a file there is no INTERNALDATE to fall back on) or with no From, Date
and Message-ID at all (binary junk). Everything else must parse.
"""
from __future__ import annotations

import base64
import random

DATE = "Tue, 03 Mar 2026 10:12:00 +0100"


def _head(rng: random.Random, i: int, **over: str) -> dict[str, str]:
    h = {"From": f"Client {i} <c{i % 37}@client{i % 11}.example>", "To": "mara@studio-kvadrat.example",
         "Subject": f"Project {i}", "Date": DATE, "Message-ID": f"<bad{i}.{rng.randrange(10**9)}@client.example>"}
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


def _msg(headers: dict[str, str], body: bytes, extra: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    head = eol.join(f"{k}: {v}".encode("utf-8", "surrogateescape") for k, v in headers.items())
    return head + eol + extra + eol + body


def generate(seed: int = 0, huge: int = 3) -> list[tuple[str, bytes, str]]:
    rng = random.Random(seed)
    out: list[tuple[str, bytes, str]] = []
    i = 0

    def add(kind: str, raw: bytes, expect: str) -> None:
        nonlocal i
        out.append((kind, raw, expect))
        i += 1

    for _ in range(60):  # broken base64 and quoted-printable
        good = base64.b64encode(f"Hello {rng.random()}".encode())
        add("broken-base64", _msg(_head(rng, i, **{"Content-Transfer-Encoding": "base64"}),
                                  good[: rng.randrange(1, len(good))] + b"!!*%" + bytes(rng.randrange(256) for _ in range(8))), "parse")
        add("broken-qp", _msg(_head(rng, i, **{"Content-Transfer-Encoding": "quoted-printable"}),
                              b"caf=C3=A9 =ZZ =\r\nsoft= broken=" + bytes([rng.randrange(128, 256)])), "parse")
    charsets = ["x-klingon", "", "utf-8", "us-ascii", "ks_c_5601-1987", "euc-kr", "iso-2022-jp", "gb2312",
                "windows-1250", "iso-8859-2", "utf-16", "unknown-8bit", '"utf-8"; format=flowed', "utf8mb4"]
    for _ in range(12):  # unknown and lying charsets
        for cs in charsets:
            payload = rng.choice(["Računovođa plaća", "인보이스 확인", "Grüße", "¿qué tal?"]).encode(
                rng.choice(["utf-8", "cp1250", "cp949", "latin-1"]), "replace")
            add("charset", _msg(_head(rng, i, **{"Content-Type": f"text/plain; charset={cs}",
                                                 "Content-Transfer-Encoding": "8bit"}), payload), "parse")
    for _ in range(80):  # raw 8-bit (non-UTF-8) bytes in headers
        raw = _msg(_head(rng, i, Subject="PLACEHOLDER"), b"body")
        add("8bit-header", raw.replace(b"PLACEHOLDER", "Račun ožujak".encode("cp1250") + bytes([rng.randrange(128, 256)])), "parse")
    for bad_date in ["", "yesterday", "Mon, 30 Feb 2026 25:61:00 +9999", "Thu, 01 Jan 0001 00:00:00 +0000",
                     "Fri, 31 Dec 9999 23:59:59 +0000", "\x00\x01", "1735689600"]:
        for _ in range(15):  # missing or absurd Date: no fallback when imported from a file
            add("bad-date", _msg(_head(rng, i, Date=bad_date or None), b"when was this?"), "bad")
    for _ in range(15):
        add("no-date-header", _msg({k: v for k, v in _head(rng, i).items() if k != "Date"}, b"x"), "bad")
    for mid in ["", "not-an-id", "<" + "x" * 5000 + "@y>", "<a@b> <c@d>", "<>", "<\x01@\x02>"]:
        for _ in range(12):  # missing, absurd or garbage Message-ID: a stable synthetic id instead
            add("bad-message-id", _msg(_head(rng, i, **{"Message-ID": mid or None}), f"id test {i}".encode()), "parse")
    for _ in range(20):  # a thousand-line header, a 100 KB subject
        extra = b"".join(b"Received: from relay%d.example by mx.example; " % n + DATE.encode() + b"\r\n" for n in range(1000))
        add("thousand-line-header", _msg(_head(rng, i), b"deep routing", extra), "parse")
        add("huge-subject", _msg(_head(rng, i, Subject="Re: " + "very long " * 10000), b"long subject"), "parse")
    for depth in (50, 200):
        for _ in range(10):  # multiparts nested deep
            body = b"innermost text"
            for d in range(depth):
                b = f"b{d}".encode()
                body = b"--" + b + b"\r\nContent-Type: " + (b"text/plain\r\n\r\n" + body if d == 0 else
                                                          b"multipart/mixed; boundary=b%d\r\n\r\n" % (d - 1) + body) \
                    + b"\r\n--" + b + b"--\r\n"
            add(f"nested-{depth}", _msg(_head(rng, i, **{"MIME-Version": "1.0", "Content-Type": f"multipart/mixed; boundary=b{depth - 1}"}), body), "parse")
    for _ in range(30):  # wrong or missing boundaries
        add("bad-boundary", _msg(_head(rng, i, **{"Content-Type": "multipart/alternative; boundary=nope"}),
                                 b"--other\r\nContent-Type: text/plain\r\n\r\nlost\r\n--other--"), "parse")
        add("no-boundary", _msg(_head(rng, i, **{"Content-Type": "multipart/mixed"}), b"no boundary at all"), "parse")
    for _ in range(40):  # empty bodies, HTML only
        add("empty-body", _msg(_head(rng, i), b""), "parse")
        add("html-only", _msg(_head(rng, i, **{"Content-Type": "text/html; charset=utf-8"}),
                              b"<html><style>p{}</style><script>x()</script><p>Hello &amp; <b>bye</p><div unclosed"), "parse")
    for _ in range(huge):  # 10 MB attachments
        att = base64.encodebytes(rng.randbytes(10 * 1024 * 1024 // 4 * 3))
        body = (b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--z\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att + b"\r\n--z--\r\n")
        add("10mb-attachment", _msg(_head(rng, i, **{"MIME-Version": "1.0", "Content-Type": "multipart/mixed; boundary=z"}), body), "parse")
    for _ in range(60):  # binary junk: no header fields at all
        add("binary-junk", bytes(rng.randrange(256) for _ in range(rng.randrange(200, 2000))).replace(b"From ", b"FROM "), "bad")
    for eol in (b"\n", b"\r", b"\r\n\n"):
        for _ in range(15):  # line-ending mixes
            # "\r\n\n" between header fields ends the header block after the first field: no
            # Date left, so a file import has nothing to date it by (IMAP has INTERNALDATE)
            add("eol-mix", _msg(_head(rng, i), b"line one" + eol + b"line two", eol=eol if eol != b"\r" else b"\r\n"),
                "bad" if eol == b"\r\n\n" else "parse")
    for frm in ["", "Just A Name", "a@b.example, c@d.example, e@f.example", "=?utf-8?b?!!!?= <x@y.example>",
                "<>", '"unterminated <z@y.example>']:
        for _ in range(10):  # odd From headers: still a message (no client, or the first address)
            add("odd-from", _msg(_head(rng, i, From=frm or None), b"who am i"), "parse")
    for _ in range(100):  # good mail from known clients
        add("good", _msg(_head(rng, i, From=f"Good {i} <good{i % 5}@goodclient.example>"), b"Thanks, looks great."), "good")
    return out
