"""Properties of the parts that meet untrusted input, checked with hypothesis: the MIME parser,
header decoding, subject normalisation, threading and quote stripping.

Examples are kept modest (the whole file runs in well under 30 s); ``deadline=None`` because
a few inputs (deep nesting, long headers) are legitimately slower than hypothesis' default.
"""
from __future__ import annotations

import base64
import email
import encodings.aliases
import quopri
import random
import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clientwatch import mime
from clientwatch.mime import (ParseError, TextPart, choose_text_part, decode_bytes, decode_header, html_to_text,
                              parse_addresses, parse_date, parse_fetched, parse_raw)
from clientwatch.records import Message
from clientwatch.text import client_text
from clientwatch.threads import _PREFIXES, build_threads, normalize_subject

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
INTERNALDATE = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)

# --- strategies ----------------------------------------------------------------------------------------
CHARSETS = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())) + [
    "ks_c_5601-1987", "euc-kr", "iso-2022-jp", "gb2312", "us-ascii", "x-unknown", "undefined", "", "utf-99"]
charset_labels = st.one_of(st.sampled_from(CHARSETS), st.text(max_size=12), st.none())


@st.composite
def encoded_words(draw: st.DrawFn) -> str:
    """RFC 2047 words, well-formed or not."""
    charset = draw(st.one_of(st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "ks_c_5601-1987", "base64", "x-bad",
                                              "", "utf-8*en"]), st.text(max_size=8)))
    kind = draw(st.sampled_from(["b", "B", "q", "Q", "x", ""]))
    payload = draw(st.one_of(
        st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
        st.binary(max_size=30).map(lambda b: quopri.encodestring(b, header=True).decode()),
        st.text(alphabet="ABCDabcd0123=+/?_ \r\n\t", max_size=20)))
    return f"=?{charset}?{kind}?{payload}?="


header_texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(encoded_words(), st.text(max_size=10)), max_size=5).map(" ".join),
    st.sampled_from(["", "=?", "?=", "=?utf-8?b?a?=", "=?utf-8?q?a=0D=0Ab?=", "\r\n\tfolded", "x\x00y", "\x85\u2028"]),
)


def header_values() -> st.SearchStrategy[bytes]:
    return st.one_of(header_texts.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=60))


FIELD_NAMES = ["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
               "Content-Transfer-Encoding", "MIME-Version", "Content-Disposition", "X-Junk", "List-Id",
               "Precedence", "Auto-Submitted", "X-Autoreply", "Date", "Received"]
CONTENT_TYPES = ["text/plain", "text/html", "multipart/mixed", "multipart/alternative", "message/rfc822",
                 "application/octet-stream", "text/plain; charset=", "text/html; charset=\"x\"", "multipart/", "",
                 "image/png; name=a.png", "text/plain; format=flowed; delsp=yes"]
ENCODINGS = ["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "", "bogus"]


@st.composite
def mime_bodies(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A random MIME entity body: leaves of random bytes, or multiparts with random boundaries."""
    if depth < 4 and draw(st.booleans()):
        boundary = draw(st.one_of(st.text(alphabet="abcXYZ0123-_=. ", min_size=0, max_size=12).map(str.encode),
                                  st.binary(max_size=8)))
        parts = draw(st.lists(mime_entities(depth + 1), max_size=4))
        closed = draw(st.booleans())
        body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
        return draw(st.binary(max_size=20)) + b"\r\n" + body + (b"--" + boundary + b"--\r\n" if closed else b"")
    return draw(st.one_of(st.binary(max_size=200),
                          st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                          st.binary(max_size=100).map(base64.encodebytes),
                          st.binary(max_size=100).map(quopri.encodestring)))


@st.composite
def mime_entities(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Header fields (mostly MIME ones) and a body."""
    ctype = draw(st.sampled_from(CONTENT_TYPES)).encode()
    boundary = draw(st.text(alphabet="abcXYZ0123-_=. ", max_size=12)).encode()
    fields = [b"Content-Type: " + ctype + (b"; boundary=\"" + boundary + b"\"" if ctype.startswith(b"multipart")
                                           else b"; charset=" + draw(charset_labels.map(lambda c: (c or "").encode(
                                               "utf-8", "surrogatepass"))))]
    if draw(st.booleans()):
        fields.append(b"Content-Transfer-Encoding: " + draw(st.sampled_from(ENCODINGS)).encode())
    if draw(st.booleans()):
        fields.append(b"Content-Disposition: " + draw(st.sampled_from([b"attachment", b"inline", b"x; filename=a"])))
    return b"\r\n".join(fields) + b"\r\n\r\n" + draw(mime_bodies(depth))


@st.composite
def messages(draw: st.DrawFn, date_first: bytes | None = None) -> bytes:
    """Structured but random: header fields with random values, a random MIME body, random line ends."""
    fields = draw(st.lists(st.tuples(st.sampled_from(FIELD_NAMES), header_values()), max_size=12))
    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields)
    raw = head + b"\r\n" + draw(mime_entities()).split(b"\r\n\r\n", 1)[-1]
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    raw = raw.replace(b"\r\n", eol) if eol != b"\r\n" else raw
    return (date_first + raw) if date_first else raw


usable_dates = st.datetimes(min_value=datetime(1991, 1, 1), max_value=datetime(2099, 12, 31),
                            timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                                       timezone(timedelta(hours=-8)), timezone(timedelta(hours=14))])
                            ).map(lambda d: d.replace(microsecond=0))  # a Date field has whole seconds


