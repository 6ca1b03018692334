"""Flag rules (SPEC "Flags"): every rule, its threshold boundary, reasons and evidence.

Pure logic: metrics are built by hand, so each test names exactly the figure that
decides the rule.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from clientwatch.config import Thresholds, parse_config
from clientwatch.flags import Flag, evaluate
from clientwatch.metrics import ClientMetrics, stats

DEFAULT = Thresholds()


def metrics(from_client: int = 10, tone: dict[str, int] | None = None, chasers: int = 0,
            latencies: list[float] | None = None, unanswered: int = 0) -> ClientMetrics:
    """A client's metrics with evidence ids that say where they come from."""
    counts = {"abusive": 0, "controlling": 0, "stalling": 0, "neutral": 0, **(tone or {})}
    counts["neutral"] = max(0, from_client - counts["abusive"] - counts["controlling"] - counts["stalling"])
    latencies = latencies or []
    return ClientMetrics(
        name="Acme Ltd", addresses=["boss@acme.example"], from_client=from_client, to_client=5,
        latency=stats(latencies), latency_business=stats(latencies), unanswered=unanswered, chasers=chasers,
        off_hours_share=0.0, tone=counts,
        tone_evidence={label: [f"<{label}{i}@acme.example>" for i in range(n)] for label, n in counts.items()},
        chaser_evidence=[f"<chaser{i}@acme.example>" for i in range(chasers)],
        latency_evidence=sorted(((h, f"<reply{i}@acme.example>") for i, h in enumerate(latencies)), reverse=True),
        unanswered_evidence=[f"<mine{i}@me.example>" for i in range(unanswered)])


def kinds(flags: list[Flag]) -> list[str]:
    return [f.kind for f in flags]


def only(flags: list[Flag], kind: str) -> Flag:
    found = [f for f in flags if f.kind == kind]
    assert len(found) == 1, flags
    return found[0]


# --- abusive -----------------------------------------------------------------------------
def test_a_single_abusive_message_is_enough() -> None:
    flag = only(evaluate(metrics(tone={"abusive": 1}), DEFAULT), "abusive")
    assert flag.reasons == ("tone",)
    assert flag.evidence == ("<abusive0@acme.example>",)


def test_no_abusive_message_no_abusive_flag() -> None:
    assert evaluate(metrics(), DEFAULT) == []


def test_abusive_threshold_is_configurable() -> None:
    t = replace(DEFAULT, abusive_min_messages=2)
    assert "abusive" not in kinds(evaluate(metrics(tone={"abusive": 1}), t))
    flag = only(evaluate(metrics(tone={"abusive": 2}), t), "abusive")
    assert flag.evidence == ("<abusive0@acme.example>", "<abusive1@acme.example>")


# --- controlling -------------------------------------------------------------------------
@pytest.mark.parametrize("count, from_client, flagged", [
    (3, 12, True),    # 3 messages, exactly 25 %
    (3, 13, False),   # 3 messages, 23 %: the share is too small
    (2, 2, False),    # 100 %, but only 2 messages
    (4, 10, True),
])
def test_controlling_by_tone_needs_count_and_share(count: int, from_client: int, flagged: bool) -> None:
    flags = evaluate(metrics(from_client=from_client, tone={"controlling": count}), DEFAULT)
    assert ("controlling" in kinds(flags)) is flagged
    if flagged:
        flag = only(flags, "controlling")
        assert flag.reasons == ("tone",)
        assert flag.evidence == tuple(f"<controlling{i}@acme.example>" for i in range(count))


@pytest.mark.parametrize("chasers, flagged", [(2, False), (3, True), (7, True)])
def test_controlling_by_chasers(chasers: int, flagged: bool) -> None:
    flags = evaluate(metrics(chasers=chasers), DEFAULT)
    assert ("controlling" in kinds(flags)) is flagged
    if flagged:
        flag = only(flags, "controlling")
        assert flag.reasons == ("chasers",)
        assert flag.evidence == tuple(f"<chaser{i}@acme.example>" for i in range(chasers))


def test_controlling_by_tone_and_chasers_lists_both_reasons_and_all_evidence() -> None:
    flag = only(evaluate(metrics(from_client=8, tone={"controlling": 3}, chasers=3), DEFAULT), "controlling")
    assert flag.reasons == ("tone", "chasers")
    assert set(flag.evidence) == {f"<controlling{i}@acme.example>" for i in range(3)} | \
        {f"<chaser{i}@acme.example>" for i in range(3)}
    assert len(flag.evidence) == len(set(flag.evidence))


def test_controlling_thresholds_are_configurable() -> None:
    t = replace(DEFAULT, controlling_min_messages=5, controlling_min_share=0.5, chasers_min=10)
    assert evaluate(metrics(from_client=10, tone={"controlling": 4}, chasers=9), t) == []
    assert "controlling" in kinds(evaluate(metrics(from_client=10, tone={"controlling": 5}), t))
    assert "controlling" not in kinds(evaluate(metrics(from_client=11, tone={"controlling": 5}), t))
    assert only(evaluate(metrics(chasers=10), t), "controlling").reasons == ("chasers",)


# --- stalling ----------------------------------------------------------------------------
@pytest.mark.parametrize("count, flagged", [(1, False), (2, True), (5, True)])
def test_stalling_by_tone(count: int, flagged: bool) -> None:
    flags = evaluate(metrics(tone={"stalling": count}), DEFAULT)
    assert ("stalling" in kinds(flags)) is flagged
    if flagged:
        assert only(flags, "stalling").reasons == ("tone",)


