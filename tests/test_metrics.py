"""Per-client metrics exactly as SPEC defines them, and the sample mailbox's ground truth.

``assert_matches_ground_truth`` is the exact-metric check that the IMAP and import tests
(test_ingest_e2e.py, test_importer.py) run against ``samples.generate``.
"""
from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta, timezone
from typing import Sequence

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientwatch import samples
from clientwatch.analysis import ClientReport
from clientwatch.config import MeConfig, Thresholds
from clientwatch.identity import ROLE_CLIENT, ROLE_ME, ClientMessages
from clientwatch.metrics import business_seconds, is_working_time, measure, percentile
from clientwatch.records import Message

ZAGREB = zoneinfo.ZoneInfo("Europe/Zagreb")
ME_CFG = MeConfig(("me@studio.example",), ZAGREB, time(9), time(18), frozenset(range(5)))
NOW = datetime(2026, 3, 20, 12, tzinfo=timezone.utc)  # a Friday


def linear(values: Sequence[float], q: float) -> float | None:
    """An independent linear-interpolation percentile (numpy's default), for expected values."""
    return float(numpy.percentile(list(values), q)) if values else None


def assert_matches_ground_truth(box: samples.SampleMailbox, reports: list[ClientReport]) -> None:
    """Every client of the sample, and nobody else, with exactly the generator's figures."""
    got = {r.metrics.name: r.metrics for r in reports}
    assert sorted(got) == sorted(box.expected), "automated mail or the colleague became a client, or one is missing"
    for name, e in box.expected.items():
        m = got[name]
        where = f"client {name!r}"
        assert set(m.addresses) == e.addresses, where
        assert (m.from_client, m.to_client) == (e.from_client, e.to_client), where
        # wall clock: the same whole-second instants on both sides, so exact equality
        assert sorted(h for h, _ in m.latency_evidence) == sorted(e.latency_hours), where
        assert m.latency.samples == len(e.latency_hours), where
        assert m.latency.median == linear(e.latency_hours, 50), where
        assert m.latency.p90 == pytest.approx(linear(e.latency_hours, 90), rel=1e-12, abs=1e-12), where
        # business hours: the generator counts minute by minute, so within a minute
        assert m.latency_business.samples == len(e.business_hours), where
        for ours, theirs in ((m.latency_business.median, linear(e.business_hours, 50)),
                             (m.latency_business.p90, linear(e.business_hours, 90))):
            assert (ours is None) == (theirs is None), where
            if ours is not None:
                assert abs(ours - theirs) <= 1 / 60, (where, ours, theirs)
        assert m.unanswered == e.unanswered, where
        assert m.chasers == e.chasers, where
        assert m.off_hours_share == pytest.approx(e.off_hours / e.from_client), where


# --- percentile and working time ---------------------------------------------------------
@pytest.mark.parametrize("values", [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0], [0.5, 10.0, 2.25, 7.0, 7.0, 100.0], list(range(11))])
def test_percentile_is_linear_interpolation(values: list[float]) -> None:
    for q in (0, 10, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(linear(values, q))
    assert percentile([], 50) is None


def test_is_working_time_uses_my_time_zone_and_days() -> None:
    assert is_working_time(datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), ME_CFG)       # Mon 09:00 Zagreb
    assert not is_working_time(datetime(2026, 3, 2, 7, 59, tzinfo=timezone.utc), ME_CFG)  # Mon 08:59
    assert not is_working_time(datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc), ME_CFG)  # Mon 18:00
    assert not is_working_time(datetime(2026, 3, 7, 10, 0, tzinfo=timezone.utc), ME_CFG)  # Saturday
    assert is_working_time(datetime(2026, 7, 6, 7, 0, tzinfo=timezone.utc), ME_CFG)       # Mon 09:00 CEST


def brute_force_minutes(start: datetime, end: datetime, me: MeConfig) -> int:
    """Working minutes counted one by one (start and end on whole minutes)."""
    minutes, t = 0, start
    while t < end:
        minutes += is_working_time(t, me)
        t += timedelta(minutes=1)
    return minutes


@settings(max_examples=40, deadline=None)
@given(start_minute=st.integers(0, 365 * 24 * 60), length=st.integers(0, 6 * 24 * 60),
       hours=st.sampled_from([(time(9), time(18)), (time(1), time(4)), (time(0), time.max)]),
       days=st.sampled_from([frozenset(range(5)), frozenset({5, 6}), frozenset(range(7))]))
def test_business_time_equals_a_minute_by_minute_count(start_minute: int, length: int,
                                                       hours: tuple[time, time], days: frozenset[int]) -> None:
    """Including the DST changes (01:00-04:00 covers the missing and the doubled hour)."""
    me = MeConfig(("me@studio.example",), ZAGREB, hours[0], hours[1], days)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=start_minute)
    end = start + timedelta(minutes=length)
    assert business_seconds(start, end, me) == brute_force_minutes(start, end, me) * 60


def test_business_time_over_the_dst_changes() -> None:
    night = MeConfig(("me@studio.example",), ZAGREB, time(1), time(4), frozenset(range(7)))
    spring = datetime(2026, 3, 28, 12, tzinfo=timezone.utc)  # Zagreb skips 02:00-03:00 on 29 March
    assert business_seconds(spring, spring + timedelta(days=1), night) == 2 * 3600
    autumn = datetime(2026, 10, 24, 12, tzinfo=timezone.utc)  # and lives 02:00-03:00 twice on 25 October
    assert business_seconds(autumn, autumn + timedelta(days=1), night) == 4 * 3600
    friday_5pm = datetime(2026, 3, 6, 16, tzinfo=timezone.utc)  # 17:00 in Zagreb
    assert business_seconds(friday_5pm, friday_5pm + timedelta(days=3), ME_CFG) == (1 + 8) * 3600  # Fri 17-18, Mon 9-17
    assert business_seconds(friday_5pm, friday_5pm, ME_CFG) == 0
    assert business_seconds(friday_5pm, friday_5pm - timedelta(hours=1), ME_CFG) == 0


