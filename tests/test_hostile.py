"""Hostile feeds and hostile addresses, each against a real server on loopback: the poll
survives, the feed's error is recorded in plain words, the other feeds of the cycle are
polled and stored while a hung one is still being fetched, and what can be read is read."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from monitor.errors import FetchError, ParseError
from monitor.feeds.fetch import Fetcher, FetchLimits
from monitor.feeds.guards import AddressPolicy
from monitor.feeds.parse import parse_feed
from monitor.models import Feed, PollStatus
from monitor.pipeline.poll import Poller
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store import Store
from monitor.store.memory import MemoryStore

LIMITS = FetchLimits(connect_timeout=5.0, read_timeout=5.0, total_timeout=5.0, max_bytes=200_000)
SLACK = 2.0

RSS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
    "{items}</channel></rss>"
)


def rss(title: str, *items: str) -> bytes:
    return RSS.format(title=title, items="".join(items)).encode()


def item(title: str, guid: str, extra: str = "") -> str:
    return f"<item><title>{title}</title><guid>{guid}</guid>{extra}</item>"


GOOD = rss("Good", item("Clashes in Misrata", "good-1"))


# --- a server that misbehaves at the socket level -------------------------------------------

Script = Callable[[socket.socket, threading.Event], None]


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accepts, reads the request, never answers."""
    stop.wait(30)


def drip(conn: socket.socket, stop: threading.Event) -> None:
    """A byte a second, forever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n")
    while not stop.wait(1.0):
        conn.sendall(b"<")


def two_gigabytes(conn: socket.socket, stop: threading.Event) -> None:
    """Says 2 GB is coming, and sends zeros as fast as the client takes them."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        b"Content-Length: 2147483648\r\n\r\n"
    )
    block = b"\0" * 65536
    while not stop.is_set():
        conn.sendall(block)


def endless(conn: socket.socket, stop: threading.Event) -> None:
    """A body of no declared length that never ends."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss>")
    block = b"x" * 65536
    while not stop.is_set():
        conn.sendall(block)


class Misbehaving:
    """One loopback socket; the request's path names the script that answers it."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5.0)
                request = conn.recv(65536)
                path = request.split(b" ", 2)[1].decode("latin-1")
                self.scripts[path](conn, self.stop)
            except OSError:
                pass  # the client hung up: what these tests expect of it

    def close(self) -> None:
        self.stop.set()
        self.acceptor.join(5)
        for thread in self.threads:
            thread.join(5)
        self.listener.close()
        assert not any(t.is_alive() for t in self.threads)


@pytest.fixture
def bad_server() -> Iterator[Misbehaving]:
    server = Misbehaving(
        {"/silent": silent, "/drip": drip, "/2gb": two_gigabytes, "/endless": endless}
    )
    yield server
    server.close()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LIMITS) as f:
        yield f


def poller(store: Store, fetcher: Fetcher) -> Poller:
    rule = Rule("misrata", "Misrata", parse_query("Misrata").node, ("console",))
    return Poller(store=store, fetcher=fetcher, matcher=Matcher([rule]))


# --- a hung feed costs its own deadline, never the cycle's ---------------------------------


