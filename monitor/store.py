"""Storage: the small interface every backend offers, and the rows it hands back.

The orchestrator and the CLI only see `Store`. SQLite (`monitor.sqlite`) is the embedded
default; a PostgreSQL backend for several workers implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    new_stories: int = 0


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

    def add_stories(self, stories: Sequence[Story], now: datetime) -> list[StoredStory]:
        """Store the stories not seen before (same feed and guid, or same canonical link in
        any feed) and return only those, atomically."""

    def add_alerts(self, story_id: int, matches: Sequence[Match], now: datetime) -> int:
        """Record a story's matches and one pending alert per channel; return alerts added."""

    def pending_alerts(self, now: datetime, limit: int = 100) -> list[Alert]:
        """Alerts owed to their channels and due for an attempt, oldest first."""

    def mark_sent(self, alert_id: int, now: datetime, note: str | None = None) -> None:
        """An alert was accepted by its channel."""

    def mark_attempt_failed(
        self, alert_id: int, error: str, now: datetime, retry_at: datetime, max_attempts: int
    ) -> str:
        """An attempt failed: the alert waits until retry_at, and is failed for good after
        max_attempts. Returns its new status."""

    def feed_statuses(self) -> list[FeedStatus]:
        """Every configured feed's polling state."""

    def recent_alerts(self, limit: int = 50) -> list[Alert]:
        """The newest alerts, whatever their state."""

    def close(self) -> None:
        """Release the database."""
