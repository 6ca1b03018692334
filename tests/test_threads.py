from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clientwatch.records import Message
from clientwatch.threads import build_threads, normalize_subject


@pytest.mark.parametrize("subject", [
    "Re: Invoice 12", "RE: Invoice 12", "Fwd: Invoice 12", "FW: Invoice 12", "AW: Invoice 12", "WG: Invoice 12",
    "SV: Invoice 12", "VS: Invoice 12", "Odp: Invoice 12", "Re[2]: Invoice 12", "RE (3): Invoice 12",
    "Re: Re: AW: Invoice 12", "RV: Invoice 12", "TR: Invoice 12", "Odg: Invoice 12", "답장: Invoice 12",
    "회신: Invoice 12", "전달: Invoice 12", "回复：Invoice 12", "[EXTERNAL] Re: Invoice 12", "  re:invoice   12 ",
])
def test_normalize_subject_strips_prefixes_in_many_languages(subject: str) -> None:
    assert normalize_subject(subject) == "invoice 12"


def test_normalize_keeps_words_that_merely_start_like_prefixes() -> None:
    assert normalize_subject("Reminder: payment") == "reminder: payment"
    assert normalize_subject("Award ceremony") == "award ceremony"


T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def msg(mid: str, hours: float, subject: str = "Logo", irt: str | None = None, refs: tuple[str, ...] = ()) -> Message:
    return Message(mid, T0 + timedelta(hours=hours), "a@x.example", "", (), (), subject,
                   (irt,) if irt else (), refs, "", False)


def ids(threads: list[list[tuple[Message, str]]]) -> list[list[str]]:
    return sorted([[m.message_id for m, _ in t] for t in threads])


def test_links_then_subject_fallback() -> None:
    items = [(msg("<1>", 0, "Logo"), "me"), (msg("<2>", 5, "Re: Logo", irt="<1>"), "client"),
             (msg("<3>", 9, "RE: logo"), "client"),                 # no links: joins by subject
             (msg("<4>", 10, "Invoice"), "me"),
             (msg("<5>", 11, "Re: Something else", refs=("<4>",)), "client")]  # linked despite subject
    assert ids(build_threads(items)) == [["<1>", "<2>", "<3>"], ["<4>", "<5>"]]


def test_unresolvable_reference_falls_back_to_subject_and_order_is_by_date() -> None:
    items = [(msg("<b>", 3, "Re: Plan", irt="<gone>"), "client"), (msg("<a>", 1, "Plan"), "me")]
    threads = build_threads(items)
    assert ids(threads) == [["<a>", "<b>"]]


def test_empty_subjects_do_not_merge() -> None:
    items = [(msg("<1>", 0, ""), "client"), (msg("<2>", 1, "Re: "), "client")]
    assert len(build_threads(items)) == 2
