"""The orchestrator: runs feeds through fetch → parse → identity (store.unseen) → match →
route → store, and alerts through render → notify. It owns no logic of its own beyond the
order of the stages and what to do when one fails: the rules it applies are pure modules
(dedupe, route, timing) and the adapters come in as arguments.

Fetch and parse run in a bounded pool of threads; storing and matching happen on the
calling thread. The store serialises every write through its one connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from monitor.config import CONSOLE
from monitor.errors import DeliveryError, FetchError, ParseError
from monitor.fetch import Fetcher
from monitor.models import Alert, AlertStatus, Feed, FeedState, NewStory, ParsedFeed, PollStatus
from monitor.notify import Notifier, message_id
from monitor.parse import parse_feed
from monitor.render import plural, render
from monitor.route import route
from monitor.rules.matcher import Matcher
from monitor.store import PollRecord, Store
from monitor.timing import alert_backoff, gives_up, next_poll, too_old

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FetchOutcome:
    """A feed after fetch and parse: its stories, or why there are none."""

    feed: Feed
    parsed: ParsedFeed | None  # None when not modified or failed
    state: FeedState
    error: str | None = None
    permanent: bool = False  # the error will not mend by itself (404, 410, bad URL)


@dataclass(frozen=True)
class PollResult:
    """What polling one feed did."""

    feed: str
    status: PollStatus
    stories: int = 0
    new_stories: int = 0
    alerts: int = 0
    backlog: int = 0  # new stories that matched but were too old to alert
    error: str | None = None


class DeliveryOutcome(StrEnum):
    """What became of one alert in a delivery pass."""

    SENT = "sent"  # a channel took it
    PRINTED = "printed"  # the console channel printed it
    HELD = "held"  # its channel is not set up: a preview printed, the alert kept for later
    FAILED = "failed"
    TAKEN = "taken"  # another pass had claimed it


@dataclass(frozen=True)
class DeliveryReport:
    """How many alerts one delivery pass sent, only printed, held, and failed to send."""

    sent: int = 0
    printed: int = 0
    failed: int = 0
    held: int = 0


@dataclass(frozen=True)
class Recovery:
    """What start-up found: claims a crash cut off, held alerts made due or expired."""

    interrupted: int = 0
    released: int = 0
    expired: int = 0


def read_feed(
    fetcher: Fetcher, url: str, name: str, state: FeedState | None = None
) -> tuple[ParsedFeed | None, FeedState]:
    """Fetch and parse one feed: its stories (None when 304 Not Modified) and the
    validators for next time. Raises FetchError or ParseError."""
    fetched = fetcher.fetch(url, state)
    if fetched.content is None:
        return None, state or FeedState()
    parsed = parse_feed(fetched.content, feed=name, base_url=fetched.url, headers=fetched.headers)
    return parsed, FeedState(fetched.etag, fetched.last_modified)


class Pipeline:
    """One feed or one batch of alerts at a time through the stages."""

    def __init__(
        self,
        *,
        store: Store,
        fetcher: Fetcher,
        matcher: Matcher,
        notifier: Notifier,
        retry_after_error: float = 600.0,
        max_age: float = 86400.0,
        max_attempts: int = 10,
        alert_max_age: float = 86400.0,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.matcher = matcher
        self.notifier = notifier
        self.retry_after_error = retry_after_error
        self.max_age = max_age
        self.max_attempts = max_attempts
        self.alert_max_age = alert_max_age
        self.clock = clock

    def fetch(self, feed: Feed, state: FeedState) -> FetchOutcome:
        """Fetch and parse one feed; safe to run in a worker thread (no store access)."""
        try:
            parsed, new_state = read_feed(self.fetcher, feed.url, feed.name, state)
            return FetchOutcome(feed, parsed, new_state)
        except FetchError as e:
            return FetchOutcome(feed, None, state, error=str(e), permanent=e.permanent)
        except ParseError as e:
            return FetchOutcome(feed, None, state, error=str(e))
        except Exception as e:  # a bug in one feed's handling must not stop the others
            log.exception("feed=%s unexpected error", feed.name)
            return FetchOutcome(feed, None, state, error=f"internal error: {type(e).__name__}: {e}")

    def _record(
        self,
        feed: Feed,
        status: PollStatus,
        state: FeedState,
        error: str | None = None,
        permanent: bool = False,
    ) -> datetime:
        now = self.clock()
        when = next_poll(
            now,
            status,
            interval=feed.interval,
            retry_after_error=self.retry_after_error,
            permanent=permanent,
        )
        self.store.record_poll(PollRecord(feed.name, now, status, when, error, state))
        return when

    def record_failure(self, feed: Feed, error: str, state: FeedState, permanent: bool) -> None:
        """Remember a failed poll and when to try again; one log line."""
        when = self._record(feed, PollStatus.ERROR, state, error, permanent)
        log.warning(
            "feed=%s poll failed%s: %s (next try in %ds)",
            feed.name,
            " (permanent)" if permanent else "",
            error,
            (when - self.clock()).total_seconds(),
        )

    def ingest(self, fetched: FetchOutcome) -> PollResult:
        """Match the stories not seen before, route them, then store them with their alerts
        at once."""
        feed, now = fetched.feed, self.clock()
        if fetched.error is not None:
            self.record_failure(feed, fetched.error, fetched.state, fetched.permanent)
            return PollResult(feed.name, PollStatus.ERROR, error=fetched.error)
        if fetched.parsed is None:
            self._record(feed, PollStatus.NOT_MODIFIED, fetched.state)
            return PollResult(feed.name, PollStatus.NOT_MODIFIED)
        parsed = fetched.parsed
        if parsed.warning:
            log.warning("feed=%s %s", feed.name, parsed.warning)
        # Matching happens before storing, so a story is never marked seen without its
        # alerts (a crash between the two would lose them for good).
        items: list[NewStory] = []
        backlog: set[int] = set()
        for story in self.store.unseen(parsed.stories):
            matches = tuple(self.matcher.match(story))
            routing = route(story, matches, now=now, max_age=self.max_age, backlog=feed.backlog)
            if routing.backlog:
                backlog.add(len(items))
            items.append(NewStory(story, matches, routing.alerts))
        added = self.store.add_stories(items, now)
        stored = {(s.story.feed, s.story.guid) for s in added}
        for item in items:
            if item.alerts and (item.story.feed, item.story.guid) in stored:
                log.info(
                    "feed=%s story=%r matched %s",
                    feed.name,
                    item.story.title[:80],
                    ", ".join(m.rule_id for m in item.matches),
                )
        old = sum(1 for i in backlog if (items[i].story.feed, items[i].story.guid) in stored)
        if old:
            log.info(
                "feed=%s %s older than poll.max_age kept without alerting "
                "(a backlog; `backlog: alert` on the feed turns this off)",
                feed.name,
                plural(old, "matching story", "matching stories"),
            )
        alerts = sum(s.alerts for s in added)
        # A malformed but readable feed keeps its warning where `monitor feeds` shows it.
        self._record(feed, PollStatus.OK, fetched.state, parsed.warning)
        log.log(
            logging.INFO if added else logging.DEBUG,
            "feed=%s polled: %s, %d new, %s queued",
            feed.name,
            plural(len(parsed.stories), "story", "stories"),
            len(added),
            plural(alerts, "alert"),
        )
        return PollResult(
            feed.name, PollStatus.OK, len(parsed.stories), len(added), alerts, backlog=old
        )

    def poll(
        self,
        feeds: Sequence[Feed],
        *,
        workers: int = 4,
        stop: threading.Event | None = None,
        due_only: bool = False,
    ) -> list[PollResult]:
        """Fetch feeds in a pool of `workers` threads and ingest each as it arrives: every
        given feed, or with `due_only` those whose next poll time has come. When `stop` is
        set, feeds not yet started are left for next time."""
        stop = stop or threading.Event()
        by_name = {feed.name: feed for feed in feeds}
        # One call for the due feeds and their validators, before any worker starts: worker
        # threads never touch the store.
        if due_only:
            due = [
                (by_name[d.name], d.state)
                for d in self.store.due_feeds(self.clock())
                if d.name in by_name
            ]
        else:
            states = {d.name: d.state for d in self.store.due_feeds(None)}
            due = [(feed, states.get(feed.name, FeedState())) for feed in feeds]
        results: list[PollResult] = []
        if not due:
            return results
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            futures: list[Future[FetchOutcome | None]] = [
                pool.submit(self._fetch_unless_stopped, feed, state, stop) for feed, state in due
            ]
            for future in as_completed(futures):
                fetched = future.result()
                if fetched is None:
                    continue
                try:
                    results.append(self.ingest(fetched))
                except Exception as e:  # one feed's bad luck with the store must not stop the rest
                    log.exception("feed=%s could not be stored", fetched.feed.name)
                    error = f"internal error: {type(e).__name__}: {e}"
                    results.append(PollResult(fetched.feed.name, PollStatus.ERROR, error=error))
                    try:  # and must not make it due again on every tick
                        self.record_failure(fetched.feed, error, fetched.state, permanent=False)
                    except Exception:
                        log.exception("feed=%s could not record its failure", fetched.feed.name)
        return results

    def _fetch_unless_stopped(
        self, feed: Feed, state: FeedState, stop: threading.Event
    ) -> FetchOutcome | None:
        if stop.is_set():
            return None
        return self.fetch(feed, state)

    def poll_due(
        self, feeds: Sequence[Feed], *, workers: int = 4, stop: threading.Event | None = None
    ) -> list[PollResult]:
        """Poll the feeds whose next poll time has come."""
        return self.poll(feeds, workers=workers, stop=stop, due_only=True)

    def deliver(self, stop: threading.Event | None = None) -> DeliveryReport:
        """Send every pending alert that is due, in batches, until none is left.

        Each alert is claimed before it is sent (attempt counted, hidden for its backoff),
        so a crash or a full disk after the send cannot make it go out on every tick, and a
        second process cannot send it too. A channel that fails is skipped for the rest of
        the pass, so one dead SMTP server does not hold up Slack.
        """
        counts = dict.fromkeys(DeliveryOutcome, 0)
        broken: set[str] = set()
        while not (stop is not None and stop.is_set()):
            batch = self.store.pending_alerts(self.clock(), skip_channels=broken)
            if not batch:
                break
            for alert in batch:
                if (stop is not None and stop.is_set()) or alert.channel in broken:
                    continue
                outcome = self._deliver_one(alert)
                counts[outcome] += 1
                if outcome is DeliveryOutcome.FAILED:
                    broken.add(alert.channel)
        return DeliveryReport(
            sent=counts[DeliveryOutcome.SENT],
            printed=counts[DeliveryOutcome.PRINTED],
            failed=counts[DeliveryOutcome.FAILED],
            held=counts[DeliveryOutcome.HELD],
        )

    def recover(self, started: datetime | None = None) -> Recovery:
        """At start, before any delivery: retry at once, uncounted, every claim a crash cut
        off (made before `started`, this process's start); then make the held alerts of
        channels that are now set up due, or expire those older than `delivery.max_age`."""
        now = self.clock()
        interrupted = self.store.release_interrupted(started or now)
        if interrupted:
            log.warning(
                "%s cut off by a crash or kill; retrying at once",
                plural(interrupted, "alert delivery", "alert deliveries"),
            )
        released = expired = 0
        for alert in reversed(self.store.recent_alerts(None, AlertStatus.HELD)):
            if self.notifier.fallback(alert.channel) is not None:
                continue  # still not set up: it stays held
            if too_old(alert.created_at, now, self.alert_max_age):
                reason = (
                    f"held longer than delivery.max_age ({_hours(self.alert_max_age)}) "
                    "before its channel was set up; not sent"
                )
                self.store.expire_alert(alert.id, now, reason)
                log.warning("alert=%d channel=%s expired: %s", alert.id, alert.channel, reason)
                expired += 1
            else:
                self.store.requeue_alert(alert.id, now)
                released += 1
        if released:
            log.info("%s held for channels now set up: sending", plural(released, "alert"))
        return Recovery(interrupted, released, expired)

    def resend(self, alert_ids: Sequence[int]) -> None:
        """Queue chosen alerts again, whatever their state; the next pass sends them.
        Raises StoreError for an unknown id."""
        now = self.clock()
        for alert_id in alert_ids:
            self.store.requeue_alert(alert_id, now)

    def _deliver_one(self, alert: Alert) -> DeliveryOutcome:
        now = self.clock()
        if not self.store.claim_alert(alert.id, now, now + alert_backoff(alert.attempts + 1)):
            return DeliveryOutcome.TAKEN
        fallback = self.notifier.fallback(alert.channel)
        if fallback is not None:
            return self._hold(alert, fallback, now)
        kind, zone = self.notifier.kind(alert.channel), self.notifier.timezone(alert.channel)
        message = render(alert, kind, now=now, timezone=zone)
        try:
            note = self.notifier.send(
                alert.channel, message, msgid=message_id(alert.id, alert.story.link)
            )
        except DeliveryError as e:
            failed_at = self.clock()
            give_up = gives_up(
                alert.attempts + 1,
                alert.created_at,
                failed_at,
                max_attempts=self.max_attempts,
                max_age=self.alert_max_age,
            )
            status = self.store.mark_attempt_failed(
                alert.id, str(e), failed_at, self.max_attempts, give_up=give_up
            )
            log.warning(
                "alert=%d channel=%s story=%r attempt %d failed (%s): %s",
                alert.id,
                alert.channel,
                alert.story.title[:80],
                alert.attempts + 1,
                status,
                e,
            )
            return DeliveryOutcome.FAILED
        printed = alert.channel == CONSOLE
        self.store.mark_sent(alert.id, self.clock(), note, printed=printed)
        log.info(
            "alert=%d channel=%s story=%r sent", alert.id, alert.channel, alert.story.title[:80]
        )
        # "Sent" means it left this machine: the console channel's alerts are printed.
        return DeliveryOutcome.PRINTED if printed else DeliveryOutcome.SENT

    def _hold(self, alert: Alert, reason: str, now: datetime) -> DeliveryOutcome:
        """Print a preview, and keep the alert for when its channel is set up."""
        # A channel that is not set up has no sender: send prints, under the channel's name.
        self.notifier.send(alert.channel, render(alert, "console", now=now))
        self.store.hold_alert(alert.id, self.clock(), f"held: {reason}")
        # A warning every time: under systemd a missing secrets file would otherwise
        # leave the desk with nothing and only the journal knowing.
        log.warning(
            "alert=%d channel=%s story=%r held (printed to the console as a preview): %s",
            alert.id,
            alert.channel,
            alert.story.title[:80],
            reason,
        )
        return DeliveryOutcome.HELD


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"
