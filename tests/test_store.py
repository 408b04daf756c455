"""The SQLite store on a real file: schema, dedupe, polling state, the alert lifecycle."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Feed
from monitor.models import FeedState, Match, Story
from monitor.sqlite import SQLiteStore
from monitor.store import PollRecord

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def story(guid: str = "g1", feed: str = "bbc", link: str = "https://ex.org/a", **kw: str) -> Story:
    return Story(feed=feed, guid=guid, link=link, title=kw.get("title", "Misrata clashes"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "monitor.db")
    s.sync_feeds([Feed("bbc", "https://bbc.example/rss", "BBC", 300.0)])
    yield s
    s.close()


def test_the_database_is_in_wal_mode_with_its_migrations_recorded(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "m.db").close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    assert names == ["m001_initial"]
    # Opening again applies nothing twice.
    SQLiteStore(tmp_path / "m.db").close()
    assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 1


def test_add_stories_returns_only_the_new_ones(store: SQLiteStore) -> None:
    first = store.add_stories([story("g1"), story("g2", link="https://ex.org/b")], NOW)
    assert [s.story.guid for s in first] == ["g1", "g2"]
    again = store.add_stories([story("g1"), story("g3", link="https://ex.org/c")], NOW)
    assert [s.story.guid for s in again] == ["g3"]


def test_the_same_canonical_link_in_another_feed_is_not_new(store: SQLiteStore) -> None:
    store.add_stories([story("g1", link="https://Ex.org/a#top")], NOW)
    tracked = story(
        "other-guid", feed="guardian", link="HTTPS://ex.org/a?utm_source=rss&at_medium=x"
    )
    assert store.add_stories([tracked], NOW) == []


def test_two_copies_in_one_batch_store_once(store: SQLiteStore) -> None:
    new = store.add_stories([story("g1"), story("g2", link="https://ex.org/a?fbclid=1")], NOW)
    assert len(new) == 1


def test_stories_without_links_are_told_apart_by_guid(store: SQLiteStore) -> None:
    new = store.add_stories([story("g1", link=""), story("g2", link="")], NOW)
    assert len(new) == 2


def test_alerts_are_one_per_story_and_channel_whatever_the_rules(store: SQLiteStore) -> None:
    [stored] = store.add_stories([story()], NOW)
    matches = [
        Match("r1", "Rule one", ("Misrata",), ("slack", "email")),
        Match("r2", "Rule two", ("clashes",), ("email",)),
    ]
    assert store.add_alerts(stored.id, matches, NOW) == 2
    assert store.add_alerts(stored.id, matches, NOW) == 0  # never twice
    pending = {a.channel: a for a in store.pending_alerts(NOW)}
    assert set(pending) == {"slack", "email"}
    assert [m.rule_id for m in pending["email"].matches] == ["r1", "r2"]
    assert [m.rule_id for m in pending["slack"].matches] == ["r1"]
    assert pending["email"].outlet == "BBC"
    assert pending["email"].story.title == "Misrata clashes"


def test_a_failed_alert_waits_then_retries_then_fails_for_good(store: SQLiteStore) -> None:
    [stored] = store.add_stories([story()], NOW)
    store.add_alerts(stored.id, [Match("r1", "R", ("x",), ("slack",))], NOW)
    [alert] = store.pending_alerts(NOW)
    later = NOW + timedelta(minutes=1)
    assert store.mark_attempt_failed(alert.id, "HTTP 500", NOW, later, max_attempts=2) == "pending"
    assert store.pending_alerts(NOW) == []  # backing off
    [retry] = store.pending_alerts(later)
    assert retry.attempts == 1 and retry.last_error == "HTTP 500"
    assert store.mark_attempt_failed(alert.id, "HTTP 500", later, later, max_attempts=2) == "failed"
    assert store.pending_alerts(later + timedelta(days=1)) == []
    [shown] = store.recent_alerts()
    assert shown.status == "failed" and shown.attempts == 2


def test_a_sent_alert_is_never_pending_again(store: SQLiteStore) -> None:
    [stored] = store.add_stories([story()], NOW)
    store.add_alerts(stored.id, [Match("r1", "R", ("x",), ("slack",))], NOW)
    [alert] = store.pending_alerts(NOW)
    store.mark_sent(alert.id, NOW)
    assert store.pending_alerts(NOW + timedelta(days=1)) == []
    assert store.recent_alerts()[0].sent_at == NOW


def test_feeds_are_due_until_polled_and_keep_their_validators(store: SQLiteStore) -> None:
    assert store.due_feeds(NOW) == ["bbc"]
    store.record_poll(
        PollRecord("bbc", NOW, "ok", NOW + timedelta(minutes=5), state=FeedState('"e1"', "Mon"))
    )
    assert store.due_feeds(NOW) == []
    assert store.due_feeds(NOW + timedelta(minutes=5)) == ["bbc"]
    assert store.feed_state("bbc") == FeedState('"e1"', "Mon")
    # An error keeps the validators and counts the failure.
    store.record_poll(PollRecord("bbc", NOW, "error", NOW, error="timed out"))
    [status] = store.feed_statuses()
    assert status.failures == 1 and status.last_error == "timed out"
    assert store.feed_state("bbc") == FeedState('"e1"', "Mon")


def test_state_survives_a_restart_and_a_changed_url_forgets_validators(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = SQLiteStore(path)
    first.sync_feeds([Feed("bbc", "https://a.example/rss", "BBC", 60.0)])
    first.record_poll(PollRecord("bbc", NOW, "ok", NOW + timedelta(hours=1), state=FeedState("e")))
    first.close()
    second = SQLiteStore(path)
    second.sync_feeds([Feed("bbc", "https://a.example/rss", "BBC", 60.0)])
    assert second.due_feeds(NOW) == []
    assert second.feed_state("bbc") == FeedState("e")
    second.sync_feeds([Feed("bbc", "https://b.example/rss", "BBC", 60.0)])
    assert second.feed_state("bbc") == FeedState()


def test_feeds_dropped_from_the_config_are_no_longer_due(store: SQLiteStore) -> None:
    store.sync_feeds([Feed("other", "https://o.example/rss", "Other", 60.0)])
    assert store.due_feeds(NOW) == ["other"]
    assert [s.name for s in store.feed_statuses()] == ["other"]
