"""Items a feed repeats byte for byte from its last document are left out before feedparser
reads them; what is read is what a whole reading gives for the other items, and anything the
bytes alone cannot vouch for is read whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.feeds.fetch import Fetcher, FetchLimits
from monitor.feeds.items import item_spans
from monitor.feeds.parse import parse_feed
from monitor.models import Feed, PollStatus
from monitor.pipeline.poll import Poller
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store import Store
from tests.test_polite import CountingParse

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def item(guid: str, title: str | None = None, extra: str = "") -> str:
    return (
        f"<item><title>{title or 'Story ' + guid}</title><guid>{guid}</guid>"
        f"<link>/news/{guid}</link><description>&lt;p&gt;About {guid}&lt;/p&gt;</description>"
        f"{extra}</item>"
    )


def rss(*items: str, channel: str = "<channel>", built: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0">'
        f"{channel}<title>W</title><lastBuildDate>{built}</lastBuildDate>{''.join(items)}"
        "</channel></rss>"
    ).encode()


BASE = "https://example.org/feed"


def test_repeated_items_are_left_out_and_the_rest_read_as_a_whole_reading_reads_them() -> None:
    first = parse_feed(rss(item("a"), item("b"), item("c")), feed="w", base_url=BASE)
    second_doc = rss(item("d"), item("a"), item("b"), item("c", "Story c, updated"), built="x")

    second = parse_feed(second_doc, feed="w", base_url=BASE, known=frozenset(first.digests))
    whole = parse_feed(second_doc, feed="w", base_url=BASE)

    assert len(first.digests) == 3
    # d is new and c was re-titled: read; a and b repeat byte for byte: left out.
    assert [s.guid for s in second.stories] == ["d", "c"]
    assert list(second.stories) == [whole.stories[0], whole.stories[3]]
    assert second.repeated == (first.digests[0], first.digests[1])
    assert second.items == 4
    assert second.digests == (whole.digests[0], whole.digests[3])
    assert (second.title, second.ttl) == (whole.title, whole.ttl)


def test_an_item_means_something_else_under_another_base_or_channel_so_it_is_read_again() -> None:
    doc = rss(item("a"), item("b"))
    known = frozenset(parse_feed(doc, feed="w", base_url=BASE).digests)

    elsewhere = parse_feed(doc, feed="w", base_url="https://example.com/feed", known=known)
    rebased = parse_feed(
        rss(item("a"), item("b"), channel='<channel xml:base="https://m.example.org/">'),
        feed="w",
        base_url=BASE,
        known=known,
    )

    assert [s.link for s in elsewhere.stories] == [
        "https://example.com/news/a",
        "https://example.com/news/b",
    ]
    assert elsewhere.repeated == () and rebased.repeated == ()
    assert len(rebased.stories) == 2


@pytest.mark.parametrize(
    "tricky",
    [
        "<content:encoded><![CDATA[quoting </item> in text]]></content:encoded>",
        "<!-- an old </item> left in a comment -->",
        "<source><item>nested</item></source>",
    ],
)
def test_items_the_bytes_cannot_tell_apart_are_read_whole(tricky: str) -> None:
    doc = rss(item("a"), item("b", extra=tricky)).replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
    )

    parsed = parse_feed(doc, feed="w", base_url=BASE, known=frozenset({1, 2, 3}))

    assert item_spans(doc) is None
    assert parsed.digests == () and parsed.repeated == ()
    assert parsed == parse_feed(doc, feed="w", base_url=BASE)
    assert [s.guid for s in parsed.stories][:2] == ["a", "b"]


def test_a_document_cut_off_mid_item_is_read_whole() -> None:
    doc = rss(item("a"), item("b"))
    known = frozenset(parse_feed(doc, feed="w", base_url=BASE).digests)
    cut = doc[: doc.index(b"<guid>b")]

    parsed = parse_feed(cut, feed="w", base_url=BASE, known=known)

    assert [s.guid for s in parsed.stories] == ["a"]
    assert parsed.repeated == ()
    assert parsed.warning is not None and parsed.warning.startswith("malformed feed, read 1")


def test_the_poller_skips_repeated_items_yet_stores_and_retitles_the_rest(
    httpserver: HTTPServer, backend: Store
) -> None:
    bodies = [
        rss(item("a"), item("b"), built="1"),
        rss(item("c"), item("a"), item("b"), built="2"),
        rss(item("c"), item("a", "Story a, re-titled"), item("b"), built="3"),
    ]
    httpserver.expect_request("/f").respond_with_handler(
        lambda _r: Response(bodies.pop(0), mimetype="application/rss+xml")
    )
    feed = Feed("f", httpserver.url_for("/f"), "F", 60)
    backend.sync_feeds([feed])
    parse = CountingParse()
    rule = Rule("r", "R", parse_query("Story").node, ("console",))
    limits = FetchLimits(connect_timeout=5.0, read_timeout=5.0, total_timeout=5.0)
    with Fetcher(limits) as fetcher:
        poller = Poller(
            store=backend, fetcher=fetcher, matcher=Matcher([rule]), clock=lambda: NOW, parse=parse
        )
        results = [poller.poll([feed])[0] for _ in range(3)]

    assert [r.status for r in results] == [PollStatus.OK] * 3
    # Each poll counts every item of its document, and stores only the new one.
    assert [(r.stories, r.new_stories, r.alerts) for r in results] == [
        (2, 2, 2),
        (3, 1, 1),
        (3, 0, 0),
    ]
    assert parse.known[0] == frozenset()
    assert parse.known[1] == frozenset(parse.made[0].digests)
    assert [s.guid for s in parse.made[1].stories] == ["c"]
    # The third poll knows c (read last time) and a and b (left out last time, still known).
    assert len(parse.known[2]) == 3
    assert [s.guid for s in parse.made[2].stories] == ["a"]
    titles = {s.story.guid: s.story.title for s in backend.stories()}
    assert titles == {"a": "Story a, re-titled", "b": "Story b", "c": "Story c"}
