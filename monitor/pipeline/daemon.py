"""Scheduling: the daemon's heartbeat (APScheduler 3).

Two jobs run every few seconds: one polls the feeds whose next poll time (kept in the
database, so it survives restarts) has come; the other delivers pending alerts.
SIGTERM and SIGINT only set a flag; the tick finishes the feed in hand and the daemon
exits cleanly, which is what systemd expects.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.models import Feed
from monitor.pipeline import Pipeline

log = logging.getLogger(__name__)


class Daemon:
    """Runs the pipeline on a schedule until told to stop."""

    def __init__(
        self, pipeline: Pipeline, feeds: Sequence[Feed], *, tick: float = 5.0, workers: int = 4
    ) -> None:
        self.pipeline = pipeline
        self.feeds = list(feeds)
        self.tick_seconds = tick
        self.workers = workers
        self.stop = threading.Event()
        self.scheduler: BackgroundScheduler | None = None

    def poll_tick(self) -> None:
        """Poll the feeds that are due. Never raises: the daemon outlives any one tick."""
        try:
            results = self.pipeline.poll_due(self.feeds, workers=self.workers, stop=self.stop)
        except Exception:
            log.exception("poll tick failed; trying again next tick")
            return
        if self.scheduler is not None and any(r.alerts for r in results):
            # New alerts go out now, not at the delivery job's next turn.
            self.scheduler.modify_job("deliver_tick", next_run_time=datetime.now(UTC))

    def deliver_tick(self) -> None:
        """Send pending alerts. Never raises."""
        try:
            self.pipeline.deliver(stop=self.stop)
        except Exception:
            log.exception("delivery tick failed; trying again next tick")

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: finish the current feed, then exit; a second signal exits now."""
        name = signal.Signals(signum).name
        if self.stop.is_set():
            log.warning("received %s again; exiting without waiting", name)
            os._exit(128 + signum)
        log.info("received %s; stopping after the current feed (again to force)", name)
        self.stop.set()

    def run(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT."""
        self.scheduler = scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        # Polling and delivery are separate jobs: a slow channel must not delay news, and a
        # slow feed must not delay alerts already queued.
        for job in (self.poll_tick, self.deliver_tick):
            scheduler.add_job(
                job,
                "interval",
                seconds=self.tick_seconds,
                id=job.__name__,
                next_run_time=datetime.now(UTC),
            )
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        log.info(
            "monitor running: %d feeds, tick every %gs, %d workers",
            len(self.feeds),
            self.tick_seconds,
            self.workers,
        )
        scheduler.start()
        try:
            while not self.stop.wait(timeout=1.0):
                pass
        finally:
            scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("monitor stopped")
