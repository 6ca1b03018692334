"""Quote, signature and HTML stripping: the model must read only the client's new text."""
from __future__ import annotations

import pytest

from clientwatch import text
from clientwatch.text import client_text, strip_quotes
from clientwatch.training import CORPUS_DIR, EVAL_DIR, load_jsonl

QUOTED = [
    # (body, the new text that must survive, text from the quote that must not)
    ("Fine, go ahead.\n\nOn Tue, 3 Mar 2026 at 10:12, Mara Horvat <mara@studio.example> wrote:\n> you idiot, pay me",
     "Fine, go ahead.", "idiot"),
    ("Passt so.\n\nAm 03.03.2026 um 10:12 schrieb Mara Horvat <mara@studio.example>:\n> Rechnung anbei",
     "Passt so.", "Rechnung"),
    ("Vale, perfecto.\n\nEl lun, 3 mar 2026 a las 10:12, Mara (<mara@studio.example>) escribió:\n> factura",
     "Vale, perfecto.", "factura"),
    ("U redu.\n\nDana 3. 3. 2026. u 10:12, Mara Horvat <mara@studio.example> je napisala:\n> račun",
     "U redu.", "račun"),
    ("네 확인했습니다.\n\n2026년 3월 3일 (화) 오전 10:12, Mara <mara@studio.example>님이 작성:\n> 인보이스",
     "네 확인했습니다.", "인보이스"),
    ("సరే, చేయండి.\n\nమార్చి 3, 2026 10:12 AM న Mara <mara@studio.example> రాశారు:\n> invoice",
     "సరే, చేయండి.", "invoice"),
    ("Thanks.\n\n-----Original Message-----\nFrom: Mara\nSent: Tuesday\nSubject: x\n\nold text clown",
     "Thanks.", "clown"),
    ("See below, thoughts?\n\nFrom: Mara Horvat <mara@studio.example>\nSent: Tuesday, March 3, 2026 10:12 AM\n"
     "To: Ana\nSubject: Re: logo\n\nYou are a moron", "See below, thoughts?", "moron"),
    ("ok\n\n2026-03-03 10:12 GMT+01:00 Mara <mara@studio.example>:\n> old draft", "ok", "old draft"),
    ("Sounds good\n\nSent from my iPhone\n\n> On 3 Mar 2026, at 10:12, Mara wrote:\n> old", "Sounds good", "old"),
    # GroupWise: a ">>> name date >>>" header, then the earlier mail unmarked
    ("Apologies for my tone.\n\nHarold\n\n>>> Harold Grey 03/03/2026 19:12 >>>\nYou people are hopeless.",
     "Apologies for my tone.", "hopeless"),
    ("Agreed.\n\n>>> \"Mara Horvat\" <mara@studio.example> 3/3/2026 10:12 AM >>>\nold clown text", "Agreed.", "clown"),
    ("Answer inline:\n> Can you approve?\nYes, approved.\n> And the budget?\nFine.", "Yes, approved.", "Can you approve"),
]


@pytest.mark.parametrize("body,kept,dropped", QUOTED)
def test_quotes_and_signatures_are_removed(body: str, kept: str, dropped: str) -> None:
    text = client_text("Re: x", body)
    assert kept in text
    assert dropped not in text


def test_from_in_prose_is_not_a_quote_header() -> None:
    assert "the client we discussed" in strip_quotes("FYI.\nFrom: the client we discussed, nothing yet.\nThanks")


def test_html_remnants_urls_and_addresses_removed() -> None:
    text = client_text("", "Hi <b>there</b>&nbsp;&amp; see https://example.com/x?y=1 or mail ana@client.example now")
    assert "<b>" not in text and "&amp;" not in text and "https" not in text and "@" not in text
    assert "Hi there" in text and "& see" in text


def test_subject_prefixes_are_dropped_and_subject_kept() -> None:
    assert client_text("AW: Rechnung 12", "ok").splitlines() == ["rechnung 12", "ok"]


HEADER_LINES = [
    "On Tue, 3 Mar 2026 at 10:12, Mara Horvat <mara@studio.example> wrote:", "ON MONDAY ANA WROTE:",
    "Mara Horvat schrieb:", "Le 3 mars 2026, Mara a écrit :",
    "Il giorno 3 mar 2026, Mara ha scritto:", "Op 3 mrt. 2026, Mara schreef:", "Em 3 de mar., Mara escreveu:",
    "El lun, 3 mar 2026 a las 10:12, Mara escribió:", "Dana 3. 3. 2026. Mara je napisala:",
    "W dniu 3.03.2026 Mara napisał(a):", "Den 3 mars 2026 Mara skrev:", "Mara Horvat wrote:",
    "2026년 3월 3일 (화) 오전 10:12, Mara <mara@studio.example>님이 작성:", "보낸 사람: Mara", "발신: Mara",
    "మార్చి 3, 2026 10:12 AM న Mara రాశారు:", "-----Original Message-----", "---------- Forwarded message ---------",
    "-----Ursprüngliche Nachricht-----", "________________________________", ">>> Harold Grey 03/03/2026 19:12 >>>",
    "From: Mara Horvat <mara@studio.example>", "  Von: Mara", "De : Mara", "Od: Mara", "Från: Mara", "Fra: Mara",
]


@pytest.mark.parametrize("line", HEADER_LINES)
def test_header_lines_pass_the_quick_check(line: str) -> None:
    assert text._QUOTE_HEADER.match(line), line  # the pattern reads it as a header...
    assert text._could_be_header(line)  # ...so the quick check must not rule it out


def test_quick_check_never_rules_out_a_header_in_the_corpus() -> None:
    """Every line of the corpus and blind set that the header pattern matches (and that holds a
    colon, a rule or ">>>", as the line scan always required) passes the quick check."""
    lines = [line for path in (CORPUS_DIR.glob("*.jsonl"), EVAL_DIR.glob("*.jsonl")) for f in path
             for row in load_jsonl(f) for line in str(row["text"]).split("\n")]
    marked = [line for line in lines if any(m in line for m in (":", "：", "--", "__", ">>>"))]
    headers = [line for line in marked if text._QUOTE_HEADER.match(line)]
    assert len(headers) > 100  # the corpus quotes earlier mail in many formats
    assert all(text._could_be_header(line) for line in headers)
    assert sum(map(text._could_be_header, lines)) < len(lines) / 4  # and it rules most lines out


@pytest.mark.parametrize("body,suspect", [
    ("ok\n2026-03-03 10:12 GMT+01:00 Mara <mara@studio.example>:", True), ("see x@y.hr:  \t", True),
    ("Agenda for 10:30:", True), ("Here is the plan:", False), ("Time 10:30, fine", False), ("1:", True), ("Note:\n", False),
    ("", False)])
def test_suspect_attribution(body: str, suspect: bool) -> None:
    assert text._suspect(body) is suspect
