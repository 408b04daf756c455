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
    Mute,
    NewStory,
    PollStatus,
    StoredStory,
    Story,
)
from monitor.store.base import ClusterSummary, DueFeed, FeedStatus, PollRecord
from monitor.timing import alert_delay, interrupted, median_delay

# The states `hold_alert` may put an alert in: out of the queue, not done.
_OUT_OF_QUEUE = frozenset({AlertStatus.HELD, AlertStatus.DIGEST, AlertStatus.MUTED})


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
        self._mutes: list[Mute] = []
        self._titles: dict[int, list[tuple[datetime, str]]] = {}
        self._notices: dict[str, datetime] = {}
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
                stored_story = StoredStory(story_id, story, len(item.alerts), now, item.cluster_id)
                self._stories.append(stored_story)
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
                            story_id=story_id,
                            cluster_id=item.cluster_id,
                            follow_up=planned.follow_up,
                        )
                    )
                stored.append(self._stories[-1])
            return stored

    def _due(self, row: _AlertRow, now: datetime) -> bool:
        return row.alert.status is AlertStatus.PENDING and (
            row.next_attempt_at is None or row.next_attempt_at <= now
        )

    def pending_alerts(
        self,
        now: datetime,
        limit: int = 100,
        skip_channels: Collection[str] = (),
        channel: str | None = None,
    ) -> list[Alert]:
        with self._lock:
            self._check_open()
            due = [
                self._with_outlet(row.alert)
                for row in self._alerts.values()
                if self._due(row, now)
                and row.alert.channel not in skip_channels
                and channel in (None, row.alert.channel)
            ]
            return due[:limit]

    def _outlet(self, feed: str) -> str:
        row = self._feeds.get(feed)
        return row.feed.title if row else feed

    def _with_outlet(self, alert: Alert) -> Alert:
        outlet = self._outlet(alert.story.feed)
        others: tuple[str, ...] = ()
        if alert.cluster_id is not None:
            outlets = self._cluster_outlets([alert.cluster_id]).get(alert.cluster_id, ())
            others = tuple(o for o in outlets if o != outlet)
        return replace(alert, outlet=outlet, also=others)

    def retitle(self, stories: Sequence[Story], now: datetime) -> int:
        with self._lock:
            self._check_open()
            changed = 0
            for story in stories:
                for i, stored in enumerate(self._stories):
                    old = stored.story
                    if (old.feed, old.guid) != (story.feed, story.guid):
                        continue
                    if story.title and old.title != story.title:
                        self._titles.setdefault(stored.id, []).append((now, old.title))
                        self._stories[i] = replace(stored, story=replace(old, title=story.title))
                        changed += 1
                    break
            return changed

    def title_history(self, story_id: int) -> list[tuple[datetime, str]]:
        with self._lock:
            self._check_open()
            return list(self._titles.get(story_id, []))

    def alerted_rules(self, cluster_ids: Collection[int]) -> dict[int, dict[str, set[str]]]:
        with self._lock:
            self._check_open()
            found: dict[int, dict[str, set[str]]] = {}
            for row in self._alerts.values():
                cluster = row.alert.cluster_id
                if cluster is not None and cluster in cluster_ids:
                    rules = found.setdefault(cluster, {}).setdefault(row.alert.channel, set())
                    rules.update(m.rule_id for m in row.alert.matches)
            return found

    def _cluster_outlets(self, cluster_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        found: dict[int, list[str]] = {}
        for stored in self._stories:
            if stored.cluster_id is not None and stored.cluster_id in cluster_ids:
                outlets = found.setdefault(stored.cluster_id, [])
                outlet = self._outlet(stored.story.feed)
                if outlet not in outlets:
                    outlets.append(outlet)
        return {c: tuple(o) for c, o in found.items()}

    def cluster_outlets(self, cluster_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        with self._lock:
            self._check_open()
            return self._cluster_outlets(cluster_ids)

    def max_cluster_id(self) -> int:
        with self._lock:
            self._check_open()
            return max((s.cluster_id or 0 for s in self._stories), default=0)

    def clusters(self, since: datetime, limit: int = 50) -> list[ClusterSummary]:
        with self._lock:
            self._check_open()
            members: dict[int, list[StoredStory]] = {}
            for stored in self._stories:
                if stored.cluster_id is not None:
                    members.setdefault(stored.cluster_id, []).append(stored)
            recent = [
                (max(s.id for s in group), cluster, group)
                for cluster, group in members.items()
                if any(s.first_seen is not None and s.first_seen >= since for s in group)
            ]
            recent.sort(reverse=True)
            outlets = self._cluster_outlets(members)
            return [
                ClusterSummary(
                    cluster,
                    len(group),
                    outlets.get(cluster, ()),
                    group[0].story.title,
                    min((s.first_seen for s in group if s.first_seen), default=None),
                    max((s.first_seen for s in group if s.first_seen), default=None),
                )
                for _, cluster, group in recent[:limit]
            ]

    def stories(self, limit: int = 50, cluster_id: int | None = None) -> list[StoredStory]:
        with self._lock:
            self._check_open()
            found = [s for s in self._stories if cluster_id in (None, s.cluster_id)]
            return list(reversed(found))[:limit]

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

    def hold_alert(
        self, alert_id: int, now: datetime, reason: str, state: AlertStatus = AlertStatus.HELD
    ) -> None:
        if state not in _OUT_OF_QUEUE:
            raise StoreError(f"an alert cannot be held as {state}")
        with self._lock:
            self._check_open()
            row = self._alert_row(alert_id)
            if row.alert.status is AlertStatus.PENDING:
                attempts = max(0, row.alert.attempts - (row.claimed_at is not None))
                row.alert = replace(row.alert, status=state, note=reason, attempts=attempts)
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
        day_ago = (now or datetime.now(UTC)) - timedelta(days=1)
        with self._lock:
            self._check_open()
            seen = {s.id: s.first_seen for s in self._stories}
            delays: dict[str, list[float | None]] = {}
            for r in self._alerts.values():
                a = r.alert
                done = a.status in (AlertStatus.SENT, AlertStatus.PRINTED)
                if done and a.sent_at is not None and a.sent_at >= day_ago:
                    first_seen = seen.get(a.story_id or 0)
                    delays.setdefault(a.story.feed, []).append(
                        alert_delay(a.story.published, first_seen, a.sent_at)
                    )
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
                    alert_delay=median_delay(delays.get(name, [])),
                )
                for name, row in sorted(self._feeds.items())
            ]

    def stories_since(self, since: datetime) -> Iterator[StoredStory]:
        with self._lock:
            self._check_open()
            found = [s for s in self._stories if s.first_seen is not None and s.first_seen >= since]
        yield from found

    def recent_alerts(
        self,
        limit: int | None = 50,
        state: AlertStatus | None = None,
        channel: str | None = None,
    ) -> list[Alert]:
        with self._lock:
            self._check_open()
            rows = [
                r
                for r in self._alerts.values()
                if state in (None, r.alert.status) and channel in (None, r.alert.channel)
            ]
            newest = list(reversed(rows))[:limit]
            return [self._with_outlet(row.alert) for row in newest]

    def count_sent(self, channel: str, since: datetime) -> int:
        with self._lock:
            self._check_open()
            return sum(
                1
                for r in self._alerts.values()
                if r.alert.channel == channel
                and r.alert.status is AlertStatus.SENT
                and r.alert.sent_at is not None
                and r.alert.sent_at >= since
            )

    def add_mute(self, mute: Mute) -> int:
        with self._lock:
            self._check_open()
            mute_id = len(self._mutes) + 1
            self._mutes.append(replace(mute, id=mute_id))
            return mute_id

    def mutes(self, now: datetime | None = None) -> list[Mute]:
        with self._lock:
            self._check_open()
            return [m for m in self._mutes if now is None or m.until > now]

    def last_notice(self, channel: str) -> datetime | None:
        with self._lock:
            self._check_open()
            return self._notices.get(channel)

    def record_notice(self, channel: str, now: datetime) -> None:
        with self._lock:
            self._check_open()
            self._notices[channel] = now

    def close(self) -> None:
        with self._lock:
            self._closed = True
