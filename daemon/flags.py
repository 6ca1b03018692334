"""Per-client flags (SPEC "Flags"): which rules fire, why, and on what evidence."""
from __future__ import annotations

from dataclasses import dataclass

from .config import Thresholds
from .metrics import ClientMetrics


@dataclass(frozen=True)
class Flag:
    kind: str                 # abusive | controlling | stalling
    reasons: tuple[str, ...]  # tone | chasers | latency | unanswered
    evidence: tuple[str, ...]  # Message-IDs

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "reasons": list(self.reasons), "evidence": list(self.evidence)}


def evaluate(m: ClientMetrics, t: Thresholds) -> list[Flag]:
    """The flags a client's metrics raise under thresholds ``t``, in a fixed order."""
    flags: list[Flag] = []
    abusive = m.tone.get("abusive", 0)
    if abusive >= t.abusive_min_messages and abusive > 0:
        flags.append(Flag("abusive", ("tone",), tuple(m.tone_evidence.get("abusive", []))))

    reasons, evidence = [], []
    controlling = m.tone.get("controlling", 0)
    if controlling and controlling >= t.controlling_min_messages and m.from_client \
            and controlling / m.from_client >= t.controlling_min_share:
        reasons.append("tone")
        evidence += m.tone_evidence.get("controlling", [])
    if m.chasers and m.chasers >= t.chasers_min:
        reasons.append("chasers")
        evidence += m.chaser_evidence
    if reasons:
        flags.append(Flag("controlling", tuple(reasons), tuple(dict.fromkeys(evidence))))

    reasons, evidence = [], []
    stalling = m.tone.get("stalling", 0)
    if stalling and stalling >= t.stalling_min_messages:
        reasons.append("tone")
        evidence += m.tone_evidence.get("stalling", [])
    if m.latency.samples and m.latency.samples >= t.latency_min_samples and m.latency.median is not None \
            and m.latency.median >= t.latency_median_days * 24:
        reasons.append("latency")
        # the slow replies are what triggered it (at least half the samples, since the median is slow)
        slow = t.latency_median_days * 24
        evidence += [mid for hours, mid in m.latency_evidence if hours >= slow]
    if m.unanswered and m.unanswered >= t.unanswered_min:
        reasons.append("unanswered")
        evidence += m.unanswered_evidence
    if reasons:
        flags.append(Flag("stalling", tuple(reasons), tuple(dict.fromkeys(evidence))))
    return flags
