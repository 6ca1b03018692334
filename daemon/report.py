"""Render per-client metrics and flags as a table, JSON (SPEC shape) or CSV."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

from .analysis import ClientReport
from .metrics import LABELS
from .store import AlertStore, Store


def client_dict(r: ClientReport) -> dict[str, Any]:
    m = r.metrics
    return {
        "name": m.name, "addresses": m.addresses,
        "messages": {"from_client": m.from_client, "to_client": m.to_client},
        "reply_latency_hours": m.latency.as_dict(),
        "reply_latency_business_hours": m.latency_business.as_dict(),
        "unanswered": m.unanswered, "chasers": m.chasers,
        "off_hours_share": None if m.off_hours_share is None else round(m.off_hours_share, 3),
        "tone": dict(m.tone),
        "flags": [f.as_dict() for f in r.flags],
    }


def alerts_summary(store: Store) -> dict[str, Any]:
    """The outbox as ``report`` shows it: how many alerts wait to be sent, and which were refused for good."""
    try:
        alerts = AlertStore(store)
        pending = alerts.pending_count()
        failed = alerts.failed()
    except sqlite3.Error:  # a store from before the outbox existed: nothing queued, nothing failed
        return {"pending": 0, "failed": []}
    return {"pending": pending,
            "failed": [{"message_id": r["message_id"], "kind": r["kind"], "client": r["client"],
                        "attempts": r["attempts"], "error": r["last_error"]} for r in failed]}


def alerts_lines(summary: dict[str, Any]) -> list[str]:
    """Short lines under the table; nothing when every alert was delivered."""
    lines = []
    if summary["pending"]:
        lines.append(f"alerts: {summary['pending']} queued, not sent yet (the mail server was unavailable; "
                     "they are retried)")
    for f in summary["failed"]:
        lines.append(f"alerts: FAILED {f['kind']} alert for {_clip(f['client'], 40)} was refused by the mail server "
                     f"({_clip(str(f['error'] or '?'), 80)}); check [alerts]")
    return lines


def to_json(reports: list[ClientReport], window_days: int, extra: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {"generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "window_days": window_days, "clients": [client_dict(r) for r in reports]}
    doc.update(extra or {})
    return json.dumps(doc, indent=2, ensure_ascii=False)


CSV_COLUMNS = ["name", "addresses", "from_client", "to_client", "latency_median_h", "latency_p90_h",
               "latency_samples", "business_median_h", "business_p90_h", "unanswered", "chasers",
               "off_hours_share", *(f"tone_{label}" for label in LABELS), "flags"]


def _row(r: ClientReport) -> list[Any]:
    d = client_dict(r)
    lat, biz = d["reply_latency_hours"], d["reply_latency_business_hours"]
    return [d["name"], " ".join(d["addresses"]), d["messages"]["from_client"], d["messages"]["to_client"],
            lat["median"], lat["p90"], lat["samples"], biz["median"], biz["p90"], d["unanswered"], d["chasers"],
            d["off_hours_share"], *(d["tone"][label] for label in LABELS),
            " ".join(f"{f['kind']}({','.join(f['reasons'])})" for f in d["flags"])]


def to_csv(reports: list[ClientReport]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        writer.writerow(["" if v is None else v for v in _row(r)])
    return out.getvalue()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def to_table(reports: list[ClientReport], alerts: dict[str, Any] | None = None) -> str:
    """A fixed-width table for a terminal: one line per client, flags last; then the outbox's problems."""
    headers = ["client", "from", "to", "lat.med h", "lat.p90 h", "biz.med h", "n", "unans", "chase", "off%",
               "abu", "ctl", "stl", "neu", "flags"]
    rows = []
    for r in reports:
        m = r.metrics
        rows.append([_clip(m.name, 32), m.from_client, m.to_client, m.latency.median, m.latency.p90,
                     m.latency_business.median, m.latency.samples, m.unanswered, m.chasers,
                     None if m.off_hours_share is None else round(100 * m.off_hours_share),
                     *(m.tone[label] for label in LABELS),
                     ", ".join(f"{f.kind} ({'+'.join(f.reasons)})" for f in r.flags) or "-"])
    cells = [headers] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i in (0, len(row) - 1) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(no clients with mail in the window)")
    if alerts:
        extra = alerts_lines(alerts)
        if extra:
            lines += ["", *extra]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