# --- runs, unanswered, chasers, off hours -------------------------------------------------
def thread(*steps: tuple[str, float], subject: str = "Logo", start: datetime | None = None) -> list[tuple[Message, str]]:
    """(role, hours since the thread's start) -> linked messages of one thread."""
    start = start or datetime(2026, 3, 2, 8, tzinfo=timezone.utc)  # Monday 09:00 in Zagreb
    out: list[tuple[Message, str]] = []
    for n, (role, hours) in enumerate(steps):
        mid = f"<{subject}.{n}@x>"
        sender = "me@studio.example" if role == ROLE_ME else "ana@acme.example"
        to = ("ana@acme.example",) if role == ROLE_ME else ("me@studio.example",)
        parent = (out[-1][0].message_id,) if out else ()
        out.append((Message(mid, start + timedelta(hours=hours), sender, "", to, (), subject, parent, parent, "", False),
                    role))
    return out


def run(*threads: list[tuple[Message, str]], thresholds: Thresholds = Thresholds(), now: datetime = NOW):
    items = [item for t in threads for item in t]
    return measure(ClientMessages("acme.example", {"ana@acme.example"}, items), ME_CFG, thresholds, now)


def test_a_run_of_my_messages_gives_one_sample_from_its_first_message() -> None:
    m = run(thread((ROLE_ME, 0), (ROLE_ME, 2), (ROLE_ME, 3), (ROLE_CLIENT, 5), (ROLE_ME, 6), (ROLE_CLIENT, 10)))
    assert sorted(h for h, _ in m.latency_evidence) == [4.0, 5.0]
    assert (m.latency.samples, m.latency.median) == (2, 4.5)
    # Monday in Zagreb: 09:00 -> 14:00 is 5 working hours; 15:00 -> 19:00 only 3 (work ends at 18:00)
    assert m.latency_business.median == 4.0
    assert m.latency_business.p90 == pytest.approx(linear([5.0, 3.0], 90))
    assert (m.from_client, m.to_client, m.unanswered, m.chasers) == (2, 4, 0, 0)


def test_unanswered_runs_count_once_and_only_when_old_enough() -> None:
    old = thread((ROLE_CLIENT, 0), (ROLE_ME, 1), (ROLE_ME, 30), subject="A",
                 start=NOW - timedelta(days=10))          # my run started 10 days ago: unanswered, once
    fresh = thread((ROLE_ME, 0), subject="B", start=NOW - timedelta(days=4))    # younger than 5 days
    answered = thread((ROLE_ME, 0), (ROLE_CLIENT, 1), subject="C", start=NOW - timedelta(days=20))
    m = run(old, fresh, answered)
    assert m.unanswered == 1 and m.unanswered_evidence == ["<A.1@x>"]
    assert run(old, thresholds=Thresholds(unanswered_after_days=11)).unanswered == 0


def test_chasers_follow_a_client_message_within_the_window_with_nothing_from_me_between() -> None:
    m = run(thread((ROLE_CLIENT, 0), (ROLE_CLIENT, 2), (ROLE_CLIENT, 25), (ROLE_CLIENT, 50), (ROLE_ME, 51),
                   (ROLE_CLIENT, 52), (ROLE_CLIENT, 80)))
    # 2 h after: chaser; 25 h: 23 h after the previous: chaser; 50 h: 25 h: not; after my reply: a sample;
    # 80 h: 28 h after the previous client message: not
    assert m.chasers == 2 and m.chaser_evidence == ["<Logo.1@x>", "<Logo.2@x>"]
    assert m.latency.samples == 1
    assert run(thread((ROLE_CLIENT, 0), (ROLE_CLIENT, 30)), thresholds=Thresholds(chaser_window_hours=48)).chasers == 1


def test_off_hours_share_counts_client_messages_only() -> None:
    monday_9 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    m = run(thread((ROLE_CLIENT, 0), (ROLE_CLIENT, 12), (ROLE_ME, 13), (ROLE_CLIENT, 24 * 5), start=monday_9))
    # Mon 09:00 (in), Mon 21:00 (out), Sat 09:00 (out); my 22:00 message does not count
    assert m.off_hours_share == pytest.approx(2 / 3)
    assert run(thread((ROLE_ME, 0))).off_hours_share is None


def test_messages_outside_the_window_are_ignored() -> None:
    t = thread((ROLE_ME, 0), (ROLE_CLIENT, 5), start=NOW - timedelta(days=91))
    m = run(t)
    assert (m.from_client, m.to_client, m.latency.samples) == (0, 0, 0)
    assert run(t, thresholds=Thresholds(window_days=120)).latency.samples == 1


def test_the_sample_generator_ground_truth_is_self_consistent() -> None:
    """Guards the oracle itself: figures the SPEC's default thresholds make flags from."""
    box = samples.generate(datetime(2026, 3, 18, 15, tzinfo=timezone.utc))
    assert box.expected["Kowalski Bakery"].unanswered == 3
    assert box.expected["brightside.example"].chasers >= 3
    assert all(len(e.business_hours) == len(e.latency_hours) for e in box.expected.values())
    # whole seconds, as the Date header can carry them
    assert all(abs(h * 3600 - round(h * 3600)) < 1e-6 for e in box.expected.values() for h in e.latency_hours)
