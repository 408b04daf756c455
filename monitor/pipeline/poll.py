"""The poll job: due feeds → fetch and parse (threads for fetching, at most N at once and M
per host; parsing in worker processes when given a `ParsePool`) → identity (the store's
`unseen`) → match → route → store, stories and their alerts in one transaction.

It owns no rule of its own beyond the order of the stages and what to do when one fails;
the rules are pure modules (dedupe, delivery.route, feeds.policy, feeds.hosts) and the
adapters come in as arguments. Worker threads fetch and parse only; storing and matching
happen on the calling thread, as each feed arrives, so a feed that hangs costs its own
deadline and the others' stories are stored (and their alerts delivered by the delivery
job) meanwhile. Poll records are written in batches, not one commit per feed. A feed's
items that repeat its last document byte for byte are left out before parsing (the poller
remembers their digests), so a steady cycle parses, checks and stores only what is new.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from monitor.dedupe.cluster import ClusterIndex
from monitor.delivery.route import Route, route
from monitor.errors import FetchError, ParseError
from monitor.feeds.fetch import Fetcher, HTTPStatusError
from monitor.feeds.hosts import HostQueue, host_of
from monitor.feeds.parse import parse_feed
from monitor.feeds.policy import FeedHealth, PollOutcome, PollPolicy, decide, health
from monitor.models import (
    Feed,
    FeedState,
    NewStory,
    ParsedFeed,
    PlannedAlert,
    PollStatus,
    Story,
)
from monitor.pipeline.clock import Clock, utcnow
from monitor.pipeline.events import place_stories, with_escalations
from monitor.pipeline.last_polls import LastPolls
from monitor.rules.matcher import Matcher
from monitor.store import DueFeed, PollRecord, Store
from monitor.text import plural

log = logging.getLogger(__name__)

# Poll records wait in memory at most this long (or this many) before one commit writes them.
FLUSH_SECONDS = 1.0
FLUSH_RECORDS = 200


class Parse(Protocol):
    """parse_feed, or a ParsePool's parse: bytes → a ParsedFeed, or ParseError."""

    def __call__(
        self,
        data: bytes,
        *,
        feed: str,
        base_url: str = "",
        headers: Mapping[str, str] | None = ...,
        known: Collection[int] = ...,
    ) -> ParsedFeed: ...


# Called when a feed turns unhealthy or recovers: (feed, old health, new health, last error).
# The operators' channel alert hangs here (the delivery side sends it).
HealthHook = Callable[[Feed, FeedHealth, FeedHealth, str | None], None]


@dataclass(frozen=True)
class FetchOutcome:
    """A feed after fetch and parse: its stories, or why there are none."""

    feed: Feed
    parsed: ParsedFeed | None  # None when not modified, unchanged or failed
    state: FeedState
    error: str | None = None
    permanent: bool = False  # the error will not mend by itself (404, 410, bad URL)
    due: DueFeed | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    http_status: int | None = None
    retry_after: str | None = None
    gone: bool = False
    moved_to: str | None = None
    body_hash: str | None = None
    unchanged: bool = False  # a 200 whose body hashes as the last one parsed


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


def read_feed(
    fetcher: Fetcher,
    url: str,
    name: str,
    state: FeedState | None = None,
    parse: Parse = parse_feed,
) -> tuple[ParsedFeed | None, FeedState]:
    """Fetch and parse one feed: its stories (None when 304 Not Modified) and the
    validators for next time. Raises FetchError or ParseError."""
    fetched = fetcher.fetch(url, state)
    if fetched.content is None:
        return None, state or FeedState()
    parsed = parse(fetched.content, feed=name, base_url=fetched.url, headers=fetched.headers)
    return parsed, FeedState(fetched.etag, fetched.last_modified)


