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
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.delivery.policy import parse_digest
from monitor.models import Feed
from monitor.pipeline import Pipeline, systemd

log = logging.getLogger(__name__)


class Daemon:
    """Runs the pipeline on a schedule until told to stop."""

    def __init__(
        self,
        pipeline: Pipeline,
        feeds: Sequence[Feed],
        *,
        tick: float = 5.0,
        workers: int = 4,
        reload: Callable[[], Sequence[Feed] | None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.feeds = list(feeds)
        self.tick_seconds = tick
        self.workers = workers
        # Reads and applies the configuration again: the new feeds, or None when refused.
        self.reload_config = reload
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
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

    def _schedule_channels(self, scheduler: BackgroundScheduler) -> None:
        """A delivery job for every channel and a digest job for each with a schedule;
        at a reload, jobs are replaced to match the new configuration."""
        wanted: set[str] = set()
        every = {"trigger": "interval", "seconds": self.tick_seconds}
        for channel in self.pipeline.delivery.channel_names():
            job_id = f"deliver:{channel}"
            wanted.add(job_id)
            if scheduler.get_job(job_id) is None:
                scheduler.add_job(
                    self.deliver_tick,
                    args=[channel],
                    id=job_id,
                    next_run_time=datetime.now(UTC),
                    **every,
                )
            policy = self.pipeline.delivery.policy(channel)
            if policy.digest is not None:
                digest_id = f"digest:{channel}"
                wanted.add(digest_id)
                scheduler.add_job(
                    self.digest_tick,
                    parse_digest(policy.digest, policy.timezone),
                    args=[channel],
                    id=digest_id,
                    replace_existing=True,
                )
        for job in scheduler.get_jobs():
            if job.id != "poll" and job.id not in wanted:
                job.remove()

    def request_reload(self, _signum: int, _frame: FrameType | None = None) -> None:
        """SIGHUP: reload the configuration at the next beat (a handler only sets a flag)."""
        self.reload_requested.set()

    def reload(self) -> None:
        """Apply a new configuration, or keep the running one in full when it is refused.
        Never raises."""
        if self.reload_config is None:
            log.warning("received SIGHUP, but this daemon was started without a config to reload")
            return
        systemd.reloading()
        try:
            feeds = self.reload_config()
        except Exception:
            log.exception("reload failed; still running the previous configuration")
            feeds = None
        if feeds is None:
            systemd.ready("reload refused; running the previous configuration")
            return
        self.feeds = list(feeds)
        if self.scheduler is not None:
            self._schedule_channels(self.scheduler)
        systemd.ready(f"reloaded: {len(self.feeds)} feeds")

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: finish the current feed, then exit; a second signal exits now."""
        name = signal.Signals(signum).name
        if self.stop.is_set():
            log.warning("received %s again; exiting without waiting", name)
            os._exit(128 + signum)
        log.info("received %s; stopping after the current feed (again to force)", name)
        systemd.stopping()
        self.stop.set()

    def run(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT."""
        channels = self.pipeline.delivery.channel_names()
        # A thread per job that may run at once: poll, each channel, each digest, and room
        # for channels a reload adds.
        self.scheduler = scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(8 + 2 * len(channels))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        # Polling and each channel's delivery are separate jobs: a slow channel must not
        # delay news or another channel, and a slow feed must not delay queued alerts.
        scheduler.add_job(
            self.poll_tick,
            "interval",
            seconds=self.tick_seconds,
            id="poll",
            next_run_time=datetime.now(UTC),
        )
        self._schedule_channels(scheduler)
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self.request_reload)
        log.info(
            "monitor running: %d feeds, tick every %gs, %d workers",
            len(self.feeds),
            self.tick_seconds,
            self.workers,
        )
        scheduler.start()
        systemd.ready(f"{len(self.feeds)} feeds, tick {self.tick_seconds:g}s")
        beat, last = systemd.watchdog_interval(), time.monotonic()
        try:
            while not self.stop.wait(timeout=1.0):
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
                # The watchdog hears from the main loop, so a wedged loop gets restarted.
                if beat and time.monotonic() - last >= beat:
                    systemd.watchdog()
                    last = time.monotonic()
        finally:
            scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("monitor stopped")
