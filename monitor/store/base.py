"""Storage: the one interface every backend offers, the rows it hands back, its contract.

The orchestrator and the CLI only see `Store`. SQLite (`monitor.store.sqlite`) is the
embedded default; `monitor.store.memory` is the reference backend the core's tests use; a
PostgreSQL backend for several workers implements the same protocol and passes the same
contract tests (tests/store/).

The contract, for every backend:
- errors: every method raises `StoreError` (never the backend's own exceptions) when the
  database cannot do what was asked; nothing is half-written when it does;
- threads: every method may be called from any thread; writes are serialised;
- time: every datetime passed in or handed back is timezone-aware, and compared as UTC;
- identity: the store decides nothing about which stories are the same. It holds each
  story's `dedupe.identity_keys` under a UNIQUE constraint and asks `dedupe.is_repeat`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitor.feeds.policy import FeedHealth
from monitor.models import (
    Alert,
    AlertStatus,
    Feed,
    FeedState,
    Mute,
    NewStory,
    PollStatus,
    StoredStory,
    Story,
)


@dataclass(frozen=True)
class FeedStatus:
    """A feed's polling state, as `monitor feeds` shows it."""

    name: str
    title: str
    url: str
    interval: float
    last_polled_at: datetime | None
    last_status: PollStatus | None
    last_error: str | None
    next_poll_at: datetime | None
    failures: int
    stories: int
    health: FeedHealth | None = None  # None: never polled
    moved_to: str | None = None  # the URL a permanent redirect (301, 308) moved it to
    last_success_at: datetime | None = None
    items_per_day: float = 0.0  # stories stored over the last 7 days, per day
    alert_delay: float | None = None  # median seconds, publication to alert, over a day


@dataclass(frozen=True)
class ClusterSummary:
    """One event as `monitor clusters` shows it: its stories, outlets and first headline."""

    id: int
    stories: int
    outlets: tuple[str, ...]
    headline: str
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class DueFeed:
    """A configured feed whose poll is due, with what to send on its next request."""

    name: str
    state: FeedState = field(default_factory=FeedState)
    failures: int = 0  # consecutive failures so far
    moved_to: str | None = None  # poll this URL instead of the configured one
    body_hash: str | None = None  # of the last body parsed


@dataclass(frozen=True)
class PollRecord:
    """What one poll of a feed did, to be remembered until the next."""

    feed: str
    polled_at: datetime
    status: PollStatus
    next_poll_at: datetime | None  # None: never again (the feed is gone)
    error: str | None = None
    state: FeedState = field(default_factory=FeedState)
    health: FeedHealth | None = None  # None: derived from the failures (ok or failing)
    moved_to: str | None = None  # a new permanent URL; None keeps the one remembered
    body_hash: str | None = None  # of the body parsed now; None keeps the one remembered


