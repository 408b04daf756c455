"""The reference backend: the `Store` contract in plain dicts, for the core's tests.

Nothing is kept after `close`. It follows the same contract tests as SQLite (tests/store/),
so what the pipeline's tests see through it is what the daemon sees through SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from monitor.dedupe import IdentityKey, identity_keys, is_repeat
from monitor.errors import StoreError
from monitor.feeds.policy import FeedHealth
from monitor.models import (
    Alert,
    AlertStatus,
    Feed,
    FeedState,
    NewStory,
    PollStatus,
    StoredStory,
    Story,
)
from monitor.store.base import DueFeed, FeedStatus, PollRecord
from monitor.timing import interrupted


@dataclass
class _FeedRow:
    feed: Feed
    configured: bool = True
    state: FeedState = field(default_factory=FeedState)
    last_polled_at: datetime | None = None
    last_status: PollStatus | None = None
    last_error: str | None = None
    next_poll_at: datetime | None = None
    failures: int = 0
    health: FeedHealth | None = None
    moved_to: str | None = None
    last_success_at: datetime | None = None
    body_hash: str | None = None


@dataclass
class _AlertRow:
    alert: Alert
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None  # set while an attempt is open


class MemoryStore:
    """The Store protocol in memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._feeds: dict[str, _FeedRow] = {}
        self._stories: list[StoredStory] = []
        self._keys: dict[IdentityKey, str] = {}  # key → the feed that owns it
        self._alerts: dict[int, _AlertRow] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the in-memory store is closed")

    def sync_feeds(self, feeds: Sequence[Feed]) -> None:
        with self._lock:
            self._check_open()
            for stored in self._feeds.values():
                stored.configured = False
            for feed in feeds:
                row = self._feeds.get(feed.name)
                if row is None:
                    self._feeds[feed.name] = _FeedRow(feed)
                    continue
                if row.feed.url != feed.url:  # a new URL is a new feed: forget its state
                    row.state, row.body_hash, row.moved_to = FeedState(), None, None
                    row.health, row.failures, row.next_poll_at = None, 0, None
                row.feed, row.configured = feed, True

    def due_feeds(self, now: datetime | None) -> list[DueFeed]:
        with self._lock:
            self._check_open()
            due = [
                row
                for row in self._feeds.values()
                if row.configured
                and row.health is not FeedHealth.GONE
                and (now is None or row.next_poll_at is None or row.next_poll_at <= now)
            ]
            due.sort(key=lambda r: (r.next_poll_at is not None, r.next_poll_at or now, r.feed.name))
            return [
                DueFeed(row.feed.name, row.state, row.failures, row.moved_to, row.body_hash)
                for row in due
            ]

    def record_poll(self, record: PollRecord) -> None:
        self.record_polls([record])

    def record_polls(self, records: Sequence[PollRecord]) -> None:
        with self._lock:
            self._check_open()
            for record in records:
                self._record_poll(record)

    def _record_poll(self, record: PollRecord) -> None:
        row = self._feeds.get(record.feed)
        if row is None:
            return
        failed = record.status is PollStatus.ERROR
        row.last_polled_at, row.last_status = record.polled_at, record.status
        row.last_error, row.next_poll_at = record.error, record.next_poll_at
        row.failures = row.failures + 1 if failed else 0
        row.health = record.health or (FeedHealth.FAILING if failed else FeedHealth.OK)
        row.moved_to = record.moved_to or row.moved_to
        if not failed:
            row.state = record.state
            row.last_success_at = record.polled_at
            row.body_hash = record.body_hash or row.body_hash

    def _found(self, story: Story) -> dict[IdentityKey, str]:
        return {k: self._keys[k] for k in identity_keys(story) if k in self._keys}

    def unseen(self, stories: Sequence[Story]) -> list[Story]:
        with self._lock:
            self._check_open()
            return [s for s in stories if not is_repeat(s, self._found(s))]

    def add_stories(self, items: Sequence[NewStory], now: datetime) -> list[StoredStory]:
        with self._lock:
            self._check_open()
            for item in items:  # checked before anything is written: all or nothing
                channels = [a.channel for a in item.alerts]
                if len(set(channels)) != len(channels):
                    raise StoreError(f"two alerts to one channel for {item.story.guid!r}")
            stored: list[StoredStory] = []
            for item in items:
                story = item.story
                if is_repeat(story, self._found(story)):
                    continue
                for key in identity_keys(story):
                    self._keys.setdefault(key, story.feed)
                story_id = len(self._stories) + 1
                self._stories.append(StoredStory(story_id, story, len(item.alerts), now))
                for planned in item.alerts:
                    alert_id = len(self._alerts) + 1
                    self._alerts[alert_id] = _AlertRow(
                        Alert(
                            id=alert_id,
                            channel=planned.channel,
                            story=story,
                            outlet=story.feed,  # filled in when read: feeds get re-titled
                            matches=planned.matches,
                            created_at=now,
                        )
                    )
                stored.append(self._stories[-1])
            return stored

    def _due(self, row: _AlertRow, now: datetime) -> bool:
        return row.alert.status is AlertStatus.PENDING and (
            row.next_attempt_at is None or row.next_attempt_at <= now
        )

    def pending_alerts(
        self, now: datetime, limit: int = 100, skip_channels: Collection[str] = ()
    ) -> list[Alert]:
        with self._lock:
            self._check_open()
            due = [
                self._with_outlet(row.alert)
                for row in self._alerts.values()
                if self._due(row, now) and row.alert.channel not in skip_channels
            ]
            return due[:limit]

    def _with_outlet(self, alert: Alert) -> Alert:
        row = self._feeds.get(alert.story.feed)
        return replace(alert, outlet=row.feed.title) if row else alert

    def claim_alert(self, alert_id: int, now: datetime, lease_until: datetime) -> bool:
        with self._lock:
            self._check_open()
            row = self._alerts.get(alert_id)
            if row is None or not self._due(row, now):
                return False
            row.alert = replace(row.alert, attempts=row.alert.attempts + 1)
            row.next_attempt_at, row.claimed_at = lease_until, now
            return True

    def mark_sent(
        self, alert_id: int, now: datetime, note: str | None = None, *, printed: bool = False
    ) -> None:
        with self._lock:
            self._check_open()
            row = self._alert_row(alert_id)
            status = AlertStatus.PRINTED if printed else AlertStatus.SENT
            row.alert = replace(row.alert, status=status, sent_at=now, note=note)
            row.claimed_at = None

    def mark_attempt_failed(
        self, alert_id: int, error: str, now: datetime, max_attempts: int, *, give_up: bool = False
    ) -> AlertStatus:
        with self._lock:
            self._check_open()
            row = self._alert_row(alert_id)
            if row.alert.status is AlertStatus.PENDING:
                final = give_up or row.alert.attempts >= max_attempts
                status = AlertStatus.FAILED if final else AlertStatus.PENDING
                row.alert = replace(row.alert, status=status, last_error=error)
                row.claimed_at = None
            return row.alert.status

    def hold_alert(self, alert_id: int, now: datetime, reason: str) -> None:
        with self._lock:
            self._check_open()
            row = self._alert_row(alert_id)
            if row.alert.status is AlertStatus.PENDING:
                attempts = max(0, row.alert.attempts - (row.claimed_at is not None))
                row.alert = replace(
                    row.alert, status=AlertStatus.HELD, note=reason, attempts=attempts
                )
                row.claimed_at = row.next_attempt_at = None

    def requeue_alert(self, alert_id: int, now: datetime) -> None:
        with self._lock:
            self._check_open()
            row = self._alert_row(alert_id)
            row.alert = replace(
                row.alert, status=AlertStatus.PENDING, attempts=0, last_error=None, sent_at=None
            )
            row.claimed_at = row.next_attempt_at = None

    def expire_alert(self, alert_id: int, now: datetime, reason: str) -> None:
        with self._lock:
            self._check_open()
            row = self._alert_row(alert_id)
            row.alert = replace(row.alert, status=AlertStatus.EXPIRED, last_error=reason)
            row.claimed_at = row.next_attempt_at = None

    def release_interrupted(self, started: datetime) -> int:
        with self._lock:
            self._check_open()
            released = 0
            for row in self._alerts.values():
                if row.alert.status is AlertStatus.PENDING and interrupted(row.claimed_at, started):
                    row.alert = replace(row.alert, attempts=max(0, row.alert.attempts - 1))
                    row.claimed_at = row.next_attempt_at = None
                    released += 1
            return released

    def _alert_row(self, alert_id: int) -> _AlertRow:
        row = self._alerts.get(alert_id)
        if row is None:
            raise StoreError(f"no alert {alert_id}")
        return row

    def feed_statuses(self, now: datetime | None = None) -> list[FeedStatus]:
        week_ago = (now or datetime.now(UTC)) - timedelta(days=7)
        with self._lock:
            self._check_open()
            return [
                FeedStatus(
                    name=name,
                    title=row.feed.title,
                    url=row.feed.url,
                    interval=row.feed.interval,
                    last_polled_at=row.last_polled_at,
                    last_status=row.last_status,
                    last_error=row.last_error,
                    next_poll_at=row.next_poll_at,
                    failures=row.failures,
                    stories=sum(1 for s in self._stories if s.story.feed == name),
                    health=row.health if row.last_status else None,
                    moved_to=row.moved_to,
                    last_success_at=row.last_success_at,
                    items_per_day=round(
                        sum(
                            1
                            for s in self._stories
                            if s.story.feed == name and s.first_seen and s.first_seen >= week_ago
                        )
                        / 7.0,
                        1,
                    ),
                )
                for name, row in sorted(self._feeds.items())
            ]

    def stories_since(self, since: datetime) -> Iterator[StoredStory]:
        with self._lock:
            self._check_open()
            found = [s for s in self._stories if s.first_seen is not None and s.first_seen >= since]
        yield from found

    def recent_alerts(
        self, limit: int | None = 50, state: AlertStatus | None = None
    ) -> list[Alert]:
        with self._lock:
            self._check_open()
            rows = [r for r in self._alerts.values() if state is None or r.alert.status is state]
            newest = list(reversed(rows))[:limit]
            return [self._with_outlet(row.alert) for row in newest]

    def close(self) -> None:
        with self._lock:
            self._closed = True