def test_hung_and_dripping_feeds_cost_their_own_deadline_while_the_others_are_stored(
    bad_server: Misbehaving, httpserver: HTTPServer
) -> None:
    limits = replace(LIMITS, total_timeout=5.0, read_timeout=10.0)
    for i in range(6):
        body = rss(f"Good {i}", item(f"Clashes in Misrata {i}", f"good-{i}"))
        httpserver.expect_request(f"/good{i}.xml").respond_with_data(body)
    feeds = [
        Feed("hung", bad_server.url("/silent"), "Hung", 60),
        Feed("drip", bad_server.url("/drip"), "Drip", 60),
        *(Feed(f"good{i}", httpserver.url_for(f"/good{i}.xml"), f"Good {i}", 60) for i in range(6)),
    ]
    store = MemoryStore()
    store.sync_feeds(feeds)
    with Fetcher(limits) as fetcher:
        poll = poller(store, fetcher)
        results: list[object] = []
        started = time.monotonic()
        worker = threading.Thread(target=lambda: results.extend(poll.poll(feeds, workers=4)))
        worker.start()
        # The good feeds' stories (and their alerts) are stored while the two hang.
        while len(list(store.stories_since(datetime(2000, 1, 1, tzinfo=UTC)))) < 6:
            assert time.monotonic() - started < limits.total_timeout, "waited for the hung"
            time.sleep(0.05)
        assert worker.is_alive()
        worker.join(limits.total_timeout + 2 * SLACK)
        elapsed = time.monotonic() - started

    # Both hang at once, each for its own deadline: the cycle takes one deadline, not two.
    assert limits.total_timeout <= elapsed < limits.total_timeout + SLACK
    statuses = {s.name: s for s in store.feed_statuses()}
    for name in ("hung", "drip"):
        assert statuses[name].last_error == "no complete response within 5s"
        assert statuses[name].health == "failing"
    assert all(statuses[f"good{i}"].health == "ok" for i in range(6))
    assert store.pending_alerts(datetime.now(UTC))  # queued for the delivery job


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/2gb", "response of 2147483648 bytes exceeds the 200000 cap"),
        ("/endless", "response exceeds the 200000-byte cap; cut off"),
    ],
)
def test_a_huge_body_is_refused_without_reading_it(
    bad_server: Misbehaving, fetcher: Fetcher, path: str, error: str
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(bad_server.url(path))
    assert str(caught.value) == error
    assert time.monotonic() - started < SLACK


def test_a_gzip_bomb_is_stopped_on_its_unpacked_bytes(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    bomb = gzip.compress(b"<rss>" + b" " * 50_000_000)  # 50 MB unpacked, ~50 kB sent
    assert len(bomb) < LIMITS.max_bytes
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="response exceeds the 200000-byte cap"):
        fetcher.fetch(httpserver.url_for("/bomb"))


# --- hostile documents, served -------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><rss version="2.0"><channel><title>&lol9;</title>'
    + b"<item><title>&lol9;</title><guid>x</guid></item></channel></rss>"
)
QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "'
    + b"A" * 100_000
    + b'">]><rss version="2.0"><channel><title>t</title><item><title>'
    + b"&a;" * 1_000
    + b"</title><guid>q</guid></item></channel></rss>"
)


def xxe(secret: Path) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "'
        + secret.as_uri().encode()
        + b'">]><rss version="2.0"><channel><title>t</title>'
        b"<item><title>&xxe;</title><guid>xxe</guid></item></channel></rss>"
    )


def test_entity_attacks_are_refused_in_plain_words_and_read_nothing(
    httpserver: HTTPServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-token")
    bodies = {"laughs": BILLION_LAUGHS, "quadratic": QUADRATIC, "xxe": xxe(secret)}
    for name, body in bodies.items():
        httpserver.expect_request(f"/{name}").respond_with_data(body)
    feeds = [Feed(n, httpserver.url_for(f"/{n}"), n, 60) for n in bodies]
    feeds.append(Feed("good", httpserver.url_for("/good"), "Good", 60))
    httpserver.expect_request("/good").respond_with_data(GOOD)
    store = MemoryStore()
    store.sync_feeds(feeds)

    results = {r.feed: r for r in poller(store, fetcher).poll(feeds)}

    for name in bodies:
        assert results[name].status is PollStatus.ERROR
        assert results[name].error == (
            "the document declares XML entities (<!ENTITY); refused as unsafe"
        )
    assert results["good"].new_stories == 1
    stored = list(store.stories_since(datetime(2000, 1, 1, tzinfo=UTC)))
    assert not any("the-secret-token" in s.story.text for s in stored)


def test_an_html_page_is_not_a_feed_and_names_the_feed_it_advertises(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>News</title>"
        b'<link rel="stylesheet" href="/s.css">'
        b'<link rel="alternate" type="application/rss+xml" title="RSS" href="/feeds/all.rss">'
        b"</head><body><h1>News</h1></body></html>"
    )
    httpserver.expect_request("/news").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/bare").respond_with_data(
        b"<html><body>403 blocked</body></html>", content_type="text/html"
    )
    feeds = [
        Feed("news", httpserver.url_for("/news"), "News", 60),
        Feed("bare", httpserver.url_for("/bare"), "Bare", 60),
    ]
    store = MemoryStore()
    store.sync_feeds(feeds)

    results = {r.feed: r for r in poller(store, fetcher).poll(feeds)}

    assert results["news"].error == (
        f"not a feed: an HTML page; it advertises the feed {httpserver.url_for('/feeds/all.rss')}"
    )
    assert results["bare"].error == "not a feed: an HTML page"