class Poller:
    """Feeds through the stages, one feed's stories stored at a time."""

    def __init__(
        self,
        *,
        store: Store,
        fetcher: Fetcher,
        matcher: Matcher,
        routes: Sequence[Route] = (),
        rule_tags: Mapping[str, Sequence[str]] | None = None,
        retry_after_error: float = 600.0,
        max_age: float = 86400.0,
        clock: Clock = utcnow,
        policy: PollPolicy | None = None,
        parse: Parse = parse_feed,
        per_host: int = 2,
        on_health: HealthHook | None = None,
        clusters: ClusterIndex | None = None,
        escalate_at: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.escalate_at = dict(escalate_at or {})  # rule id → outlets that make a follow-up
        self.clusters = clusters  # None: every story is its own event
        self.matcher = matcher
        self.routes = tuple(routes)
        self.rule_tags = dict(rule_tags or {})
        self.policy = policy or PollPolicy(retry_after_error=retry_after_error)
        self.max_age = max_age
        self.clock = clock
        self.parse = parse
        self.per_host = per_host
        self.on_health = on_health
        self._pending: list[PollRecord] = []
        self._flushed = time.monotonic()
        self._last = LastPolls()  # what a steady cycle may skip of each feed

    @property
    def retry_after_error(self) -> float:
        return self.policy.retry_after_error

    def fetch(self, feed: Feed, state: FeedState, due: DueFeed | None = None) -> FetchOutcome:
        """Fetch and parse one feed; safe to run in a worker thread (no store access)."""
        due = due or DueFeed(feed.name, state)
        url = due.moved_to or feed.url
        try:
            fetched = self.fetcher.fetch(url, state)
            base = FetchOutcome(
                feed,
                None,
                state,
                due=due,
                headers=fetched.headers,
                http_status=fetched.status,
                moved_to=fetched.moved_to,
            )
            if fetched.content is None:
                return base
            new_state = FeedState(fetched.etag, fetched.last_modified)
            digest = hashlib.sha256(fetched.content).hexdigest()
            if digest == due.body_hash:
                # The server ignored the validators, but nothing changed: not parsed again.
                return replace(base, state=new_state, body_hash=digest, unchanged=True)
            parsed = self.parse(
                fetched.content,
                feed=feed.name,
                base_url=fetched.url,
                headers=fetched.headers,
                known=self._last.item_digests(feed.name),
            )
            return replace(base, parsed=parsed, state=new_state, body_hash=digest)
        except HTTPStatusError as e:
            return FetchOutcome(
                feed,
                None,
                state,
                error=str(e),
                permanent=e.permanent,
                due=due,
                http_status=e.status,
                retry_after=e.retry_after,
                gone=e.gone,
            )
        except FetchError as e:
            return FetchOutcome(feed, None, state, error=str(e), permanent=e.permanent, due=due)
        except ParseError as e:
            return FetchOutcome(feed, None, state, error=str(e), due=due)
        except Exception as e:  # a bug in one feed's handling must not stop the others
            log.exception("feed=%s unexpected error", feed.name)
            return FetchOutcome(
                feed, None, state, error=f"internal error: {type(e).__name__}: {e}", due=due
            )

    # --- records -------------------------------------------------------------------------

    def _record(
        self, fetched: FetchOutcome, status: PollStatus, error: str | None
    ) -> datetime | None:
        """Decide the next poll (feeds.policy) and queue the record; returns when."""
        feed, now = fetched.feed, self.clock()
        before = fetched.due.failures if fetched.due else 0
        failures = before + 1 if status is PollStatus.ERROR else 0
        outcome = PollOutcome(
            status=status,
            failures=failures,
            headers=fetched.headers,
            ttl=fetched.parsed.ttl if fetched.parsed else None,
            retry_after=fetched.retry_after,
            http_status=fetched.http_status,
            permanent=fetched.permanent,
            gone=fetched.gone,
        )
        decision = decide(now, outcome, interval=feed.interval, policy=self.policy)
        self._pending.append(
            PollRecord(
                feed.name,
                now,
                status,
                decision.next_poll_at,
                error,
                fetched.state,
                health=decision.health,
                moved_to=fetched.moved_to,
                body_hash=fetched.body_hash if status is not PollStatus.ERROR else None,
            )
        )
        self._health_changed(fetched, before, decision.health, error)
        if fetched.moved_to and fetched.moved_to != (fetched.due.moved_to if fetched.due else None):
            log.warning(
                "feed=%s moved permanently to %s; polling it there from now on "
                "(change its url in feeds.yaml)",
                feed.name,
                fetched.moved_to,
            )
        self.flush(force=False)
        return decision.next_poll_at

    def _health_changed(
        self, fetched: FetchOutcome, before: int, now: FeedHealth, error: str | None
    ) -> None:
        old = health(before, gone=False, unhealthy_after=self.policy.unhealthy_after)
        turned = now in (FeedHealth.UNHEALTHY, FeedHealth.GONE) and old != now
        recovered = old is FeedHealth.UNHEALTHY and now is FeedHealth.OK
        if not (turned or recovered):
            return
        if turned:
            log.error("feed=%s is %s: %s", fetched.feed.name, now, error)
        else:
            log.warning("feed=%s recovered", fetched.feed.name)
        if self.on_health is not None:
            try:
                self.on_health(fetched.feed, old, now, error)
            except Exception:
                log.exception("feed=%s health hook failed", fetched.feed.name)

    def flush(self, *, force: bool = True) -> None:
        """Write the queued poll records in one transaction (now, or when enough are
        waiting or the last write is a second old)."""
        if not self._pending:
            return
        stale = time.monotonic() - self._flushed >= FLUSH_SECONDS
        if not (force or stale or len(self._pending) >= FLUSH_RECORDS):
            return
        records, self._pending = self._pending, []
        self._flushed = time.monotonic()
        self.store.record_polls(records)

    def record_failure(
        self, feed: Feed, error: str, state: FeedState, permanent: bool, due: DueFeed | None = None
    ) -> None:
        """Remember a failed poll and when to try again; one log line."""
        fetched = FetchOutcome(feed, None, state, error=error, permanent=permanent, due=due)
        self._log_failure(fetched, self._record(fetched, PollStatus.ERROR, error))

    def _log_failure(self, fetched: FetchOutcome, when: datetime | None) -> None:
        wait_for = (
            f"next try in {(when - self.clock()).total_seconds():.0f}s"
            if when
            else "not polled again"
        )
        log.warning(
            "feed=%s poll failed%s: %s (%s)",
            fetched.feed.name,
            " (permanent)" if fetched.permanent else "",
            fetched.error,
            wait_for,
        )

    # --- one feed ------------------------------------------------------------------------

    def ingest(self, fetched: FetchOutcome) -> PollResult:
        """Match the stories not seen before, route them, then store them with their alerts
        at once."""
        feed, now = fetched.feed, self.clock()
        if fetched.error is not None:
            self._log_failure(fetched, self._record(fetched, PollStatus.ERROR, fetched.error))
            return PollResult(feed.name, PollStatus.ERROR, error=fetched.error)
        if fetched.parsed is None:
            if fetched.unchanged:
                log.debug("feed=%s unchanged (the body parsed last time); not parsed", feed.name)
            self._record(fetched, PollStatus.NOT_MODIFIED, None)
            return PollResult(feed.name, PollStatus.NOT_MODIFIED)
        parsed = fetched.parsed
        if parsed.warning:
            log.warning("feed=%s %s", feed.name, parsed.warning)
        # Matching happens before storing, so a story is never marked seen without its
        # alerts (a crash between the two would lose them for good).
        items: list[NewStory] = []
        backlog: set[int] = set()
        # Only items new to this feed (or re-titled) since its last poll reach the store.
        fresh = self._last.fresh(feed.name, parsed.stories)
        unseen = self.store.unseen(fresh) if fresh else []
        self._retitle(feed, fresh, unseen, now)
        clusters = place_stories(self.clusters, unseen, now)
        # A rule alerts once per event and channel: what the events' earlier stories (and
        # this batch, as it goes) already told each channel.
        told = self.store.alerted_rules({c for c in clusters if c is not None}) if unseen else {}
        # Each event's outlets so far, for `escalate_at`; this batch's stories join as it goes.
        outlets: dict[int, set[str]] = (
            {c: set(o) for c, o in self.store.cluster_outlets(set(told)).items()}
            if self.escalate_at and told
            else {}
        )
        for story, cluster in zip(unseen, clusters, strict=True):
            matches = tuple(self.matcher.match(story))
            already = told.setdefault(cluster, {}) if cluster is not None else {}
            routing = route(
                story,
                matches,
                now=now,
                max_age=self.max_age,
                backlog=feed.backlog,
                routes=self.routes,
                rule_tags=self.rule_tags,
                already=already,
            )
            if routing.backlog:
                backlog.add(len(items))
            planned_alerts = routing.alerts
            if cluster is not None and self.escalate_at:
                planned_alerts = self._follow_ups(feed, cluster, already, planned_alerts, outlets)
            if cluster is not None:
                for planned in planned_alerts:
                    already.setdefault(planned.channel, set()).update(
                        m.rule_id for m in planned.matches
                    )
                if matches and not planned_alerts and not routing.backlog:
                    log.info(
                        "feed=%s story=%r joins event #%d, already alerted: no new alert",
                        feed.name,
                        story.title[:80],
                        cluster,
                    )
            items.append(NewStory(story, matches, planned_alerts, cluster_id=cluster))
        added = self.store.add_stories(items, now) if items else []
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
        self._last.remember(feed.name, parsed)
        # A malformed but readable feed keeps its warning where `monitor feeds` shows it.
        self._record(fetched, PollStatus.OK, parsed.warning)
        log.log(
            logging.INFO if added else logging.DEBUG,
            "feed=%s polled: %s, %d new, %s queued",
            feed.name,
            plural(parsed.items, "story", "stories"),
            len(added),
            plural(alerts, "alert"),
        )
        return PollResult(feed.name, PollStatus.OK, parsed.items, len(added), alerts, backlog=old)

    def _retitle(
        self, feed: Feed, stories: Sequence[Story], unseen: Sequence[Story], now: datetime
    ) -> None:
        """Stories seen before that came back under a new headline: the stored title follows,
        the old one is kept, and nobody is alerted again."""
        new = set(map(id, unseen))
        changed = self.store.retitle([s for s in stories if id(s) not in new], now)
        if changed:
            log.info("feed=%s %s re-titled", feed.name, plural(changed, "story", "stories"))

    def _follow_ups(
        self,
        feed: Feed,
        cluster: int,
        told: Mapping[str, Collection[str]],
        alerts: tuple[PlannedAlert, ...],
        outlets: dict[int, set[str]],
    ) -> tuple[PlannedAlert, ...]:
        planned, why = with_escalations(
            self.matcher.rules, self.escalate_at, feed.title, cluster, told, alerts, outlets
        )
        if why is not None:
            log.info("feed=%s event #%d %s: follow-up sent", feed.name, cluster, why)
        return planned

    # --- a cycle -------------------------------------------------------------------------

    def poll(
        self,
        feeds: Sequence[Feed],
        *,
        workers: int = 16,
        stop: threading.Event | None = None,
        due_only: bool = False,
    ) -> list[PollResult]:
        """Fetch feeds in a pool of `workers` threads (at most `per_host` at once per host)
        and ingest each as it arrives: every given feed, or with `due_only` those whose next
        poll time has come. A gone feed (410) is not polled. When `stop` is set, feeds not
        yet started are left for next time."""
        stop = stop or threading.Event()
        by_name = {feed.name: feed for feed in feeds}
        # One call for the due feeds and their validators, before any worker starts: worker
        # threads never touch the store.
        due = [
            (by_name[d.name], d)
            for d in self.store.due_feeds(self.clock() if due_only else None)
            if d.name in by_name
        ]
        results: list[PollResult] = []
        if not due:
            return results
        queue = HostQueue(
            ((host_of(d.moved_to or feed.url), (feed, d)) for feed, d in due),
            total=workers,
            per_host=self.per_host,
        )
        running: dict[Future[FetchOutcome], str] = {}
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
                while len(queue) or running:
                    if stop.is_set():
                        queue.drop_waiting()
                    for host, (feed, d) in queue.ready():
                        running[pool.submit(self.fetch, feed, d.state, d)] = host
                    if not running:
                        break
                    finished, _ = wait(running, timeout=FLUSH_SECONDS, return_when=FIRST_COMPLETED)
                    for future in finished:
                        queue.done(running.pop(future))
                        results.append(self._ingest_safely(future.result()))
                    if not finished:
                        self.flush(force=False)
        finally:
            try:
                self.flush()
            except Exception:
                log.exception("poll records could not be written")
        return results

    def _ingest_safely(self, fetched: FetchOutcome) -> PollResult:
        try:
            return self.ingest(fetched)
        except Exception as e:  # one feed's bad luck with the store must not stop the rest
            log.exception("feed=%s could not be stored", fetched.feed.name)
            error = f"internal error: {type(e).__name__}: {e}"
            try:  # and must not make it due again on every tick
                self.record_failure(fetched.feed, error, fetched.state, False, fetched.due)
            except Exception:
                log.exception("feed=%s could not record its failure", fetched.feed.name)
            return PollResult(fetched.feed.name, PollStatus.ERROR, error=error)

    def poll_due(
        self, feeds: Sequence[Feed], *, workers: int = 16, stop: threading.Event | None = None
    ) -> list[PollResult]:
        """Poll the feeds whose next poll time has come."""
        return self.poll(feeds, workers=workers, stop=stop, due_only=True)
