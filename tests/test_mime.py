from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from clientwatch.mime import (ParseError, choose_text_part, codec_for, decode_bytes, decode_header, parse_date,
                              parse_raw)


def raw(headers: dict[str, str], body: bytes, extra: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("utf-8")
    return head + extra + b"\r\n" + body


BASE = {"From": "Ana <ana@client.example>", "To": "me@example.com", "Subject": "Hello",
        "Date": "Tue, 03 Mar 2026 10:12:00 +0100", "Message-ID": "<a1@client.example>"}


@pytest.mark.parametrize("charset,text", [
    ("ks_c_5601-1987", "안녕하세요, 인보이스 확인 부탁드립니다"),
    ("euc-kr", "안녕하세요"),
    ("iso-8859-2", "Poštovani, račun je plaćen. Žao mi je."),
    ("windows-1250", "Računovođa je na godišnjem"),
    ("utf-8", "Grüße aus München — ¿qué tal?"),
])
def test_charsets_and_aliases(charset: str, text: str) -> None:
    codec = codec_for(charset)
    body = text.encode(codec)
    msg = parse_raw(raw({**BASE, "Content-Type": f"text/plain; charset={charset}",
                         "Content-Transfer-Encoding": "8bit"}, body))
    assert msg.text.strip() == text


def test_unknown_and_lying_charsets_never_crash() -> None:
    msg = parse_raw(raw({**BASE, "Content-Type": "text/plain; charset=x-klingon-42"}, "déjà vu".encode()))
    assert msg.text.strip() == "déjà vu"
    # declared ascii but really UTF-8
    assert decode_bytes("Žao".encode(), "us-ascii") == "Žao"
    assert isinstance(decode_bytes(b"\xff\xfe\x00garbage", "utf-8"), str)


def test_rfc2047_headers() -> None:
    subject = "=?UTF-8?B?" + base64.b64encode("Račun za ožujak".encode()).decode() + "?="
    name = "=?ks_c_5601-1987?B?" + base64.b64encode("박지우".encode("cp949")).decode() + "?="
    msg = parse_raw(raw({**BASE, "Subject": subject, "From": f"{name} <jiwoo@hanbit.example>"}, b"hi"))
    assert msg.subject == "Račun za ožujak"
    assert msg.from_name == "박지우" and msg.from_addr == "jiwoo@hanbit.example"


def test_header_controls_are_removed() -> None:
    assert "\n" not in decode_header("=?utf-8?q?a=0D=0ABcc=3A_x=40y?=")


def test_html_only_is_converted() -> None:
    html = b"<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><p>Hello <b>there</b></p></body></html>"
    msg = parse_raw(raw({**BASE, "Content-Type": "text/html; charset=utf-8"}, html))
    assert "Hello there" in msg.text and "alert" not in msg.text and "color" not in msg.text


def test_plain_preferred_over_html_and_attachments_skipped() -> None:
    body = (b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
            b"ATTACHED\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
            b"--c\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--c\r\nContent-Type: text/plain\r\n\r\n"
            b"plain version\r\n--c--\r\n--b--\r\n")
    msg = parse_raw(raw({**BASE, "MIME-Version": "1.0", "Content-Type": 'multipart/mixed; boundary="b"'}, body))
    assert msg.text.strip() == "plain version"


def test_broken_base64_and_qp_decode_partially() -> None:
    msg = parse_raw(raw({**BASE, "Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "base64"},
                        base64.b64encode("Hello world".encode()) + b"!!!@@@"))
    assert msg.text.startswith("Hello")
    msg = parse_raw(raw({**BASE, "Content-Transfer-Encoding": "quoted-printable"}, b"caf=C3=A9 =ZZ broken="))
    assert "café" in msg.text


def test_dates() -> None:
    assert parse_date("Tue, 03 Mar 2026 10:12:00 +0100") == datetime(2026, 3, 3, 9, 12, tzinfo=timezone.utc)
    assert parse_date("yesterday-ish") is None
    assert parse_date("Tue, 03 Mar 1901 10:12:00 +0100") is None
    fallback = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    msg = parse_raw(raw({k: v for k, v in BASE.items() if k != "Date"}, b"x"), internaldate=fallback)
    assert msg.date == fallback
    with pytest.raises(ParseError, match="Date"):
        parse_raw(raw({k: v for k, v in BASE.items() if k != "Date"}, b"x"))


def test_missing_message_id_gets_a_stable_synthetic_one() -> None:
    data = raw({k: v for k, v in BASE.items() if k != "Message-ID"}, b"same body")
    a, b = parse_raw(data), parse_raw(data)
    assert a.message_id == b.message_id and a.message_id.endswith("@clientwatch.invalid>")


def test_empty_message_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_raw(b"   \r\n")


@pytest.mark.parametrize("headers,automated", [
    ({"List-Id": "<news.example>"}, True),
    ({"List-Unsubscribe": "<mailto:u@x>"}, True),
    ({"Precedence": "bulk"}, True),
    ({"Precedence": "junk"}, True),
    ({"Auto-Submitted": "auto-replied"}, True),
    ({"Auto-Submitted": "no"}, False),
    ({"From": "noreply@shop.example"}, True),
    ({"From": "no-reply+abc@shop.example"}, True),
    ({"From": "MAILER-DAEMON@mx.example"}, True),
    ({"From": "nora@client.example"}, False),
])
def test_automated_mail(headers: dict[str, str], automated: bool) -> None:
    assert parse_raw(raw({**BASE, **headers}, b"x")).automated is automated


def test_choose_text_part_from_imapclient_bodystructure() -> None:
    from imapclient.response_types import BodyData

    plain = BodyData.create((b"text", b"plain", (b"charset", b"iso-8859-2"), None, None, b"quoted-printable", 120, 4))
    html = BodyData.create((b"text", b"html", (b"charset", b"utf-8"), None, None, b"base64", 300, 6))
    pdf = BodyData.create((b"application", b"pdf", (b"name", b"big.pdf"), None, None, b"base64", 20_000_000, None,
                           (b"attachment", (b"filename", b"big.pdf")), None))
    alternative = BodyData.create(([html, plain], b"alternative"))
    mixed = BodyData.create(([alternative, pdf], b"mixed"))
    part = choose_text_part(mixed)
    assert part is not None and part.section == "1.2" and part.charset == "iso-8859-2" and part.encoding == "quoted-printable"
    html_only = choose_text_part(BodyData.create(([html, pdf], b"mixed")))
    assert html_only is not None and html_only.section == "1" and html_only.subtype == "html"
    assert choose_text_part(pdf) is None
    single = choose_text_part(plain)
    assert single is not None and single.section == "1"


def test_encoded_display_name_cannot_spoof_the_address() -> None:
    # regression: decoding RFC 2047 before splitting let a display name inject an address
    name = "=?utf-8?b?" + base64.b64encode(b"Evil, Bcc: evil@x.example").decode() + "?="
    msg = parse_raw(raw({**BASE, "From": f"{name} <client@acme.example>"}, b"hi"))
    assert msg.from_addr == "client@acme.example"
    assert msg.from_name == "Evil, Bcc: evil@x.example"
