"""Another spelling of a story's link is the same story, in every store backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.models import Feed, NewStory, Story
from monitor.store import Store

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def story(guid: str, link: str, feed: str = "wire") -> Story:
    return Story(feed=feed, guid=guid, link=link, title="Misrata clashes")


@pytest.fixture
def store(backend: Store) -> Store:
    backend.sync_feeds([Feed("wire", "https://wire.example/rss", "Wire", 300.0)])
    return backend


def stored(store: Store, *stories: Story) -> list[str]:
    return [s.story.guid for s in store.add_stories([NewStory(st) for st in stories], NOW)]


def test_the_issue_pair_is_one_story_across_feeds(store: Store) -> None:
    assert stored(store, story("a", "https://www.example.com/a?utm_source=x")) == ["a"]
    again = story("b", "http://example.com/a/?fbclid=y#comments", feed="other")
    assert store.unseen([again]) == []
    assert stored(store, again) == []


def test_the_amp_edition_in_another_feed_is_a_repeat(store: Store) -> None:
    assert stored(store, story("a", "https://example.com/news/libya-1")) == ["a"]
    assert stored(store, story("b", "https://amp.example.com/news/libya-1/amp", "x")) == []
    assert stored(store, story("c", "https://example.com/news/libya-1?outputType=amp", "y")) == []


def test_live_blog_posts_stay_apart_whatever_the_spelling(store: Store) -> None:
    posts = [
        story("p1", "https://www.example.com/live#post-1"),
        story("p2", "http://example.com/live/#post-2"),
    ]
    assert stored(store, *posts) == ["p1", "p2"]
    # The same post under another spelling, in the same feed, is a repeat.
    assert stored(store, story("p1-again", "http://example.com/live/?amp=1#post-1")) == []


def test_a_different_page_is_still_new(store: Store) -> None:
    assert stored(store, story("a", "https://example.com/camp")) == ["a"]
    assert stored(store, story("b", "https://example.com/c", "x")) == ["b"]