# --- the MIME parser -----------------------------------------------------------------------------------
def _only_parse_errors(raw: bytes, internaldate: datetime | None) -> Message | None:
    try:
        msg = parse_raw(raw, internaldate=internaldate)
    except ParseError:
        return None
    assert isinstance(msg, Message)
    assert msg.date.tzinfo is not None and msg.message_id.startswith("<")
    assert not re.search(r"[\r\n]", msg.subject + msg.from_name)
    return msg


@SLOW
@given(st.binary(max_size=3000), st.sampled_from([None, INTERNALDATE]))
@example(b"From: =?utf-8?b?a?= <a@b.example>\r\nDate: Tue, 03 Mar 2026 10:12:00 +0100\r\n\r\nx", None)
@example(b"From: " + b"(" * 5000 + b"\r\nDate: Tue, 03 Mar 2026 10:12:00 +0100\r\n\r\nx", None)
@example(b"Date: Tue, 03 Mar 2026 10:12:00 +0100\r\nContent-Type: text/plain; charset=rot13\r\n\r\nx", None)
def test_the_parser_raises_only_parse_error_on_arbitrary_bytes(raw: bytes, internaldate: datetime | None) -> None:
    _only_parse_errors(raw, internaldate)


@SLOW
@given(messages(), st.sampled_from([None, INTERNALDATE]))
def test_the_parser_raises_only_parse_error_on_random_messages(raw: bytes, internaldate: datetime | None) -> None:
    _only_parse_errors(raw, internaldate)


