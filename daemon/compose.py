"""Alert and digest emails: plain text plus an HTML alternative, readable on a phone.

Everything taken from a client message (names, addresses, subjects, quotes) is untrusted:
it is stripped of control characters before it can reach a header, and HTML-escaped
before it reaches the HTML part, so it can neither add a header nor inject markup.
"""
from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Sequence

from .analysis import ClientReport
from .flags import Flag
from .records import Message
from .text import client_text

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")

NEXT_STEPS = {
    "abusive": (
        "Document it and consider ending the engagement.",
        "Keep this email and its date: clientwatch has recorded it. Do not answer in kind. If you continue, "
        "state the boundary once, in writing; if it happens again, end the engagement and invoice the work done.",
        "Hello {first},\n\nI'm not willing to continue under the tone of your last message. I'm happy to keep "
        "working together if our communication stays respectful; otherwise I'll wrap up, deliver what is done "
        "and send the final invoice.\n\nBest regards"),
    "controlling": (
        "Set clear boundaries, and put a price on constant approvals.",
        "Agree how and when updates happen (for example one status note a week and two revision rounds), "
        "when you are reachable (your working hours), and that extra approval rounds or scope are billed.",
        "Hello {first},\n\nTo keep the project moving I'll send a status update every Friday and answer mail "
        "on working days between 9:00 and 18:00. Each deliverable includes two revision rounds; further rounds "
        "and new items are billed at my hourly rate. I'll send a quote for anything outside the agreed scope "
        "before starting it.\n\nBest regards"),
    "stalling:payment": (
        "Send a polite invoice reminder; if it stays unpaid, pause work until it is.",
        "First a short, friendly reminder with the invoice number, amount and due date. If the next date "
        "passes, send a pause-work notice: no new work until overdue invoices are paid.",
        "Hello {first},\n\nA friendly reminder that invoice [number] for [amount] was due on [date]. Could you "
        "let me know when it will be paid?\n\nIf it isn't settled by [date + 7 days], I'll pause work on the "
        "project until it is, and the schedule will move accordingly.\n\nBest regards"),
    "stalling:silence": (
        "Send a firm, polite timeline note.",
        "Say what you need, by when, and what happens to the schedule if it doesn't arrive. Keep it short "
        "and keep the written record.",
        "Hello {first},\n\nTo keep the agreed timeline I need your feedback on [item] by [date]. If it arrives "
        "later, delivery moves by the same number of working days. I'll send the next steps as soon as I "
        "hear from you.\n\nBest regards"),
}