class Store(Protocol):
    """Everything monitor keeps: feeds and their polling state, stories, matches, alerts."""

    def sync_feeds(self, feeds: Sequence[Feed]) -> None:
        """Make the stored feeds agree with the configuration, keeping each one's state
        (a feed whose URL changed is a new feed: it forgets its validators, its body hash,
        the URL it moved to, and that it was gone)."""

    def due_feeds(self, now: datetime | None) -> list[DueFeed]:
        """Configured feeds whose next poll time has come (every configured feed when `now`
        is None), most overdue first, each with its validators for a conditional GET, its
        failures so far, its remembered new URL and body hash. A gone feed is never due."""

    def record_poll(self, record: PollRecord) -> None:
        """Remember the outcome of a poll and when to poll next. A failed poll keeps the
        validators it had and counts one more consecutive failure; a good one resets it
        and is the feed's last success."""

    def record_polls(self, records: Sequence[PollRecord]) -> None:
        """`record_poll` for each record, in one transaction (a cycle's worth at once)."""

    def unseen(self, stories: Sequence[Story]) -> list[Story]:
        """The stories that are not repeats of stored ones (see `dedupe.is_repeat`), in
        order. Read-only: the pipeline matches these, then stores them."""

    def add_stories(self, items: Sequence[NewStory], now: datetime) -> list[StoredStory]:
        """Store each new story with its matches and its planned alerts (pending) in one
        transaction, so a story is never marked seen without its alerts. Items that turn
        out to be repeats (of stored stories or of earlier items in the batch) are skipped;
        returns the stored ones, in order."""

    def retitle(self, stories: Sequence[Story], now: datetime) -> int:
        """Stories already stored (the same feed and guid) that came back under a new
        headline: the stored title is updated and the old one kept in its history. Returns
        how many changed. No alert is made or changed."""

    def title_history(self, story_id: int) -> list[tuple[datetime, str]]:
        """A story's earlier headlines with when they were replaced, oldest first."""

    def alerted_rules(self, cluster_ids: Collection[int]) -> dict[int, dict[str, set[str]]]:
        """For each cluster, the rules that already made an alert, by channel."""

    def cluster_outlets(self, cluster_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        """For each cluster, its outlets (feed titles), in the order they carried it."""

    def max_cluster_id(self) -> int:
        """The highest cluster id any story has had (0 when none): new ones go past it."""

    def clusters(self, since: datetime, limit: int = 50) -> list[ClusterSummary]:
        """The clusters with a story stored at or after `since`, newest first."""

    def stories(self, limit: int = 50, cluster_id: int | None = None) -> list[StoredStory]:
        """The newest stories (of one cluster, when given), newest first."""

    def pending_alerts(
        self,
        now: datetime,
        limit: int = 100,
        skip_channels: Collection[str] = (),
        channel: str | None = None,
    ) -> list[Alert]:
        """Pending alerts due for an attempt (not leased), oldest first; of one channel
        when `channel` is given."""

    def claim_alert(self, alert_id: int, now: datetime, lease_until: datetime) -> bool:
        """Take a pending, due alert for one attempt: count the attempt, remember when it was
        claimed, and hide the alert until `lease_until`. False when another process (or an
        earlier pass) has it."""

    def mark_sent(
        self, alert_id: int, now: datetime, note: str | None = None, *, printed: bool = False
    ) -> None:
        """An alert was accepted by its channel; `printed` when its channel is the built-in
        console (status PRINTED, never retried)."""

    def mark_attempt_failed(
        self, alert_id: int, error: str, now: datetime, max_attempts: int, *, give_up: bool = False
    ) -> AlertStatus:
        """The claimed attempt failed: the alert stays pending (its lease is the backoff)
        or, after max_attempts or when `give_up`, is failed for good. Returns its new status."""

    def hold_alert(
        self, alert_id: int, now: datetime, reason: str, state: AlertStatus = AlertStatus.HELD
    ) -> None:
        """Take a pending (perhaps claimed) alert out of the queue, the attempt not counted,
        with `reason` as its note: HELD (its channel is not set up), DIGEST (it waits for
        the channel's digest) or MUTED (a mute stopped it). Such an alert is never in
        `pending_alerts`. An alert that is not pending is left as it is."""

    def requeue_alert(self, alert_id: int, now: datetime) -> None:
        """Make an alert pending and due now, whatever its state, with its attempts and
        error cleared: a held alert whose channel is now set up, or a resend."""

    def expire_alert(self, alert_id: int, now: datetime, reason: str) -> None:
        """A held alert that is too old to send: EXPIRED, with `reason` as its error."""

    def release_interrupted(self, started: datetime) -> int:
        """Every claim still open that was made before `started` (this process's start) was
        cut off by a crash: make those alerts due now and uncount the attempt. Returns how
        many."""

    def stories_since(self, since: datetime) -> Iterator[StoredStory]:
        """The stories stored at or after `since`, oldest first, with `first_seen` set (for
        a backtest). Read-only; yields as it reads, so a year of stories is not all in memory."""

    def feed_statuses(self, now: datetime | None = None) -> list[FeedStatus]:
        """Every stored feed's polling state, by name; items per day over the 7 days before
        `now` (default: the wall clock). Read-only."""

    def recent_alerts(
        self,
        limit: int | None = 50,
        state: AlertStatus | None = None,
        channel: str | None = None,
    ) -> list[Alert]:
        """The newest alerts (every one when `limit` is None), in `state` or any, of
        `channel` or any, newest first."""

    def count_sent(self, channel: str, since: datetime) -> int:
        """How many alerts the channel sent (state SENT) at or after `since`."""

    def add_mute(self, mute: Mute) -> int:
        """Keep a run-time mute; returns its id."""

    def mutes(self, now: datetime | None = None) -> list[Mute]:
        """The mutes still in force at `now` (every one kept, when None), oldest first."""

    def last_notice(self, channel: str) -> datetime | None:
        """When the channel's desk was last told its rate limit was reached."""

    def record_notice(self, channel: str, now: datetime) -> None:
        """The channel's desk was told at `now` that its rate limit was reached."""

    def close(self) -> None:
        """Release the database (and the writer's lock)."""
