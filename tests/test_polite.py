"""Polite polling against real loopback servers: unchanged bodies are not parsed again,
permanent redirects are remembered, 410 stops polling, Retry-After is kept, failures turn a
feed unhealthy and back, at most N requests at once in all and M per host, connections are
reused, and a cycle's poll records are written in one go."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.feeds.fetch import Fetcher, FetchLimits
from monitor.feeds.parse import parse_feed
from monitor.feeds.policy import FeedHealth, PollPolicy
from monitor.models import Feed, ParsedFeed, PollStatus, Story
from monitor.pipeline.poll import Poller
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store import PollRecord, Store
from monitor.store.sqlite import SQLiteStore

LIMITS = FetchLimits(connect_timeout=5.0, read_timeout=5.0, total_timeout=5.0, max_bytes=100_000)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def rss(*guids: str, ttl: str = "") -> bytes:
    items = "".join(f"<item><title>Story {g}</title><guid>{g}</guid></item>" for g in guids)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{ttl}{items}'
        "</channel></rss>"
    ).encode()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class CountingParse:
    """parse_feed, counting its calls and remembering what each was told it knew (the
    feed's last item digests) and what it made."""

    def __init__(self) -> None:
        self.calls = 0
        self.known: list[frozenset[int]] = []
        self.made: list[ParsedFeed] = []

    def __call__(
        self,
        data: bytes,
        *,
        feed: str,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        known: Collection[int] = (),
    ) -> ParsedFeed:
        self.calls += 1
        self.known.append(frozenset(known))
        made = parse_feed(data, feed=feed, base_url=base_url, headers=headers, known=known)
        self.made.append(made)
        return made


@pytest.fixture
def store(backend: Store) -> Store:
    return backend


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LIMITS) as f:
        yield f


def make_poller(store: Store, fetcher: Fetcher, clock: Clock, **kw: object) -> Poller:
    rule = Rule("r", "R", parse_query("Story").node, ("console",))
    return Poller(store=store, fetcher=fetcher, matcher=Matcher([rule]), clock=clock, **kw)  # type: ignore[arg-type]


def test_a_body_that_has_not_changed_is_not_parsed_again(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher
) -> None:
    # The server sends no validators at all, so every poll is a 200 with the whole body.
    bodies = [rss("a"), rss("a"), rss("a", "b")]
    httpserver.expect_request("/f").respond_with_handler(
        lambda _r: Response(bodies.pop(0), mimetype="application/rss+xml")
    )
    feed = Feed("f", httpserver.url_for("/f"), "F", 60)
    store.sync_feeds([feed])
    parse, clock = CountingParse(), Clock()
    poller = make_poller(store, fetcher, clock, parse=parse)

    statuses = [poller.poll([feed])[0].status for _ in range(3)]

    assert statuses == [PollStatus.OK, PollStatus.NOT_MODIFIED, PollStatus.OK]
    assert parse.calls == 2
    assert [s.stories for s in store.feed_statuses()] == [2]