def header_safe(value: str, limit: int = 120) -> str:
    """One line, no control characters, bounded: safe to put in a header."""
    text = _CONTROL.sub(" ", value or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_name(report: ClientReport, names: dict[str, str]) -> str:
    for address in report.metrics.addresses:
        if names.get(address):
            return header_safe(names[address].split()[0], 40)
    return "there"


@dataclass(frozen=True)
class Quote:
    date: datetime
    subject: str
    text: str
    mine: bool = False  # my own message (an unanswered one), not the client's words


def quotes_for(flag: Flag, messages: dict[str, Message], limit: int = 3, chars: int = 240,
               client_addresses: Sequence[str] = ()) -> list[Quote]:
    """Up to ``limit`` short quotes of the flag's evidence, the client's own words first.

    Evidence can include my own messages (the first of an unanswered run); they are quoted
    only after the client's, and marked as mine.
    """
    clients = {a.lower() for a in client_addresses}
    found: list[Quote] = []
    for mid in flag.evidence:
        msg = messages.get(mid)
        if msg is None or not msg.text.strip():
            continue
        body = " ".join(client_text("", msg.text).split())
        if not body:
            continue
        mine = bool(clients) and msg.from_addr.lower() not in clients
        found.append(Quote(msg.date, header_safe(msg.subject, 100),
                           body if len(body) <= chars else body[: chars - 1] + "…", mine))
        if sum(not q.mine for q in found) == limit:
            break
    found.sort(key=lambda q: q.mine)  # stable: the evidence order is kept within each group
    return found[:limit]


# words that say a stalling client is stalling on money rather than on a decision or feedback
_PAYMENT_WORDS = re.compile(
    r"(?i)\b(?:(?:pay|pays|paid|paying|payments?|invoices?|invoiced|fees?|prices?|balance|settle[ds]?|discount|"
    r"quotes?|quoted|overdue|money)\b|rechnung|bezahl|zahlung|faktur|račun|platit|plaćan|uplat|płat|zapłac|"
    r"paiement|factur|pago)")


def next_step_key(flag: Flag, quotes_text: str = "") -> str:
    """Which suggested next step fits the flag: abuse, control, payment or silence.

    Stalling on tone is about payment when the quoted words mention money (or when there is
    nothing to read); stalling only by latency or unanswered mail is silence.
    """
    if flag.kind != "stalling":
        return flag.kind
    if "tone" not in flag.reasons:
        return "stalling:silence"
    if quotes_text.strip() and not _PAYMENT_WORDS.search(quotes_text):
        return "stalling:silence"
    return "stalling:payment"


def figures(report: ClientReport) -> list[tuple[str, str]]:
    m = report.metrics
    def hours(v: float | None) -> str:
        if v is None:
            return "–"
        return f"{v:.1f} h" if v < 48 else f"{v / 24:.1f} days"
    return [
        ("Reply latency", f"median {hours(m.latency.median)}, p90 {hours(m.latency.p90)} ({m.latency.samples} replies)"),
        ("In business hours", f"median {hours(m.latency_business.median)}, p90 {hours(m.latency_business.p90)}"),
        ("Messages", f"{m.from_client} from the client, {m.to_client} from you"),
        ("Unanswered", str(m.unanswered)), ("Chasers", str(m.chasers)),
        ("Tone", ", ".join(f"{k} {v}" for k, v in m.tone.items())),
    ]


@dataclass(frozen=True)
class Section:
    """One client and flag, rendered; an alert has one, a digest several."""

    client: str
    kind: str
    title: str
    text: str
    html: str


def render_section(report: ClientReport, flag: Flag, messages: dict[str, Message], names: dict[str, str],
                   tz: object, headline: str | None = None) -> Section:
    client = header_safe(report.metrics.name, 80)
    title = headline or f"{client}: {flag.kind} ({', '.join(flag.reasons)})"
    quotes = quotes_for(flag, messages, client_addresses=report.metrics.addresses)
    step_title, step_why, draft = NEXT_STEPS[next_step_key(flag, " ".join(q.text for q in quotes if not q.mine))]
    draft = draft.format(first=_first_name(report, names))
    facts = figures(report)
    local = lambda d: d.astimezone(tz).strftime("%a %d %b %Y %H:%M")  # type: ignore[arg-type]  # noqa: E731
    text = [title, "=" * min(len(title), 60), "",
            f"Client: {client} <{', '.join(header_safe(a, 80) for a in report.metrics.addresses)}>",
            f"Flag: {flag.kind} — because of {', '.join(flag.reasons)}", ""]
    text += [f"{k}: {v}" for k, v in facts]
    if quotes:
        text += ["", "Evidence:"]
        text += [f"  {local(q.date)} — \"{q.subject}\"{' (you wrote; no answer)' if q.mine else ''}\n    “{q.text}”"
                 for q in quotes]
    text += ["", f"Suggested next step: {step_title}", step_why, "", "A draft you can adapt:", "",
             *("  " + line for line in draft.splitlines())]
    e = html.escape
    rows = "".join(f"<tr><td style=\"padding:2px 8px 2px 0;color:#555\">{e(k)}</td><td>{e(v)}</td></tr>" for k, v in facts)
    quote_html = "".join(
        f"<blockquote style=\"margin:8px 0;padding:6px 10px;border-left:3px solid #c33;background:#fafafa\">"
        f"<div style=\"color:#666;font-size:13px\">{e(local(q.date))} — {e(q.subject)}"
        f"{' (you wrote; no answer)' if q.mine else ''}</div>{e(q.text)}</blockquote>"
        for q in quotes)
    html_part = (
        f"<h2 style=\"font-size:18px;margin:16px 0 4px\">{e(title)}</h2>"
        f"<p style=\"margin:4px 0\"><b>{e(client)}</b> &lt;{e(', '.join(report.metrics.addresses))}&gt;<br>"
        f"Flag: <b>{e(flag.kind)}</b> — because of {e(', '.join(flag.reasons))}</p>"
        f"<table style=\"font-size:14px;border-collapse:collapse\">{rows}</table>"
        + (f"<h3 style=\"font-size:15px;margin:12px 0 4px\">Evidence</h3>{quote_html}" if quotes else "")
        + f"<h3 style=\"font-size:15px;margin:12px 0 4px\">Suggested next step: {e(step_title)}</h3>"
        f"<p style=\"margin:4px 0\">{e(step_why)}</p>"
        f"<pre style=\"white-space:pre-wrap;font-family:inherit;background:#f4f6f8;padding:8px\">{e(draft)}</pre>")
    return Section(client, flag.kind, title, "\n".join(text), html_part)


def build_email(sender: str, to: Sequence[str], subject: str, sections: Sequence[Section], intro: str,
                now: datetime | None = None) -> EmailMessage:
    """The alert or digest email, with a proper Message-ID and ``Auto-Submitted: auto-generated``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = header_safe(subject, 150)
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    # short enough not to be folded (some tools mishandle a folded Message-ID), unique by uuid4
    msg["Message-ID"] = f"<{uuid.uuid4().hex[:20]}.cw@{sender.rsplit('@', 1)[-1]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Clientwatch"] = "alert"
    footer = "— clientwatch keeps this written record for you. Figures cover the analysis window."
    msg.set_content(intro + "\n\n" + "\n\n\n".join(s.text for s in sections) + "\n\n" + footer + "\n")
    body = "".join(f"<div style=\"border-top:1px solid #ddd;margin-top:12px\">{s.html}</div>" for s in sections)
    msg.add_alternative(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
        "</head><body style=\"font-family:-apple-system,Segoe UI,Roboto,sans-serif;font-size:15px;line-height:1.4;"
        f"max-width:640px;margin:0 auto;padding:8px\"><p>{html.escape(intro)}</p>{body}"
        f"<p style=\"color:#777;font-size:12px\">{html.escape(footer)}</p></body></html>", subtype="html")
    return msg
