"""Alert and digest emails (compose.py): content, next steps, headers, and untrusted input.

Built from hand-made metrics and messages, so every figure and quote in the email is known.
The same emails sent through a real SMTP server are checked in test_alerts.py.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest

from clientwatch.analysis import ClientReport
from clientwatch.compose import build_email, header_safe, next_step_key, quotes_for, render_section
from clientwatch.flags import Flag
from clientwatch.metrics import ClientMetrics, stats
from clientwatch.records import Message

TZ = ZoneInfo("Europe/Zagreb")
CLIENT = "piotr@kowalski-bakery.example"
ME = "mara@studio-kvadrat.example"
MSGID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


def message(mid: str, text: str, day: int, sender: str = CLIENT, name: str = "Piotr Kowalski",
            subject: str = "Invoice 2026-031") -> Message:
    return Message(message_id=mid, date=datetime(2026, 3, day, 9, 30, tzinfo=timezone.utc), from_addr=sender,
                   from_name=name, to=(ME,), cc=(), subject=subject, in_reply_to=(), references=(), text=text,
                   automated=False)


def report(name: str = "Kowalski Bakery", addresses: tuple[str, ...] = (CLIENT,)) -> ClientReport:
    m = ClientMetrics(
        name=name, addresses=list(addresses), from_client=6, to_client=12,
        latency=stats([30.0, 150.0, 170.0, 200.0]), latency_business=stats([8.0, 40.0, 44.0, 46.0]),
        unanswered=3, chasers=1, off_hours_share=0.5,
        tone={"abusive": 1, "controlling": 0, "stalling": 4, "neutral": 1})
    return ClientReport(m, [])


MESSAGES = {
    "<a@k>": message("<a@k>", "Sorry, our accountant is away again, the invoice will have to wait until next month.", 2),
    "<b@k>": message("<b@k>", "Keep working on the next phase, we'll pay everything at the end once the site is live.", 9),
    "<c@k>": message("<c@k>", "Another studio quoted us half of your fee. Otherwise we can't pay the balance yet.", 16),
    "<d@k>": message("<d@k>", "Honestly the invoice doesn't feel like 40 hours of work.", 23),
    "<m@me>": message("<m@me>", "Hi Piotr, a reminder that invoice 2026-031 is overdue.", 20, sender=ME, name="Mara Horvat"),
}
NAMES = {m.from_addr: m.from_name for m in MESSAGES.values()}


def section_for(flag: Flag, rep: ClientReport | None = None, messages: dict[str, Message] = MESSAGES):
    return render_section(rep or report(), flag, messages, {m.from_addr: m.from_name for m in messages.values()}, TZ)


def parse(email_bytes: bytes):
    return message_from_bytes(email_bytes, policy=default_policy)


# --- content ------------------------------------------------------------------------------
def test_alert_names_the_client_flag_reasons_and_key_figures() -> None:
    s = section_for(Flag("stalling", ("tone", "latency", "unanswered"), ("<a@k>", "<b@k>")))
    assert s.client == "Kowalski Bakery" and s.kind == "stalling"
    text = s.text
    assert "Kowalski Bakery" in text and CLIENT in text
    assert "Flag: stalling — because of tone, latency, unanswered" in text
    # latency 30/150/170/200 h: median 160 h = 6.7 days, p90 191 h = 8.0 days
    assert "median 6.7 days, p90 8.0 days (4 replies)" in text
    assert "In business hours: median 42.0 h, p90 45.4 h" in text
    assert "Unanswered: 3" in text and "Chasers: 1" in text
    assert "Tone: abusive 1, controlling 0, stalling 4, neutral 1" in text
    assert "Messages: 6 from the client, 12 from you" in text


def test_at_most_three_quotes_each_with_its_local_date() -> None:
    s = section_for(Flag("stalling", ("tone",), ("<a@k>", "<b@k>", "<c@k>", "<d@k>")))
    assert s.text.count("“") == 3
    # 09:30 UTC on 2 March is 10:30 in Zagreb (CET)
    assert "Mon 02 Mar 2026 10:30" in s.text and "accountant is away again" in s.text
    assert "Mon 09 Mar 2026 10:30" in s.text and "Mon 16 Mar 2026 10:30" in s.text
    assert "40 hours" not in s.text  # the fourth is left out
    assert "Mon 02 Mar 2026 10:30" in s.html


def test_quotes_are_short() -> None:
    long = message("<l@k>", "We will pay later. " * 60, 3)
    quotes = quotes_for(Flag("stalling", ("tone",), ("<l@k>",)), {"<l@k>": long})
    assert len(quotes) == 1 and len(quotes[0].text) <= 240 and quotes[0].text.endswith("…")


def test_the_clients_own_words_come_before_my_unanswered_message() -> None:
    flag = Flag("stalling", ("unanswered", "tone"), ("<m@me>", "<a@k>"))
    quotes = quotes_for(flag, MESSAGES, client_addresses=[CLIENT])
    assert [q.mine for q in quotes] == [False, True]
    s = section_for(flag)
    assert s.text.index("accountant") < s.text.index("reminder that invoice")
    assert "(you wrote; no answer)" in s.text


@pytest.mark.parametrize("flag, expected", [
    (Flag("abusive", ("tone",), ("<a@k>",)), ["Document it and consider ending the engagement"]),
    (Flag("controlling", ("chasers",), ("<a@k>",)), ["boundaries", "status update every Friday"]),
    (Flag("stalling", ("tone",), ("<a@k>", "<b@k>")), ["invoice reminder", "pause work", "invoice [number]"]),
    (Flag("stalling", ("latency",), ("<a@k>",)), ["timeline note", "feedback on [item] by [date]"]),
    (Flag("stalling", ("unanswered",), ("<m@me>",)), ["timeline note"]),
])
def test_the_suggested_next_step_fits_the_kind(flag: Flag, expected: list[str]) -> None:
    s = section_for(flag)
    for phrase in expected:
        assert phrase in s.text
    assert "Suggested next step:" in s.text and "Hello Piotr," in s.text


def test_stalling_on_a_decision_not_money_gets_the_timeline_note() -> None:
    decision = {"<x@k>": message("<x@k>", "We still can't decide on the logo, but the launch date stays the same!", 4),
                "<y@k>": message("<y@k>", "No feedback yet, the board meets next month. Keep the schedule.", 11)}
    flag = Flag("stalling", ("tone",), tuple(decision))
    assert next_step_key(flag, " ".join(m.text for m in decision.values())) == "stalling:silence"
    assert "timeline note" in section_for(flag, messages=decision).text
    # in another language, money still means the invoice reminder
    hr = {"<z@k>": message("<z@k>", "Računovođa je opet na godišnjem, račun ćemo platiti idući mjesec.", 4)}
    assert "invoice reminder" in section_for(Flag("stalling", ("tone",), ("<z@k>",)), messages=hr).text


# --- the email ----------------------------------------------------------------------------
def test_email_is_plain_text_with_an_html_alternative_and_proper_headers() -> None:
    s = section_for(Flag("abusive", ("tone",), ("<a@k>",)))
    email = build_email("clientwatch@studio-kvadrat.example", [ME], "clientwatch: Kowalski Bakery is abusive", [s],
                        "intro")
    msg = parse(email.as_bytes())
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Kowalski Bakery" in msg.get_body(("plain",)).get_content()
    assert "<h2" in msg.get_body(("html",)).get_content()
    assert msg["Auto-Submitted"] == "auto-generated"
    mid = str(msg["Message-ID"])
    assert MSGID.match(mid), mid
    assert mid.endswith("@studio-kvadrat.example>")
    assert msg["From"] == "clientwatch@studio-kvadrat.example" and msg["To"] == ME
    again = build_email("clientwatch@studio-kvadrat.example", [ME], "x", [s], "intro")
    assert again["Message-ID"] != email["Message-ID"]


def test_a_digest_has_one_section_per_flag() -> None:
    sections = [section_for(Flag("stalling", ("tone",), ("<a@k>",))),
                section_for(Flag("controlling", ("chasers",), ("<b@k>",)), report("brightside.example"))]
    msg = parse(build_email("cw@example.com", [ME], "digest", sections, "2 flags").as_bytes())
    text = msg.get_body(("plain",)).get_content()
    assert "Kowalski Bakery: stalling (tone)" in text and "brightside.example: controlling (chasers)" in text


# --- untrusted input ----------------------------------------------------------------------
EVIL_NAME = "<script>alert(1)</script>\r\nBcc: evil@x.example"
EVIL_SUBJECT = "Invoice <img src=x onerror=alert(1)>\r\nBcc: evil@x.example\r\nX-Injected: 1\u2028Cc: evil2@x.example"
EVIL_BODY = ("<script>alert('x')</script>\r\nBcc: evil@x.example\r\n\r\n<img src=x onerror=alert(1)> "
             "<b>bold</b> You are a useless idiot.")


def test_header_safe_removes_line_breaks_and_bounds_length() -> None:
    assert header_safe("a\r\nBcc: x\u2028y\x00z") == "a Bcc: x y z"
    assert len(header_safe("x" * 500, 120)) == 120


def test_untrusted_names_subjects_and_bodies_cannot_add_headers_or_markup() -> None:
    evil = {"<e@k>": message("<e@k>", EVIL_BODY, 5, sender="mallory@x.example", name=EVIL_NAME,
                             subject=EVIL_SUBJECT)}
    rep = report("x.example\r\nBcc: evil@x.example", ("mallory@x.example",))
    s = section_for(Flag("abusive", ("tone",), ("<e@k>",)), rep, evil)
    email = build_email("cw@example.com", [ME], f"clientwatch: {s.client} is abusive", [s], "intro")
    raw = email.as_bytes()
    msg = parse(raw)
    assert sorted(k.lower() for k in msg.keys()) == sorted(
        ["from", "to", "subject", "date", "message-id", "auto-submitted", "x-auto-response-suppress",
         "x-clientwatch", "mime-version", "content-type"])
    # every header line is a known header or a continuation: the CR/LF in the input did not survive
    head = raw.split(b"\n\n", 1)[0].decode()
    for line in head.split("\n"):
        assert line[:1] in (" ", "\t") or line.split(":", 1)[0].lower() in {k.lower() for k in msg.keys()}, line
    assert "Bcc" not in msg.keys() and "Cc" not in msg.keys()
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    html = msg.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "&lt;img" in html and "<img" not in html
    assert "<b>bold" not in html