@pytest.mark.parametrize("latencies, flagged", [
    ([120.0, 120.0, 120.0], True),          # median exactly 5 days, 3 samples
    ([119.9, 119.9, 300.0], False),         # median just under 5 days
    ([200.0, 300.0], False),                # slow, but only 2 samples
    ([10.0, 130.0, 140.0, 400.0], True),    # median 135 h
    ([10.0, 20.0, 130.0, 400.0], False),    # median 75 h
])
def test_stalling_by_latency_needs_samples_and_median(latencies: list[float], flagged: bool) -> None:
    flags = evaluate(metrics(latencies=latencies), DEFAULT)
    assert ("stalling" in kinds(flags)) is flagged
    if flagged:
        assert only(flags, "stalling").reasons == ("latency",)


def test_latency_evidence_is_the_slow_replies_slowest_first() -> None:
    flag = only(evaluate(metrics(latencies=[10.0, 130.0, 140.0, 400.0]), DEFAULT), "stalling")
    # reply1 (130 h), reply2 (140 h), reply3 (400 h) are at least 5 days; reply0 (10 h) did not trigger it
    assert flag.evidence == ("<reply3@acme.example>", "<reply2@acme.example>", "<reply1@acme.example>")


@pytest.mark.parametrize("unanswered, flagged", [(2, False), (3, True)])
def test_stalling_by_unanswered(unanswered: int, flagged: bool) -> None:
    flags = evaluate(metrics(unanswered=unanswered), DEFAULT)
    assert ("stalling" in kinds(flags)) is flagged
    if flagged:
        flag = only(flags, "stalling")
        assert flag.reasons == ("unanswered",)
        assert flag.evidence == tuple(f"<mine{i}@me.example>" for i in range(unanswered))


def test_stalling_with_every_reason() -> None:
    flag = only(evaluate(metrics(tone={"stalling": 2}, latencies=[150.0, 160.0, 170.0], unanswered=3), DEFAULT),
                "stalling")
    assert flag.reasons == ("tone", "latency", "unanswered")
    assert flag.evidence[:2] == ("<stalling0@acme.example>", "<stalling1@acme.example>")
    assert set(flag.evidence[2:]) == {"<reply0@acme.example>", "<reply1@acme.example>", "<reply2@acme.example>",
                                      "<mine0@me.example>", "<mine1@me.example>", "<mine2@me.example>"}


def test_stalling_thresholds_are_configurable() -> None:
    t = replace(DEFAULT, stalling_min_messages=3, latency_min_samples=2, latency_median_days=1, unanswered_min=1)
    assert "stalling" not in kinds(evaluate(metrics(tone={"stalling": 2}), t))
    assert only(evaluate(metrics(latencies=[24.0, 30.0]), t), "stalling").reasons == ("latency",)
    assert only(evaluate(metrics(unanswered=1), t), "stalling").reasons == ("unanswered",)


# --- together ----------------------------------------------------------------------------
def test_flags_come_in_a_fixed_order_with_their_dict_shape() -> None:
    flags = evaluate(metrics(from_client=10, tone={"abusive": 1, "controlling": 3, "stalling": 2}), DEFAULT)
    assert kinds(flags) == ["abusive", "controlling", "stalling"]
    assert flags[0].as_dict() == {"kind": "abusive", "reasons": ["tone"], "evidence": ["<abusive0@acme.example>"]}


def test_zero_thresholds_do_not_flag_a_client_with_nothing_against_it() -> None:
    t = Thresholds(abusive_min_messages=0, controlling_min_messages=0, controlling_min_share=0, chasers_min=0,
                   stalling_min_messages=0, latency_min_samples=0, latency_median_days=0, unanswered_min=0)
    assert evaluate(metrics(from_client=4), t) == []


def test_a_client_without_any_mail_from_them_is_not_controlling() -> None:
    m = replace(metrics(), from_client=0, tone={"abusive": 0, "controlling": 0, "stalling": 0, "neutral": 0})
    assert evaluate(m, replace(DEFAULT, controlling_min_messages=0, controlling_min_share=0)) == []


def test_thresholds_from_the_config_file_drive_the_rules() -> None:
    data: dict[str, Any] = {
        "me": {"addresses": ["me@example.com"]},
        "thresholds": {"abusive_min_messages": 2, "controlling_min_messages": 4, "controlling_min_share": 0.5,
                       "chasers_min": 5, "stalling_min_messages": 3, "latency_min_samples": 4,
                       "latency_median_days": 2, "unanswered_min": 2},
    }
    t = parse_config(data, require_imap=False).thresholds
    assert (t.abusive_min_messages, t.chasers_min, t.latency_median_days, t.unanswered_min) == (2, 5, 2, 2)
    assert evaluate(metrics(tone={"abusive": 1}, chasers=4, unanswered=1, latencies=[50.0] * 3), t) == []
    flags = evaluate(metrics(from_client=8, tone={"abusive": 2, "controlling": 4}, chasers=5, unanswered=2,
                             latencies=[50.0] * 4), t)
    assert kinds(flags) == ["abusive", "controlling", "stalling"]
    assert only(flags, "controlling").reasons == ("tone", "chasers")
    assert only(flags, "stalling").reasons == ("latency", "unanswered")