@pytest.mark.parametrize(
    ("status", "body", "error", "permanent"),
    [
        (200, b"", "the document is empty", False),
        (200, b"   \n", "the document is empty", False),
        (500, b"oops", "HTTP 500 INTERNAL SERVER ERROR", False),
        (404, b"no", "HTTP 404 NOT FOUND", True),
    ],
)
def test_empty_and_failing_answers_are_errors_in_plain_words(
    httpserver: HTTPServer,
    fetcher: Fetcher,
    status: int,
    body: bytes,
    error: str,
    permanent: bool,
) -> None:
    httpserver.expect_request("/f").respond_with_data(body, status=status)
    feed = Feed("f", httpserver.url_for("/f"), "F", 60)
    store = MemoryStore()
    store.sync_feeds([feed])
    poll = poller(store, fetcher)

    [result] = poll.poll([feed])

    assert (result.status, result.error) == (PollStatus.ERROR, error)
    assert poll.fetch(feed, store.due_feeds(None)[0].state).permanent is permanent
    [status_row] = store.feed_statuses()
    assert status_row.last_error == error and status_row.failures == 1


def test_items_without_guid_link_or_title_and_odd_dates_are_read(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    body = rss(
        "Odd",
        "<item><title>No guid</title><link>https://ex.org/a</link></item>",
        "<item><title>Neither guid nor link</title><description>Misrata</description></item>",
        "<item><description>No title at all</description><guid>t1</guid></item>",
        item("From the future", "f1", "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate>"),
        item("From 1970", "e1", "<pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate>"),
    )
    httpserver.expect_request("/odd").respond_with_data(body)
    feed = Feed("odd", httpserver.url_for("/odd"), "Odd", 60)
    store = MemoryStore()
    store.sync_feeds([feed])

    [result] = poller(store, fetcher).poll([feed])

    assert (result.status, result.new_stories) == (PollStatus.OK, 5)
    stories = {
        s.story.title: s.story for s in store.stories_since(datetime(2000, 1, 1, tzinfo=UTC))
    }
    assert stories["No guid"].guid == "https://ex.org/a"
    assert stories["Neither guid nor link"].guid.startswith("sha1:")
    assert stories[""].guid == "t1"
    assert stories["From the future"].published == datetime(2100, 1, 1, tzinfo=UTC)
    assert stories["From 1970"].published == datetime(1970, 1, 1, tzinfo=UTC)


def test_every_odd_corpus_file_is_read_or_refused_in_words(
    corpus: Path, httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    files = sorted((corpus / "odd").iterdir())
    assert len(files) > 40
    feeds = []
    for i, path in enumerate(files):
        httpserver.expect_request(f"/odd/{i}").respond_with_data(path.read_bytes())
        feeds.append(Feed(f"odd{i}", httpserver.url_for(f"/odd/{i}"), path.name, 60))
    big = replace(LIMITS, max_bytes=5_000_000)
    store = MemoryStore()
    store.sync_feeds(feeds)
    with Fetcher(big) as wide:
        results = {r.feed: r for r in poller(store, wide).poll(feeds, workers=8)}

    assert set(results) == {f.name for f in feeds}
    for feed in feeds:
        result = results[feed.name]
        if result.status is PollStatus.ERROR:
            # Plain words, never a traceback or an internal error.
            assert result.error and not result.error.startswith("internal error"), feed.title
        else:
            assert result.stories >= 0
    read = sum(1 for r in results.values() if r.status is PollStatus.OK)
    assert read >= len(files) - 12  # HTML pages, JSON feeds, empty and truncated files
    by_title = {f.title: results[f.name] for f in feeds}
    assert by_title["furbo__html-page-instead-of-feed.html"].error is not None
    assert "not a feed" in (by_title["furbo__html-page-instead-of-feed.html"].error or "")
    assert by_title["bbc__empty-zero-byte-response_2020-04-28.xml"].error == (
        "the document is empty"
    )


def test_a_page_with_feed_autodiscovery_in_the_corpus_names_its_feed(corpus: Path) -> None:
    page = (corpus / "odd" / "daringfireball__html-with-feed-autodiscovery.html").read_bytes()
    with pytest.raises(ParseError, match=r"not a feed: an HTML page; it advertises the feed"):
        parse_feed(page, feed="df", base_url="https://daringfireball.net/")


# --- redirects -----------------------------------------------------------------------------


def chain(httpserver: HTTPServer, hops: int, status: int = 302) -> str:
    for i in range(hops):
        httpserver.expect_request(f"/r{i}").respond_with_data(
            b"", status=status, headers={"Location": f"/r{i + 1}"}
        )
    httpserver.expect_request(f"/r{hops}").respond_with_data(GOOD)
    return httpserver.url_for("/r0")


def test_ten_redirects_are_followed_and_eleven_are_an_error(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    assert fetcher.fetch(chain(httpserver, 10)).content == GOOD
    httpserver.clear()
    with pytest.raises(FetchError, match="more than 10 redirects"):
        fetcher.fetch(chain(httpserver, 11))
    assert len(httpserver.log) == 11


def test_a_redirect_loop_is_an_error(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/a").respond_with_data(b"", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data(b"", status=307, headers={"Location": "/a"})
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher.fetch(httpserver.url_for("/a"))
    assert len(httpserver.log) == 2


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "javascript:alert(1)"]
)
def test_a_redirect_to_anything_but_http_is_refused(
    httpserver: HTTPServer, fetcher: Fetcher, location: str
) -> None:
    httpserver.expect_request("/x").respond_with_data(
        b"", status=301, headers={"Location": location}
    )
    with pytest.raises(FetchError, match="only http and https are followed") as caught:
        fetcher.fetch(httpserver.url_for("/x"))
    assert caught.value.permanent


@pytest.mark.parametrize(
    ("statuses", "moved"),
    [
        ((301,), "/m1"),
        ((308,), "/m1"),
        ((301, 308), "/m2"),
        ((302,), None),
        ((307,), None),
        ((301, 307), "/m1"),  # moved for good to /m1, which sends us on for now
        ((302, 301), None),  # a temporary hop first: the feed's own URL stays
    ],
)
def test_only_permanent_redirects_from_the_start_move_the_feed(
    httpserver: HTTPServer, fetcher: Fetcher, statuses: tuple[int, ...], moved: str | None
) -> None:
    for i, status in enumerate(statuses):
        httpserver.expect_request(f"/m{i}").respond_with_data(
            b"", status=status, headers={"Location": f"/m{i + 1}"}
        )
    last = f"/m{len(statuses)}"
    httpserver.expect_request(last).respond_with_data(GOOD)
    got = fetcher.fetch(httpserver.url_for("/m0"))
    assert got.url == httpserver.url_for(last)
    assert got.moved_to == (httpserver.url_for(moved) if moved else None)


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "deny_private", "refused"),
    [
        ("169.254.169.254", False, "link-local"),
        ("169.254.0.1", False, "link-local"),
        ("fe80::1", False, "link-local"),
        ("::ffff:169.254.169.254", False, "link-local"),
        ("127.0.0.1", False, None),
        ("10.1.2.3", False, None),
        ("192.168.0.10", False, None),
        ("::1", False, None),
        ("93.184.215.14", False, None),
        ("127.0.0.1", True, "private or loopback"),
        ("10.1.2.3", True, "private or loopback"),
        ("172.16.5.4", True, "private or loopback"),
        ("::1", True, "private or loopback"),
        ("fd00::1", True, "private or loopback"),
        ("0.0.0.0", True, "private or loopback"),
        ("93.184.215.14", True, None),
        ("224.0.0.1", False, "multicast"),
    ],
)
def test_the_address_policy(address: str, deny_private: bool, refused: str | None) -> None:
    why = AddressPolicy(deny_private=deny_private).refusal(address)
    if refused is None:
        assert why is None
    else:
        assert why is not None and refused in why


