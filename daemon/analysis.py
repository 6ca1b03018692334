"""From stored messages to per-client metrics, tone counts and flags."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, Sequence

from .config import Config
from .flags import Flag, evaluate
from .identity import ROLE_CLIENT, Identity
from .metrics import ClientMetrics, measure
from .records import Message, Tone
from .store import Store

log = logging.getLogger(__name__)


class ToneClassifier(Protocol):
    """The seam the tone model plugs into (``clientwatch.tone.ToneModel``)."""

    model_id: str

    def predict_messages(self, items: Sequence[tuple[str, str]]) -> list[Tone]:
        """Classify ``(subject, body)`` pairs of raw client mail (quotes not yet stripped)."""
        ...


@dataclass
class ClientReport:
    metrics: ClientMetrics
    flags: list[Flag]


def client_messages(config: Config, messages: list[Message]) -> dict[str, list[Message]]:
    """Messages written by each client (their own mail only: never mine, never automated)."""
    identity = Identity(config.me, config.clients, config.discovery_auto)
    return {name: [m for m, role in c.messages if role == ROLE_CLIENT]
            for name, c in identity.group(messages).items()}


def classify_pending(store: Store, config: Config, model: ToneClassifier | None, now: datetime | None = None,
                     batch: int = 256) -> int:
    """Classify every client message in the window that this model has not classified yet."""
    if model is None:
        return 0
    now = now or datetime.now(timezone.utc)
    messages = store.messages(since=now - timedelta(days=config.thresholds.window_days))
    ids = [m.message_id for msgs in client_messages(config, messages).values() for m in msgs]
    pending = store.unclassified(model.model_id, ids)
    for i in range(0, len(pending), batch):
        chunk = pending[i:i + batch]
        tones = model.predict_messages([(subject, body) for _, subject, body in chunk])
        store.set_tones(model.model_id, [(mid, t.label, t.scores) for (mid, _, _), t in zip(chunk, tones)])
    if pending:
        log.info("classified the tone of %d client message(s)", len(pending))
    return len(pending)


def analyze(store: Store, config: Config, now: datetime | None = None) -> list[ClientReport]:
    """Metrics and flags for every client with mail in the window, sorted by name."""
    now = now or datetime.now(timezone.utc)
    messages = store.messages(since=now - timedelta(days=config.thresholds.window_days))
    identity = Identity(config.me, config.clients, config.discovery_auto)
    tones = store.tones()
    reports = []
    for name, client in sorted(identity.group(messages).items()):
        metrics = measure(client, config.me, config.thresholds, now, tones)
        reports.append(ClientReport(metrics, evaluate(metrics, config.thresholds)))
    return reports
