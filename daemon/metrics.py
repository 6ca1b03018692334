"""Per-client behaviour metrics, exactly as SPEC defines them: reply latency (wall clock
and business hours), unanswered runs, chasers and the off-hours share."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Sequence

from .config import MeConfig, Thresholds
from .identity import ROLE_CLIENT, ROLE_ME, ClientMessages
from .records import Message
from .threads import build_threads

LABELS = ("abusive", "controlling", "stalling", "neutral")


@dataclass(frozen=True)
class Stats:
    """Median, 90th percentile (linear interpolation) and count of latency samples, in hours."""

    median: float | None
    p90: float | None
    samples: int

    def as_dict(self) -> dict[str, float | int | None]:
        r = lambda v: None if v is None else round(v, 2)  # noqa: E731
        return {"median": r(self.median), "p90": r(self.p90), "samples": self.samples}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def stats(values: Sequence[float]) -> Stats:
    return Stats(percentile(values, 50), percentile(values, 90), len(values))


def is_working_time(moment: datetime, me: MeConfig) -> bool:
    """Whether ``moment`` falls inside my working hours and days, in my time zone."""
    local = moment.astimezone(me.timezone)
    return local.weekday() in me.working_days and me.work_start <= local.time().replace(tzinfo=None) < me.work_end


def business_seconds(start: datetime, end: datetime, me: MeConfig) -> float:
    """Seconds between two instants counted only inside my working hours and days."""
    if end <= start:
        return 0.0
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    tz = me.timezone
    day: date = start.astimezone(tz).date()
    last: date = end.astimezone(tz).date()
    total = 0.0
    while day <= last:
        if day.weekday() in me.working_days:
            # in UTC, so a DST change inside the window is counted in real elapsed time
            open_ = datetime.combine(day, me.work_start, tz).astimezone(timezone.utc)
            if me.work_end == time.max:  # "…-24:00" means up to midnight, not one microsecond before it
                close = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
            else:
                close = datetime.combine(day, me.work_end, tz).astimezone(timezone.utc)
            lo, hi = max(start, open_), min(end, close)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


@dataclass
class ClientMetrics:
    """Everything ``report`` shows for one client, and the evidence behind each figure."""

    name: str
    addresses: list[str]
    from_client: int
    to_client: int
    latency: Stats
    latency_business: Stats
    unanswered: int
    chasers: int
    off_hours_share: float | None
    tone: dict[str, int]
    client_message_ids: list[str] = field(default_factory=list)
    latency_evidence: list[tuple[float, str]] = field(default_factory=list)  # (hours, client reply id)
    unanswered_evidence: list[str] = field(default_factory=list)             # my first unanswered message
    chaser_evidence: list[str] = field(default_factory=list)
    tone_evidence: dict[str, list[str]] = field(default_factory=dict)
    last_message_at: datetime | None = None


def measure(client: ClientMessages, me: MeConfig, thresholds: Thresholds, now: datetime,
            tones: dict[str, tuple[str, dict[str, float]]] | None = None) -> ClientMetrics:
    """Compute one client's metrics over the window ending at ``now``."""
    since = now - timedelta(days=thresholds.window_days)
    items = [(m, role) for m, role in client.messages if m.date >= since]
    latencies: list[float] = []
    business: list[float] = []
    latency_evidence: list[tuple[float, str]] = []
    unanswered_ids: list[str] = []
    chaser_ids: list[str] = []
    unanswered_cutoff = now - timedelta(days=thresholds.unanswered_after_days)
    chaser_window = timedelta(hours=thresholds.chaser_window_hours)
    for thread in build_threads(items):
        run_start: Message | None = None
        previous: tuple[Message, str] | None = None
        for msg, role in thread:
            if role == ROLE_ME:
                if run_start is None:
                    run_start = msg
            elif role == ROLE_CLIENT:
                if run_start is not None:
                    hours = (msg.date - run_start.date).total_seconds() / 3600
                    latencies.append(hours)
                    business.append(business_seconds(run_start.date, msg.date, me) / 3600)
                    latency_evidence.append((hours, msg.message_id))
                    run_start = None
                elif previous is not None and previous[1] == ROLE_CLIENT and msg.date - previous[0].date <= chaser_window:
                    chaser_ids.append(msg.message_id)
            previous = (msg, role)
        if run_start is not None and run_start.date < unanswered_cutoff:
            unanswered_ids.append(run_start.message_id)
    from_client = [m for m, role in items if role == ROLE_CLIENT]
    to_client = [m for m, role in items if role == ROLE_ME]
    tone_counts = {label: 0 for label in LABELS}
    tone_evidence: dict[str, list[str]] = {label: [] for label in LABELS}
    tones = tones or {}
    for m in from_client:
        verdict = tones.get(m.message_id)
        if verdict and verdict[0] in tone_counts:
            tone_counts[verdict[0]] += 1
            tone_evidence[verdict[0]].append(m.message_id)
    off_hours = sum(1 for m in from_client if not is_working_time(m.date, me))
    latency_evidence.sort(reverse=True)
    all_dates = [m.date for m, _ in items]
    return ClientMetrics(
        name=client.name, addresses=sorted(client.addresses), from_client=len(from_client), to_client=len(to_client),
        latency=stats(latencies), latency_business=stats(business), unanswered=len(unanswered_ids),
        chasers=len(chaser_ids), off_hours_share=(off_hours / len(from_client)) if from_client else None,
        tone=tone_counts, client_message_ids=[m.message_id for m in from_client], latency_evidence=latency_evidence,
        unanswered_evidence=unanswered_ids, chaser_evidence=chaser_ids, tone_evidence=tone_evidence,
        last_message_at=max(all_dates) if all_dates else None)
