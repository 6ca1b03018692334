"""`clientwatch run`: the long-running service under APScheduler 3.x.

The poll job runs every ``poll_interval`` (one instance at a time, coalesced, with a misfire
grace as long as the interval); the digest job runs daily at ``digest_at`` in my time zone.
A failing cycle is logged and retried with jittered exponential backoff; the process stays
up. SIGTERM/SIGINT stop cleanly: the sync stops between batches (each batch is committed),
IMAP is logged out, and the exit code is 0.
"""
from __future__ import annotations

import logging
import random
import signal
import threading
from datetime import datetime, time as dtime, timedelta, timezone, tzinfo
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .alerts import DIGEST_LAST_RUN
from .config import Config
from .cycle import run_cycle
from .errors import ClientwatchError, ConfigError, MailError
from .sdnotify import Notifier as SdNotifier, watchdog_interval
from .store import Store

log = logging.getLogger(__name__)
BACKOFF_BASE = 15.0
BACKOFF_CAP = 3600.0


def last_digest_due(now: datetime, at: dtime, tz: tzinfo) -> datetime:
    """The most recent instant, at or before ``now``, when the daily digest was due."""
    local = now.astimezone(tz)
    due = datetime.combine(local.date(), at, tz)
    if due > local:
        due = datetime.combine(local.date() - timedelta(days=1), at, tz)
    return due


def digest_missed(last_run: float | None, now: datetime, at: dtime, tz: tzinfo) -> bool:
    """Whether the digest due last (see ``last_digest_due``) has not run: never, or before it was due."""
    return last_run is None or last_run < last_digest_due(now, at, tz).timestamp()


def backoff_delay(failures: int, interval: float, rng: random.Random | None = None) -> float:
    """Seconds until the retry after ``failures`` consecutive failed cycles (full jitter, capped)."""
    cap = max(interval, BACKOFF_CAP)
    base = min(cap, min(BACKOFF_BASE, interval) * 2 ** max(failures - 1, 0))
    return base * (0.5 + (rng or random).random() / 2)


class Service:
    """The scheduler, its two jobs, signal handling and systemd notifications."""

    def __init__(self, config: Config, model: Any | None) -> None:
        self.config, self.model = config, model
        self.stop = threading.Event()
        self.failures = 0
        self.sd = SdNotifier()
        self.sd_lock = threading.Lock()
        self.lock = threading.Lock()  # the poll and digest jobs never write the store at once
        self.exit_code = 0
        from .alerts import Notifier

        self.notifier = Notifier(config) if config.alerts else None
        self.scheduler = BackgroundScheduler(timezone=config.me.timezone,
                                             job_defaults={"coalesce": True, "max_instances": 1})

    def poll(self) -> None:
        """The poll job: one cycle, then the digest if a scheduled one was missed."""
        if self.stop.is_set():
            return
        self._cycle()
        if self.notifier is not None and not self.stop.is_set() and self._digest_missed():
            self.digest()

    def _cycle(self) -> None:
        with self.lock:
            try:
                with Store(self.config.storage_path) as store:
                    result = run_cycle(self.config, store, self.model, self.notifier, self.stop)
            except ConfigError as e:
                log.error("configuration error, stopping: %s", e)
                self.exit_code = e.exit_code
                self.stop.set()
                return
            except ClientwatchError as e:
                self._failed(e)
                return
            except Exception as e:  # a bug in one cycle must not take the service down
                log.exception("cycle failed unexpectedly")
                self._failed(e)
                return
        self.failures = 0
        log.info("cycle done: %s", result.summary())
        self._status(f"last cycle {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {result.summary()}")

    def _digest_missed(self) -> bool:
        """True when the last scheduled digest did not run (service stopped, machine asleep).

        The cron job alone would skip it (beyond its misfire grace) and leave the flags
        waiting a whole day; this check, after every cycle, sends it late instead. On the
        very first start there is no record yet, so the first digest follows the first cycle.
        """
        at, tz = self.config.schedule.digest_at, self.config.me.timezone
        try:
            with Store(self.config.storage_path) as store:
                last = store.get_meta(DIGEST_LAST_RUN)
        except ClientwatchError as e:
            log.warning("cannot read when the last digest ran: %s", e)
            return False
        if not digest_missed(float(last) if last else None, datetime.now(timezone.utc), at, tz):
            return False
        if last:
            due = last_digest_due(datetime.now(timezone.utc), at, tz)
            log.info("the digest due %s did not run (clientwatch was not running then): sending it now",
                     due.strftime("%Y-%m-%d %H:%M %Z"))
        else:
            log.info("no digest has run yet: sending the first one now")
        return True

    def _status(self, text: str) -> None:
        """STATUS= for `systemctl status`; none after STOPPING=1 (the lock orders the two)."""
        with self.sd_lock:
            if not self.stop.is_set():
                self.sd.status(text)

    def _failed(self, error: Exception) -> None:
        self.failures += 1
        delay = backoff_delay(self.failures, self.config.schedule.poll_interval)
        kind = "mail server" if isinstance(error, MailError) else "cycle"
        log.warning("%s failure %d in a row: %s; retrying in %.0f s", kind, self.failures, error, delay)
        self._status(f"failing ({self.failures}x): {error}; retry in {delay:.0f} s")
        if not self.stop.is_set():
            try:
                self.scheduler.modify_job("poll", next_run_time=datetime.now(timezone.utc) + timedelta(seconds=delay))
            except Exception:  # the job may be gone during shutdown
                pass

    def digest(self) -> None:
        if self.notifier is None or self.stop.is_set():
            return
        with self.lock:
            try:
                with Store(self.config.storage_path) as store:
                    queued = self.notifier.queue_digest(store)
                    sent = self.notifier.flush(store)
                log.info("digest: %d queued, %d alert(s) sent", queued, sent)
            except ClientwatchError as e:
                log.warning("digest failed, it stays pending: %s", e)

    def _signal(self, signum: int, _frame: Any) -> None:
        log.info("received %s: finishing the current batch and stopping", signal.Signals(signum).name)
        self.stop.set()

    def schedule(self) -> None:
        """Add the poll job (first run now) and the daily digest job (``digest_at``, my time zone)."""
        interval = self.config.schedule.poll_interval
        self.scheduler.add_job(self.poll, IntervalTrigger(seconds=interval), id="poll",
                               misfire_grace_time=max(1, int(interval)), next_run_time=datetime.now(timezone.utc))
        at = self.config.schedule.digest_at
        self.scheduler.add_job(self.digest, CronTrigger(hour=at.hour, minute=at.minute, timezone=self.config.me.timezone),
                               id="digest", misfire_grace_time=3600)

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        self.schedule()
        interval, at = self.config.schedule.poll_interval, self.config.schedule.digest_at
        self.scheduler.start()
        log.info("clientwatch running: polling every %.0f s, digest at %s %s", interval, at.strftime("%H:%M"),
                 self.config.me.timezone.key)
        self.sd.ready("started")
        ping = watchdog_interval()
        while not self.stop.wait(ping or 3600):
            if ping:
                self.sd.watchdog()
        with self.sd_lock:
            self.sd.stopping()
        log.info("stopping: waiting for the running job")
        self.scheduler.shutdown(wait=True)
        log.info("stopped")
        return self.exit_code
