"""One poll cycle: sync IMAP, classify new client mail, measure, flag, queue and send alerts."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .analysis import ClientReport, ToneClassifier, analyze, classify_pending
from .config import Config
from .mailbox import NETWORK_ERRORS, Syncer, _quiet_logout, connect
from .errors import ImapError
from .store import Store

if TYPE_CHECKING:
    from .alerts import Notifier

log = logging.getLogger(__name__)
REANALYSE_SECONDS = 3600


@dataclass
class CycleResult:
    new_messages: int = 0
    bad_messages: int = 0
    classified: int = 0
    alerts_queued: int = 0
    alerts_sent: int = 0
    seconds: float = 0.0
    reports: list[ClientReport] = field(default_factory=list)
    analysed: bool = False

    def summary(self) -> str:
        return (f"{self.new_messages} new, {self.bad_messages} malformed, {self.classified} classified, "
                f"{self.alerts_queued} alert(s) queued, {self.alerts_sent} sent in {self.seconds:.2f} s")


def sync_mail(config: Config, store: Store, stop: threading.Event | None = None) -> tuple[int, int]:
    """Connect, sync every watched folder, log out. Network failures become ``ImapError``."""
    assert config.imap is not None
    client = connect(config.imap)
    try:
        result = Syncer(config.imap, store, stop).sync(client)
    except NETWORK_ERRORS as e:
        raise ImapError(f"IMAP {config.imap.host}: connection lost during sync ({e}); "
                        "what was committed is kept, the next cycle resumes") from e
    finally:
        _quiet_logout(client)
    return result.new, result.bad


def run_cycle(config: Config, store: Store, model: ToneClassifier | None, notifier: "Notifier | None" = None,
              stop: threading.Event | None = None, now: datetime | None = None, force: bool = False) -> CycleResult:
    """Run one cycle. Analysis is skipped when nothing changed (a cheap poll), unless ``force``."""
    started = time.monotonic()
    result = CycleResult()
    try:
        result.new_messages, result.bad_messages = sync_mail(config, store, stop)
        # time alone changes unanswered runs and the window, so re-analyse at least hourly
        stale = time.time() - float(store.get_meta("analysed_at") or 0) > REANALYSE_SECONDS
        needs_analysis = force or result.new_messages > 0 or stale
        if model is not None and store.get_meta("tone_model") != model.model_id:
            needs_analysis = True
        if needs_analysis:
            result.classified = classify_pending(store, config, model, now)
            result.reports = analyze(store, config, now or datetime.now(timezone.utc))
            result.analysed = True
            if notifier is not None:
                result.alerts_queued = notifier.queue_for(result.reports, store)
            store.set_meta("analysed_at", str(time.time()))
            if model is not None:
                store.set_meta("tone_model", model.model_id)
    finally:
        # alerts already queued are sent even when this cycle's sync failed
        if notifier is not None:
            result.alerts_sent = notifier.flush(store)
        result.seconds = time.monotonic() - started
    return result