def test_a_permanent_redirect_is_remembered_logged_once_and_shown(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/old").respond_with_data(
        b"", status=301, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data(rss("a"))
    feed = Feed("f", httpserver.url_for("/old"), "F", 60)
    store.sync_feeds([feed])
    poller = make_poller(store, fetcher, Clock())

    with caplog.at_level(logging.WARNING, logger="monitor.pipeline.poll"):
        poller.poll([feed])
        poller.poll([feed])

    assert [r.path for r, _ in httpserver.log] == ["/old", "/new", "/new"]
    moved = [r.message for r in caplog.records if "moved permanently" in r.message]
    assert moved == [
        f"feed=f moved permanently to {httpserver.url_for('/new')}; polling it "
        "there from now on (change its url in feeds.yaml)"
    ]
    [status] = store.feed_statuses()
    assert (status.url, status.moved_to) == (feed.url, httpserver.url_for("/new"))
    # Changing the URL in feeds.yaml makes it a new feed: the remembered move is forgotten.
    store.sync_feeds([Feed("f", httpserver.url_for("/new"), "F", 60)])
    assert store.feed_statuses()[0].moved_to is None


def test_a_temporary_redirect_is_followed_and_the_old_url_kept(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/old").respond_with_data(
        b"", status=302, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data(rss("a"))
    feed = Feed("f", httpserver.url_for("/old"), "F", 60)
    store.sync_feeds([feed])
    poller = make_poller(store, fetcher, Clock())
    poller.poll([feed])
    poller.poll([feed])
    assert [r.path for r, _ in httpserver.log] == ["/old", "/new", "/old", "/new"]
    assert store.feed_statuses()[0].moved_to is None


def test_410_gone_stops_polling_until_the_url_changes(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/gone").respond_with_data(b"", status=410)
    feed = Feed("f", httpserver.url_for("/gone"), "F", 60)
    store.sync_feeds([feed])
    poller = make_poller(store, fetcher, Clock())

    [result] = poller.poll([feed])

    assert result.error == "HTTP 410 GONE"
    [status] = store.feed_statuses()
    assert (status.health, status.next_poll_at) == (FeedHealth.GONE, None)
    assert poller.poll([feed]) == []  # poll --once skips it too
    assert store.due_feeds(NOW + timedelta(days=365)) == []
    assert len(httpserver.log) == 1
    store.sync_feeds([Feed("f", httpserver.url_for("/elsewhere"), "F", 60)])
    assert [d.name for d in store.due_feeds(NOW)] == ["f"]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_at_least(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher, status: int
) -> None:
    httpserver.expect_request("/busy").respond_with_data(
        b"slow down", status=status, headers={"Retry-After": "7200"}
    )
    feed = Feed("f", httpserver.url_for("/busy"), "F", 60)
    store.sync_feeds([feed])
    clock = Clock()
    poller = make_poller(store, fetcher, clock, policy=PollPolicy(jitter=0.5))
    poller.poll([feed])
    [row] = store.feed_statuses()
    assert row.next_poll_at is not None
    assert NOW + timedelta(seconds=7200) <= row.next_poll_at <= NOW + timedelta(seconds=10800)
    assert store.due_feeds(NOW + timedelta(seconds=7199)) == []


def test_ttl_and_max_age_stretch_the_interval(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/ttl").respond_with_data(rss("a", ttl="<ttl>30</ttl>"))
    httpserver.expect_request("/cc").respond_with_data(
        rss("b"), headers={"Cache-Control": "max-age=900"}
    )
    feeds = [
        Feed("ttl", httpserver.url_for("/ttl"), "T", 60),
        Feed("cc", httpserver.url_for("/cc"), "C", 60),
    ]
    store.sync_feeds(feeds)
    make_poller(store, fetcher, Clock()).poll(feeds)
    nexts = {s.name: s.next_poll_at for s in store.feed_statuses()}
    assert nexts == {"ttl": NOW + timedelta(minutes=30), "cc": NOW + timedelta(seconds=900)}


def test_failures_back_off_turn_the_feed_unhealthy_and_success_recovers_it(
    httpserver: HTTPServer, store: Store, fetcher: Fetcher
) -> None:
    answers = [500, 500, 500, 200]
    httpserver.expect_request("/f").respond_with_handler(
        lambda _r: Response(
            rss("a") if answers[0] == 200 else b"",
            status=answers.pop(0),
            mimetype="application/rss+xml",
        )
    )
    feed = Feed("f", httpserver.url_for("/f"), "F", 60)
    store.sync_feeds([feed])
    clock = Clock()
    changes: list[tuple[str, str, str | None]] = []
    poller = make_poller(
        store,
        fetcher,
        clock,
        policy=PollPolicy(retry_after_error=600.0, unhealthy_after=3),
        on_health=lambda f, old, new, err: changes.append((old.value, new.value, err)),
    )
    seen = []
    polled_at = []
    for _ in range(4):
        polled_at.append(clock.now)
        poller.poll([feed])
        [row] = store.feed_statuses()
        assert row.next_poll_at is not None
        seen.append((row.health, row.failures, (row.next_poll_at - clock.now).total_seconds()))
        clock.now = row.next_poll_at

    assert seen == [
        (FeedHealth.FAILING, 1, 600.0),
        (FeedHealth.FAILING, 2, 1200.0),
        (FeedHealth.UNHEALTHY, 3, 2400.0),
        (FeedHealth.OK, 0, 60.0),  # a success resets the back-off
    ]
    # One call when it turned unhealthy, one when it recovered: the operators' channel hook.
    assert changes == [
        ("failing", "unhealthy", "HTTP 500 INTERNAL SERVER ERROR"),
        ("unhealthy", "ok", None),
    ]
    assert store.feed_statuses()[0].last_success_at == polled_at[-1]


class Counting(BaseHTTPRequestHandler):
    """Answers every path with a small feed after a pause, counting requests in flight per
    Host header and the connections it was asked on."""

    protocol_version = "HTTP/1.1"  # keep-alive
    lock = threading.Lock()
    in_flight: ClassVar[dict[str, int]] = {}
    peak: ClassVar[dict[str, int]] = {}
    peak_total = 0
    connections: ClassVar[set[tuple[str, int]]] = set()
    pause = 0.15

    def do_GET(self) -> None:
        cls = type(self)
        host = self.headers["Host"]
        with cls.lock:
            cls.connections.add(self.client_address)
            cls.in_flight[host] = cls.in_flight.get(host, 0) + 1
            cls.peak[host] = max(cls.peak.get(host, 0), cls.in_flight[host])
            cls.peak_total = max(cls.peak_total, sum(cls.in_flight.values()))
        time.sleep(cls.pause)
        body = rss(self.path.strip("/"))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with cls.lock:
            cls.in_flight[host] -= 1

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def counting() -> Iterator[Sequence[ThreadingHTTPServer]]:
    Counting.in_flight.clear()
    Counting.peak.clear()
    Counting.connections.clear()
    Counting.peak_total = 0
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Counting) for _ in range(3)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_requests_are_limited_in_all_and_per_host_and_hosts_take_turns(
    counting: Sequence[ThreadingHTTPServer], tmp_path: Path
) -> None:
    feeds = [
        Feed(f"h{h}f{i}", f"http://127.0.0.1:{s.server_address[1]}/h{h}f{i}", "x", 60)
        for h, s in enumerate(counting)
        for i in range(8)
    ]
    store = SQLiteStore(tmp_path / "m.db")
    store.sync_feeds(feeds)
    with Fetcher(LIMITS) as fetcher:
        poller = make_poller(store, fetcher, Clock(), per_host=2)
        results = poller.poll(feeds, workers=5)
    store.close()

    assert all(r.status is PollStatus.OK for r in results) and len(results) == 24
    assert max(Counting.peak.values()) == 2  # never more than two at once on one host
    assert len(Counting.peak) == 3 and Counting.peak_total == 5  # and five in all
    # Keep-alive: far fewer connections than requests (at most per_host per host, plus
    # one more where a worker's turn ended just as a new request began).
    assert len(Counting.connections) <= 3 * 3


def test_a_cycles_poll_records_are_written_together(
    counting: Sequence[ThreadingHTTPServer], tmp_path: Path
) -> None:
    class Recording(SQLiteStore):
        batches: ClassVar[list[int]] = []

        def record_poll(self, record: PollRecord) -> None:
            raise AssertionError("one commit per feed")

        def record_polls(self, records: Sequence[PollRecord]) -> None:
            self.batches.append(len(records))
            super().record_polls(records)

    Counting.pause = 0.0
    port = counting[0].server_address[1]
    feeds = [Feed(f"f{i}", f"http://127.0.0.1:{port}/f{i}", "x", 60) for i in range(40)]
    store = Recording(tmp_path / "m.db")
    store.sync_feeds(feeds)
    try:
        with Fetcher(LIMITS) as fetcher:
            make_poller(store, fetcher, Clock(), per_host=4).poll(feeds, workers=8)
        assert sum(store.batches) == 40
        assert len(store.batches) <= 3  # a batch a second at most, and the rest at the end
        assert all(s.last_status == "ok" for s in store.feed_statuses())
    finally:
        Counting.pause = 0.15
        store.close()


def test_only_items_not_in_the_feeds_last_document_reach_the_store(
    httpserver: HTTPServer, tmp_path: Path, fetcher: Fetcher
) -> None:
    class Asking(SQLiteStore):
        asked: ClassVar[list[list[str]]] = []

        def unseen(self, stories: Sequence[Story]) -> list[Story]:
            self.asked.append([s.guid for s in stories])
            return super().unseen(stories)

    bodies = [rss("a", "b", "c"), rss("d", "a", "b", "c"), rss("e", "d", "a", "b")]
    httpserver.expect_request("/f").respond_with_handler(
        lambda _r: Response(bodies.pop(0), mimetype="application/rss+xml")
    )
    feed = Feed("f", httpserver.url_for("/f"), "F", 60)
    store = Asking(tmp_path / "m.db")
    store.sync_feeds([feed])
    try:
        poller = make_poller(store, fetcher, Clock())
        new = [poller.poll([feed])[0].new_stories for _ in range(3)]
        assert new == [3, 1, 1]
        # The store is asked about each item once, when it first appears in the feed.
        assert store.asked == [["a", "b", "c"], ["d"], ["e"]]
    finally:
        store.close()


def test_idle_connections_are_kept_per_host_and_the_least_recent_hosts_closed(
    counting: Sequence[ThreadingHTTPServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Counting, "pause", 0.0)
    ports = [s.server_address[1] for s in counting]
    limits = FetchLimits(connect_timeout=5.0, read_timeout=5.0, keepalive_hosts=2)

    with Fetcher(limits) as fetcher:
        for port in [ports[0], ports[1], ports[0], ports[1]]:
            fetcher.fetch(f"http://127.0.0.1:{port}/a")
        # Two hosts kept: each reused its one connection.
        assert len(Counting.connections) == 2
        fetcher.fetch(f"http://127.0.0.1:{ports[2]}/a")  # a third host: the first is let go
        for port in [ports[1], ports[2], ports[0]]:
            fetcher.fetch(f"http://127.0.0.1:{port}/a")

    # The second and third hosts reused theirs; only the first connected again.
    assert len(Counting.connections) == 4