def test_the_cloud_metadata_address_is_never_fetched(fetcher: Fetcher) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.fetch("http://169.254.169.254/latest/meta-data/")
    assert str(caught.value) == (
        "address refused: 169.254.169.254 resolves to 169.254.169.254 is a link-local address "
        "(cloud metadata lives there); always refused"
    )
    assert caught.value.permanent
    assert time.monotonic() - started < SLACK  # refused before any connection is tried


def test_a_redirect_to_the_metadata_address_is_refused_on_that_hop(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/innocent").respond_with_data(
        b"", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(FetchError, match="link-local"):
        fetcher.fetch(httpserver.url_for("/innocent"))


def test_deny_private_refuses_loopback_before_sending_anything(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(GOOD)
    with Fetcher(replace(LIMITS, deny_private=True)) as strict:
        with pytest.raises(FetchError, match=r"refused by poll\.deny_private"):
            strict.fetch(httpserver.url_for("/feed"))
        with pytest.raises(FetchError, match=r"refused by poll\.deny_private"):
            strict.fetch(f"http://localhost:{httpserver.port}/feed")
    assert httpserver.log == []


def test_loopback_is_allowed_by_default_even_after_a_redirect_to_another_port(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        other.expect_request("/feed").respond_with_data(GOOD)
        httpserver.expect_request("/go").respond_with_data(
            b"", status=302, headers={"Location": other.url_for("/feed")}
        )
        assert fetcher.fetch(httpserver.url_for("/go")).content == GOOD
    finally:
        other.stop()


# --- local paths ---------------------------------------------------------------------------


def test_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path, fetcher: Fetcher) -> None:
    fifo = tmp_path / "feed.fifo"
    os.mkfifo(fifo)
    cases = {str(fifo): "it is a FIFO, not a file", "/dev/zero": "it is a device, not a file"}
    cases[fifo.as_uri()] = "it is a FIFO, not a file"
    for url, why in cases.items():
        started = time.monotonic()
        with pytest.raises(FetchError, match=why) as caught:
            fetcher.fetch(url)
        assert caught.value.permanent
        assert time.monotonic() - started < SLACK


def test_a_fifo_among_the_feeds_stops_nothing(tmp_path: Path, fetcher: Fetcher) -> None:
    fifo = tmp_path / "feed.fifo"
    os.mkfifo(fifo)
    good = tmp_path / "good.xml"
    good.write_bytes(GOOD)
    feeds = [Feed("fifo", str(fifo), "FIFO", 60), Feed("good", str(good), "Good", 60)]
    store = MemoryStore()
    store.sync_feeds(feeds)
    results = {r.feed: r for r in poller(store, fetcher).poll(feeds)}
    assert results["good"].new_stories == 1
    assert results["fifo"].error == f"cannot read {fifo}: it is a FIFO, not a file"


def test_poll_once_delivers_while_a_hung_feed_is_still_being_fetched(
    bad_server: Misbehaving, tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(GOOD)
    config = make_config(
        monitor="poll: {timeout: 60s}\nchannels: {}\n",
        feeds=(
            f"feeds:\n  - {{name: hung, url: '{bad_server.url('/silent')}'}}\n"
            f"  - {{name: good, url: '{good}', backlog: alert}}\n"
        ),
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "monitor", "poll", "--once", "--config", str(config)]
    proc = subprocess.Popen(
        [*command, "--db", str(tmp_path / "m.db")],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "channel=console story='Clashes in Misrata' sent" in line:
                break
        # The alert went out while the hung feed (a 120 s deadline) is still being fetched.
        assert proc.poll() is None, "".join(lines)
        assert any("sent" in line for line in lines), "".join(lines)
    finally:
        bad_server.stop.set()  # the hung server lets go; the poll ends with its error
        proc.wait(60)
        if proc.stderr is not None:
            lines.extend(proc.stderr)
            proc.stderr.close()
    assert proc.returncode == 0, "".join(lines)
    assert any("feed=hung poll failed" in line for line in lines), "".join(lines)
    assert "polled 2 feeds (1 failed)" in "".join(lines)


def test_deny_private_in_monitor_yaml_refuses_a_loopback_feed(
    httpserver: HTTPServer, tmp_path: Path, make_config: Callable[..., Path], run_cli: Any
) -> None:
    httpserver.expect_request("/feed").respond_with_data(GOOD)
    feeds = f"feeds:\n  - {{name: local, url: '{httpserver.url_for('/feed')}'}}\n"
    rules = {"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"}
    db = tmp_path / "m.db"
    strict = make_config(
        monitor="poll: {deny_private: true}\nchannels: {}\n", feeds=feeds, rules=rules
    )
    result = run_cli("poll", "--once", "--config", str(strict), "--db", str(db))
    assert result.exit_code == 0
    listing = run_cli("feeds", "--json", "--config", str(strict), "--db", str(db))
    row = json.loads(listing.stdout)
    assert row["status"] == "failing"
    assert "refused by poll.deny_private" in row["last_error"]
    assert httpserver.log == []


def test_a_resolver_that_never_answers_costs_the_fetch_its_deadline_only(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    # The one boundary a loopback test cannot make real: a DNS server that never answers.
    # getaddrinfo is held for names under .stall.test; every other name resolves as usual.
    release = threading.Event()
    real = socket.getaddrinfo

    def stalling(host: str, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".stall.test"):
            release.wait(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stalling)
    httpserver.expect_request("/feed").respond_with_data(GOOD)
    limits = replace(LIMITS, total_timeout=1.5)
    try:
        with Fetcher(limits) as fetcher:
            started = time.monotonic()
            with pytest.raises(FetchError, match=r"no complete response within 1\.5s"):
                fetcher.fetch("http://feed.stall.test/rss")
            assert time.monotonic() - started < limits.total_timeout + SLACK
            # The stuck look-up holds none of the fetcher's own: the next feed is fetched.
            url = f"http://localhost:{httpserver.port}/feed"
            assert fetcher.fetch(url).content == GOOD
    finally:
        release.set()
