"""Scheduling: the daemon's heartbeat (APScheduler 3).

Jobs run every few seconds: one polls the feeds whose next poll time (kept in the
database, so it survives restarts) has come; one per channel delivers that channel's
pending alerts, so a slow or dead channel never delays another; and each channel with a
digest schedule gets a cron job in its own time zone.
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

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.delivery.policy import parse_digest
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
            # New alerts go out now, not at the delivery jobs' next turn.
            for job in self.scheduler.get_jobs():
                if job.id.startswith("deliver:"):
                    job.modify(next_run_time=datetime.now(UTC))

    def deliver_tick(self, channel: str) -> None:
        """Send one channel's pending alerts. Never raises."""
        try:
            self.pipeline.delivery.deliver_channel(channel, stop=self.stop)
        except Exception:
            log.exception("channel=%s delivery tick failed; trying again next tick", channel)

    def digest_tick(self, channel: str) -> None:
        """Send one channel's scheduled digest. Never raises."""
        try:
            self.pipeline.send_digest(channel)
        except Exception:
            log.exception("channel=%s digest failed; the alerts wait for the next", channel)

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
        channels = self.pipeline.delivery.channel_names()
        policies = [self.pipeline.delivery.policy(c) for c in channels]
        digests = [p for p in policies if p.digest is not None]
        # A thread per job that may run at once: poll, each channel, each digest.
        self.scheduler = scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(2 + len(channels) + len(digests))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        # Polling and each channel's delivery are separate jobs: a slow channel must not
        # delay news or another channel, and a slow feed must not delay queued alerts.
        now = datetime.now(UTC)
        every = {"trigger": "interval", "seconds": self.tick_seconds, "next_run_time": now}
        scheduler.add_job(self.poll_tick, id="poll", **every)
        for channel in channels:
            scheduler.add_job(self.deliver_tick, args=[channel], id=f"deliver:{channel}", **every)
        for policy in digests:
            assert policy.digest is not None
            scheduler.add_job(
                self.digest_tick,
                parse_digest(policy.digest, policy.timezone),
                args=[policy.name],
                id=f"digest:{policy.name}",
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
