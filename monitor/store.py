"""Storage: the small interface every backend offers, and the rows it hands back.

The orchestrator and the CLI only see `Store`. SQLite (`monitor.sqlite`) is the embedded
default; a PostgreSQL backend for several workers implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitor.config import Feed
from monitor.models import Alert, FeedState, Match, StoredStory, Story


@dataclass(frozen=True)
class FeedStatus:
    """A feed's polling state, as `monitor feeds` shows it."""

    name: str
    title: str
    url: str
    interval: float
    last_polled_at: datetime | None
    last_status: str | None
    last_error: str | None
    next_poll_at: datetime | None
    failures: int
    stories: int


@dataclass(frozen=True)
class PollRecord:
    """What one poll of a feed did, to be remembered until the next."""

    feed: str
    polled_at: datetime
    status: str  # ok, not-modified, error
    next_poll_at: datetime
    error: str | None = None
    state: FeedState = field(default_factory=FeedState)


class Store(Protocol):
    """Everything monitor keeps: feeds and their polling state, stories, matches, alerts."""

    def sync_feeds(self, feeds: Sequence[Feed]) -> None:
        """Make the stored feeds agree with the configuration, keeping each one's state."""

    def due_feeds(self, now: datetime) -> list[str]:
        """Names of configured feeds whose next poll time has come, most overdue first."""

    def feed_state(self, feed: str) -> FeedState:
        """The ETag and Last-Modified to send with the next request."""

    def record_poll(self, record: PollRecord) -> None:
        """Remember the outcome of a poll and when to poll next."""

    def unseen(self, stories: Sequence[Story]) -> list[Story]:
        """The stories not stored before: no same feed+guid, no same canonical link (from
        another feed, or with the same raw link). Read-only; the pipeline matches these."""

    def add_stories(
        self, items: Sequence[tuple[Story, Sequence[Match]]], now: datetime
    ) -> list[StoredStory]:
        """Store each new story with its matches and one pending alert per channel, in one
        transaction, so a story is never marked seen without its alerts. Stories that
        turn out to be repeats (e.g. twice in one batch) are skipped; returns the stored."""

    def pending_alerts(
        self, now: datetime, limit: int = 100, skip_channels: Collection[str] = ()
    ) -> list[Alert]:
        """Alerts owed to their channels and due for an attempt, oldest first."""

    def claim_alert(self, alert_id: int, now: datetime, lease_until: datetime) -> bool:
        """Take a pending, due alert for one attempt: count the attempt and hide the alert
        until `lease_until`. False when another process (or an earlier pass) has it."""

    def mark_sent(
        self, alert_id: int, now: datetime, note: str | None = None, *, printed: bool = False
    ) -> None:
        """An alert was accepted by its channel; `printed` when it only reached the console
        because its channel is not set up (status 'printed', never retried)."""

    def mark_attempt_failed(
        self, alert_id: int, error: str, now: datetime, max_attempts: int
    ) -> str:
        """The claimed attempt failed: the alert stays pending (its lease is the backoff)
        or, after max_attempts, is failed for good. Returns its new status."""

    def feed_statuses(self) -> list[FeedStatus]:
        """Every stored feed's polling state. Read-only."""

    def recent_alerts(self, limit: int = 50) -> list[Alert]:
        """The newest alerts, whatever their state."""

    def close(self) -> None:
        """Release the database."""
