"""The poll job: due feeds → fetch and parse (in a pool of threads) → identity (the store's
`unseen`) → match → route → store, stories and their alerts in one transaction.

It owns no rule of its own beyond the order of the stages and what to do when one fails;
the rules are pure modules (dedupe, delivery.route, timing) and the adapters come in as
arguments. Worker threads fetch and parse only; storing and matching happen on the calling
thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime

from monitor.delivery.route import Route, route
from monitor.errors import FetchError, ParseError
from monitor.fetch import Fetcher
from monitor.models import Feed, FeedState, NewStory, ParsedFeed, PollStatus
from monitor.parse import parse_feed
from monitor.pipeline.clock import Clock, utcnow
from monitor.rules.matcher import Matcher
from monitor.store import PollRecord, Store
from monitor.text import plural
from monitor.timing import next_poll

log = logging.getLogger(__name__)


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
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.matcher = matcher
        self.routes = tuple(routes)
        self.rule_tags = dict(rule_tags or {})
        self.retry_after_error = retry_after_error
        self.max_age = max_age
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
            routing = route(
                story,
                matches,
                now=now,
                max_age=self.max_age,
                backlog=feed.backlog,
                routes=self.routes,
                rule_tags=self.rule_tags,
            )
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
