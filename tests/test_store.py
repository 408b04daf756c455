"""The SQLite store on a real file: schema, dedupe, polling state, the alert lifecycle."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Feed
from monitor.errors import StoreError
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


def add(store: SQLiteStore, *stories: Story, matches: tuple[Match, ...] = ()) -> list[str]:
    """Store stories (each with the same matches); return the guids stored."""
    return [s.story.guid for s in store.add_stories([(st, matches) for st in stories], NOW)]


def test_add_stories_stores_only_the_new_ones(store: SQLiteStore) -> None:
    assert add(store, story("g1"), story("g2", link="https://ex.org/b")) == ["g1", "g2"]
    assert add(store, story("g1"), story("g3", link="https://ex.org/c")) == ["g3"]


def test_unseen_filters_without_writing(store: SQLiteStore) -> None:
    add(store, story("g1"))
    fresh = story("g2", link="https://ex.org/b")
    assert store.unseen([story("g1"), fresh]) == [fresh]
    assert store.unseen([fresh]) == [fresh]  # still unseen: nothing was stored


def test_the_same_canonical_link_in_another_feed_is_not_new(store: SQLiteStore) -> None:
    add(store, story("g1", link="https://Ex.org/a#top"))
    tracked = story(
        "other-guid", feed="guardian", link="HTTPS://ex.org/a?utm_source=rss&at_medium=x"
    )
    assert store.unseen([tracked]) == []
    assert add(store, tracked) == []


def test_a_new_guid_for_the_same_link_in_the_same_feed_is_not_new(store: SQLiteStore) -> None:
    add(store, story("g1", link="https://ex.org/a"))
    assert add(store, story("g1-reissued", link="https://ex.org/a?utm_medium=rss")) == []


def test_live_blog_posts_that_differ_only_by_fragment_stay_apart(store: SQLiteStore) -> None:
    posts = [story(f"p{i}", link=f"https://ex.org/live#post-{i}") for i in range(3)]
    assert add(store, *posts) == ["p0", "p1", "p2"]
    # ...but another outlet linking the same live page is a repeat.
    assert add(store, story("x", feed="guardian", link="https://ex.org/live")) == []


def test_two_copies_in_one_batch_store_once(store: SQLiteStore) -> None:
    assert len(add(store, story("g1"), story("g2", link="https://ex.org/a?fbclid=1"))) == 1


def test_stories_without_links_are_told_apart_by_guid(store: SQLiteStore) -> None:
    assert len(add(store, story("g1", link=""), story("g2", link=""))) == 2


def test_a_story_is_stored_with_its_alerts_or_not_at_all(store: SQLiteStore) -> None:
    broken = Match("r1", "R", (object(),), ("slack",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.add_stories(
            [(story("g1"), ()), (story("g2", link="https://ex.org/b"), (broken,))], NOW
        )
    # The whole batch rolled back: both stories are still unseen, no alert half-made.
    assert len(store.unseen([story("g1"), story("g2", link="https://ex.org/b")])) == 2
    assert store.recent_alerts() == []


def test_alerts_are_one_per_story_and_channel_whatever_the_rules(store: SQLiteStore) -> None:
    matches = (
        Match("r1", "Rule one", ("Misrata",), ("slack", "email")),
        Match("r2", "Rule two", ("clashes",), ("email",)),
    )
    [stored] = store.add_stories([(story(), matches)], NOW)
    assert stored.alerts == 2
    assert store.add_stories([(story(), matches)], NOW) == []  # never twice
    pending = {a.channel: a for a in store.pending_alerts(NOW)}
    assert set(pending) == {"slack", "email"}
    assert [m.rule_id for m in pending["email"].matches] == ["r1", "r2"]
    assert [m.rule_id for m in pending["slack"].matches] == ["r1"]
    assert pending["email"].outlet == "BBC"
    assert pending["email"].story.title == "Misrata clashes"


def one_alert(store: SQLiteStore) -> int:
    store.add_stories([(story(), (Match("r1", "R", ("x",), ("slack",)),))], NOW)
    [alert] = store.pending_alerts(NOW)
    return alert.id


def test_a_claimed_alert_is_hidden_until_its_lease_ends(store: SQLiteStore) -> None:
    alert_id = one_alert(store)
    lease = NOW + timedelta(minutes=1)
    assert store.claim_alert(alert_id, NOW, lease)
    assert not store.claim_alert(alert_id, NOW, lease)  # nobody sends it twice
    assert store.pending_alerts(NOW) == []
    # Had the process died after sending, the alert comes back after the lease, once.
    [back] = store.pending_alerts(lease)
    assert back.attempts == 1


def test_only_one_of_two_connections_claims_an_alert(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "m.db"), SQLiteStore(tmp_path / "m.db")
    try:
        alert_id = one_alert(first)
        lease = NOW + timedelta(minutes=1)
        assert [
            first.claim_alert(alert_id, NOW, lease),
            second.claim_alert(alert_id, NOW, lease),
        ] == [
            True,
            False,
        ]
    finally:
        first.close()
        second.close()


def test_a_failed_alert_waits_then_retries_then_fails_for_good(store: SQLiteStore) -> None:
    alert_id = one_alert(store)
    later = NOW + timedelta(minutes=1)
    assert store.claim_alert(alert_id, NOW, later)
    assert store.mark_attempt_failed(alert_id, "HTTP 500", NOW, max_attempts=2) == "pending"
    assert store.pending_alerts(NOW) == []  # backing off
    [retry] = store.pending_alerts(later)
    assert retry.attempts == 1 and retry.last_error == "HTTP 500"
    assert store.claim_alert(alert_id, later, later + timedelta(minutes=2))
    assert store.mark_attempt_failed(alert_id, "HTTP 500", later, max_attempts=2) == "failed"
    assert store.pending_alerts(later + timedelta(days=1)) == []
    [shown] = store.recent_alerts()
    assert shown.status == "failed" and shown.attempts == 2


def test_a_sent_alert_is_never_pending_again(store: SQLiteStore) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    store.mark_sent(alert_id, NOW)
    assert store.pending_alerts(NOW + timedelta(days=1)) == []
    assert store.recent_alerts()[0].sent_at == NOW


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    writer = SQLiteStore(tmp_path / "m.db", writer=True)
    try:
        with pytest.raises(StoreError, match=r"m\.db is in use by monitor pid \d+"):
            SQLiteStore(tmp_path / "m.db", writer=True)
        SQLiteStore(tmp_path / "m.db").close()  # readers are welcome
    finally:
        writer.close()
    SQLiteStore(tmp_path / "m.db", writer=True).close()  # released on close


def test_an_unusable_database_path_is_a_store_error_naming_it(tmp_path: Path) -> None:
    not_a_db = tmp_path / "feeds.yaml"
    not_a_db.write_text("feeds: []\n" * 100)
    with pytest.raises(StoreError, match=r"feeds\.yaml"):
        SQLiteStore(not_a_db)


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
