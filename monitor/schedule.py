"""Scheduling: the daemon's heartbeat (APScheduler 3).

One job, the tick, runs every few seconds: it polls the feeds whose next poll time (kept
in the database, so it survives restarts) has come, then delivers pending alerts.
SIGTERM and SIGINT only set a flag; the tick finishes the feed in hand and the daemon
exits cleanly, which is what systemd expects.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.config import Feed
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

    def tick(self) -> None:
        """Poll what is due, then deliver what is pending. Never raises."""
        started = time.monotonic()
        try:
            results = self.pipeline.poll_due(self.feeds, workers=self.workers, stop=self.stop)
            report = self.pipeline.deliver(stop=self.stop)
        except Exception:  # the daemon outlives any one tick's failure
            log.exception("tick failed; trying again next tick")
            return
        if results or report.sent or report.failed:
            log.debug(
                "tick: %d feeds polled, %d alerts sent, %d failed in %.2fs",
                len(results),
                report.sent,
                report.failed,
                time.monotonic() - started,
            )

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: finish the current feed, then exit."""
        log.info("received %s; stopping after the current feed", signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT."""
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            id="tick",
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