@SLOW
@given(st.data(), usable_dates)
def test_a_message_with_a_usable_date_is_always_parsed(data: st.DataObject, when: datetime) -> None:
    """Whatever follows a good Date field, the message is analysed (never recorded as bad)."""
    date = format_datetime(when).encode()
    raw = data.draw(messages(date_first=b"Date: " + date + b"\r\n"))
    msg = _only_parse_errors(raw, None)
    assert msg is not None and msg.date == when.astimezone(timezone.utc)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A good message with random bytes flipped, inserted and deleted."""
    raw = bytearray(b"From: Ana <ana@client.example>\r\nTo: me@x.example\r\nDate: Tue, 03 Mar 2026 10:12:00 +0100\r\n"
                    b"Subject: =?utf-8?q?Ra=C4=8Dun?=\r\nMessage-ID: <m1@client.example>\r\nMIME-Version: 1.0\r\n"
                    b"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; "
                    b"charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nUmHEjXVuIGplIHBsYcSHZW4u\r\n--b\r\n"
                    b"Content-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n--b--\r\n")
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 40))):
        pos = rng.randrange(len(raw))
        op = rng.randrange(3)
        if op == 0:
            raw[pos] = rng.randrange(256)
        elif op == 1:
            raw[pos:pos] = rng.choice([b"\r\n", b"\x00", b"=?", b"--b", b":", b"<", b"(", b"\xff", b"\r"])
        elif len(raw) > 10:
            del raw[pos]
    return bytes(raw)


@FAST
@given(mutated(), st.sampled_from([None, INTERNALDATE]))
def test_the_parser_raises_only_parse_error_on_mutated_mail(raw: bytes, internaldate: datetime | None) -> None:
    _only_parse_errors(raw, internaldate)


@FAST
@given(st.binary(max_size=500), st.one_of(st.none(), st.binary(max_size=500)),
       st.sampled_from(["plain", "html"]), st.sampled_from(ENCODINGS), charset_labels,
       st.sampled_from([None, INTERNALDATE]))
def test_the_imap_parser_raises_only_parse_error(header: bytes, text: bytes | None, subtype: str, encoding: str,
                                                 charset: str | None, internaldate: datetime | None) -> None:
    part = TextPart("1", subtype, encoding, charset, len(text or b""))
    try:
        msg = parse_fetched(header, text, part, internaldate, "INBOX", 7)
    except ParseError:
        return
    assert msg.uid == 7 and msg.folder == "INBOX" and msg.date.tzinfo is not None


structures = st.recursive(
    st.one_of(st.none(), st.integers(-5, 10**6), st.binary(max_size=10),
              st.sampled_from([b"text", b"plain", b"html", b"attachment", b"charset", b"base64", b"NIL"])),
    lambda children: st.one_of(st.lists(children, max_size=12).map(tuple), st.lists(children, max_size=6)),
    max_leaves=60)


@FAST
@given(structures)
@example(((b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 10, 1),) * 3 + (b"mixed",))
def test_choose_text_part_never_raises_on_random_bodystructures(structure: object) -> None:
    part = choose_text_part(structure)
    assert part is None or isinstance(part, TextPart)


@FAST
@given(st.binary(max_size=300), charset_labels)
def test_decode_bytes_never_raises_whatever_the_charset(data: bytes, charset: str | None) -> None:
    assert isinstance(decode_bytes(data, charset), str)


def test_decode_bytes_never_raises_for_any_codec_python_knows() -> None:
    for label in CHARSETS:
        for data in (b"\xff\x00garbage\\x\\u12", b"x", b"\x80\x81", b"", b"+!!-", b"\x1b$B"):
            assert isinstance(decode_bytes(data, label), str), label


# --- header decoding -----------------------------------------------------------------------------------
def _header_objects(raw: bytes) -> object:
    """What the email package hands over for a field with raw 8-bit bytes (a Header object)."""
    return email.message_from_bytes(b"Subject: " + raw.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n\r\n").get(
        "Subject")


@FAST
@given(st.one_of(header_texts, st.binary(max_size=80), st.none(), st.binary(max_size=80).map(_header_objects)))
@example("=?utf-8?b?a?=")
@example("=?utf-8?q?line=0D=0ABcc:_evil@example.com?=")
def test_decode_header_always_gives_one_line_of_text(value: object) -> None:
    text = decode_header(value)
    assert isinstance(text, str) and "\r" not in text and "\n" not in text


@FAST
@given(st.one_of(header_texts, st.binary(max_size=80).map(_header_objects)))
def test_parse_addresses_and_dates_never_raise(value: object) -> None:
    for name, addr in parse_addresses([value]):  # type: ignore[list-item]
        assert "@" in addr and " " not in addr and addr == addr.lower()
    parsed = parse_date(value)  # type: ignore[arg-type]
    assert parsed is None or (parsed.utcoffset() == timedelta(0) and 1990 <= parsed.year <= 2100)


@FAST
@given(st.text(alphabet=st.sampled_from(list("<>/!-abcdeimnopqrstyl =&#;x\"'\n")), max_size=300))
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


tag_soup = st.lists(st.sampled_from(["<!--", "-->", "<script>", "</script>", "<SCRIPT x>", "</Script >", "<style>",
                                     "</style>", "<head>", "</head>", "<title>", "</title>", "<p>", "</p", "<td", "<br/>",
                                     "<", ">", "x", " ", "</scriptx>", "<scripts>", "<!-->", "<blockquote>"]),
                    max_size=20).map("".join)


@FAST
@given(tag_soup)
def test_the_linear_html_helpers_match_the_regexes_they_replace(html: str) -> None:
    """``_drop_hidden`` and ``_sub_tags`` exist only to avoid quadratic regex backtracking."""
    assert mime._drop_hidden(html) == mime._HTML_DROP.sub(" ", html)
    for pattern, repl in ((mime._HTML_TAG, ""), (mime._HTML_BLOCK, "\n"), (mime._HTML_CELL, " ")):
        assert mime._sub_tags(pattern, repl, html) == pattern.sub(repl, html)


@pytest.mark.parametrize("opener", ["<", "<p", "<td", "<style>", "<title>", "<!--", "<a "])
def test_html_to_text_is_linear_on_unclosed_tags(opener: str) -> None:
    started = time.monotonic()
    html_to_text("text " + opener * (80_000 // len(opener)))  # parse_raw's cap: 80,000 characters
    assert time.monotonic() - started < 1.0  # the regexes alone took 2 to 16 s


# --- subjects ------------------------------------------------------------------------------------------
@FAST
@given(st.text(max_size=80))
@example("Re: " * 25 + "x")
@example("[EXT] Re: " * 15 + "x")
def test_normalize_subject_is_idempotent(subject: str) -> None:
    once = normalize_subject(subject)
    assert normalize_subject(once) == once


@st.composite
def prefixes(draw: st.DrawFn) -> str:
    """One known reply/forward prefix or tag, as mail clients write it."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(["[EXT] ", "[External] ", "[SPAM] ", "[Ticket #123] ", "[list-name] Re: "]))
    word = draw(st.sampled_from(sorted(set(_PREFIXES))))
    word = draw(st.sampled_from([word, word.upper(), word.lower(), word.title()]))
    counter = draw(st.sampled_from(["", "[2]", "(3)", "2", " [12]"]))
    colon = draw(st.sampled_from([":", "：", " :"]))
    return word + counter + colon + draw(st.sampled_from(["", " ", "  ", "\t"]))


@FAST
@given(st.lists(prefixes(), min_size=1, max_size=40), st.text(max_size=40))
@example(["Re: "] * 30, "Invoice 12")
def test_normalize_subject_strips_any_stack_of_known_prefixes(stack: list[str], base: str) -> None:
    assert normalize_subject("".join(stack) + base) == normalize_subject(base)


# --- threads -------------------------------------------------------------------------------------------
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


@st.composite
def mailboxes(draw: st.DrawFn) -> list[tuple[Message, str]]:
    """One client's messages with unique ids, colliding dates and subjects, and links to each other
    (or to messages that are not there)."""
    n = draw(st.integers(0, 25))
    ids = [f"<m{k}@x.example>" for k in range(n)]
    pool = ids + ["<gone@x.example>"]
    subjects = st.sampled_from(["Logo", "Re: Logo", "AW: logo", "Invoice", "", "Fwd: Invoice", "[EXT] Re: Invoice"])
    items = []
    for k, mid in enumerate(ids):
        links = st.lists(st.sampled_from(pool), max_size=3).map(tuple)
        msg = Message(mid, T0 + timedelta(hours=draw(st.integers(0, 6))), "a@x.example", "", (), (),
                      draw(subjects), draw(links)[:1], draw(links), "", False)
        items.append((msg, draw(st.sampled_from(["client", "me"]))))
    return items


def _ids(threads: list[list[tuple[Message, str]]]) -> list[list[str]]:
    return [[m.message_id for m, _ in thread] for thread in threads]


@FAST
@given(mailboxes(), st.randoms(use_true_random=False))
def test_build_threads_partitions_orders_links_and_ignores_input_order(items: list[tuple[Message, str]],
                                                                       rng: random.Random) -> None:
    threads = build_threads(items)
    flat = [m.message_id for thread in threads for m, _ in thread]
    assert sorted(flat) == sorted(m.message_id for m, _ in items)  # every message in exactly one thread
    assert all(thread for thread in threads)
    for thread in threads:
        keys = [(m.date, m.message_id) for m, _ in thread]
        assert keys == sorted(keys)
    where = {m.message_id: n for n, thread in enumerate(threads) for m, _ in thread}
    for m, _ in items:
        for ref in (*m.in_reply_to, *m.references):
            if ref in where:
                assert where[ref] == where[m.message_id], (m.message_id, ref)
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert _ids(build_threads(shuffled)) == _ids(threads)


# --- the client's own text -----------------------------------------------------------------------------
MARK = "QZQ"
plain_text = st.text(alphabet=st.characters(blacklist_characters="\r\n&QZ", blacklist_categories=("Cs",)), max_size=60)


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, str]:
    """A body of ordinary lines and `>`-quoted lines; every quoted line carries MARK."""
    lines = []
    for _ in range(draw(st.integers(1, 15))):
        if draw(st.booleans()):
            lead = draw(st.sampled_from(["", " ", "  ", "\t", " \t"]))
            depth = draw(st.sampled_from([">", ">>", "> >", ">" * 5]))
            lines.append(lead + depth + draw(st.sampled_from(["", " "])) + MARK + draw(plain_text))
        else:
            lines.append(draw(plain_text))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return draw(plain_text), eol.join(lines)


@FAST
@given(replies())
@example(("Re: x", "Thanks!\n\nOn Monday Ana wrote:\n> QZQ old text\n"))
@example(("", "Top\n> QZQ1\nmiddle: \n> QZQ2\nbottom"))
def test_client_text_never_returns_quoted_lines(reply: tuple[str, str]) -> None:
    subject, body = reply
    assert MARK not in client_text(subject, body)


@FAST
@given(st.text(max_size=200), st.text(max_size=2000))
def test_client_text_never_raises(subject: str, body: str) -> None:
    assert isinstance(client_text(subject, body), str)
