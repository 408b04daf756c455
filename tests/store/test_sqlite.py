"""What only the SQLite backend has: its own file (marked, foreign ones refused), its
migrations, one writer per real file, two connections, and messages for unusable paths."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from monitor.errors import StoreError
from monitor.models import Feed, FeedState, Match, NewStory, PlannedAlert, PollStatus, Story
from monitor.store import DueFeed, PollRecord
from monitor.store.schema import APPLICATION_ID, migrations
from monitor.store.sqlite import SQLiteStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RULE = Match("r1", "R", ("x",), ("slack",))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_database_is_marked_as_monitors_and_in_wal_mode(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "m.db").close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    assert names == [
        "m001_initial",
        "m002_identity_keys",
        "m003_claimed_at",
        "m004_delivery_policy",
        "m005_feed_health",
        "m006_clusters",
        "m007_text_keys",
    ]
    SQLiteStore(tmp_path / "m.db").close()  # opening again applies nothing twice
    assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 7


def test_an_empty_file_is_initialised(tmp_path: Path) -> None:
    (tmp_path / "m.db").touch()
    SQLiteStore(tmp_path / "m.db").close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_another_programs_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = digest(path)
    for kwargs in ({"writer": True}, {"read_only": True}, {}):
        with pytest.raises(StoreError, match=r"app\.db: it is not a monitor database .*users"):
            SQLiteStore(path, **kwargs)  # type: ignore[arg-type]
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "app.db.lock"]
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("users",)]


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\n" * 100)
    with pytest.raises(StoreError, match=r"feeds\.yaml: it is not an SQLite database"):
        SQLiteStore(path)
    assert path.read_text() == "feeds: []\n" * 100


def test_a_database_from_the_version_before_is_recognised_and_upgraded(tmp_path: Path) -> None:
    # What the previous release made: only m001, no application id, old canonical links.
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m002_identity_keys")
    db.execute("INSERT INTO feeds (name, url, title, interval) VALUES ('bbc', 'u', 'BBC', 60)")
    db.execute("INSERT INTO feeds (name, url, title, interval) VALUES ('cnn', 'u2', 'CNN', 60)")
    for guid, feed, link in [
        ("g1", "bbc", "http://www.example.com/a/"),
        ("g2", "bbc", "https://example.org/live#post-1"),
    ]:
        db.execute(
            """INSERT INTO stories (feed, guid, link, canonical_link, first_seen)
               VALUES (?, ?, ?, ?, ?)""",
            [feed, guid, link, link, NOW.isoformat()],
        )
    db.conn.commit()
    db.close()
    assert sqlite3.connect(path).execute("PRAGMA application_id").fetchone()[0] == 0

    store = SQLiteStore(path, writer=True)
    try:
        # Known by the old stories' keys: the same article under another spelling is a repeat.
        again = Story(
            feed="cnn", guid="x", link="HTTP://www.Example.com/a/?utm_source=rss", title=""
        )
        assert store.unseen([again]) == []
        post = Story(feed="bbc", guid="g3", link="https://example.org/live#post-2", title="")
        assert store.unseen([post]) == [post]
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_link_less_stories_stored_before_text_keys_get_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m007_text_keys")
    db.execute("INSERT INTO feeds (name, url, title, interval) VALUES ('bbc', 'u', 'BBC', 60)")
    db.execute(
        """INSERT INTO stories (feed, guid, link, title, summary, first_seen)
           VALUES ('bbc', 'sha1:aa', '', 'Clashes in Misrata', 'Two dead', ?)""",
        [NOW.isoformat()],
    )
    db.conn.commit()
    db.close()
    store = SQLiteStore(path, writer=True)
    try:
        respaced = Story(
            feed="bbc", guid="sha1:bb", link="", title="clashes in  Misrata", summary="Two dead."
        )
        assert store.unseen([respaced]) == []
    finally:
        store.close()


def test_only_one_of_two_connections_claims_an_alert(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "m.db"), SQLiteStore(tmp_path / "m.db")
    try:
        first.sync_feeds([Feed("bbc", "u", "BBC", 60.0)])
        item = NewStory(
            Story(feed="bbc", guid="g", link="", title="t"),
            (RULE,),
            (PlannedAlert("slack", (RULE,)),),
        )
        first.add_stories([item], NOW)
        [alert] = second.pending_alerts(NOW)
        lease = NOW + timedelta(minutes=1)
        claims = [first.claim_alert(alert.id, NOW, lease), second.claim_alert(alert.id, NOW, lease)]
        assert claims == [True, False]
    finally:
        first.close()
        second.close()


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = SQLiteStore(path)
    first.sync_feeds([Feed("bbc", "https://a.example/rss", "BBC", 60.0)])
    first.record_poll(
        PollRecord("bbc", NOW, PollStatus.OK, NOW + timedelta(hours=1), state=FeedState("e"))
    )
    first.close()
    second = SQLiteStore(path)
    try:
        assert second.due_feeds(NOW) == []
        assert second.due_feeds(None) == [DueFeed("bbc", FeedState("e"))]
    finally:
        second.close()


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    writer = SQLiteStore(tmp_path / "m.db", writer=True)
    try:
        with pytest.raises(StoreError, match=r"m\.db is in use by monitor pid \d+"):
            SQLiteStore(tmp_path / "m.db", writer=True)
        SQLiteStore(tmp_path / "m.db").close()  # readers are welcome
    finally:
        writer.close()
    SQLiteStore(tmp_path / "m.db", writer=True).close()  # released on close


def test_a_symlink_to_the_database_is_the_same_writer(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "link.db"
    link.symlink_to(tmp_path / "monitor.db")
    writer = SQLiteStore(tmp_path / "monitor.db", writer=True)
    try:
        with pytest.raises(StoreError, match=r"monitor\.db is in use by monitor pid \d+"):
            SQLiteStore(link, writer=True)
    finally:
        writer.close()
    # The lock sits beside the real file, whichever name opened it.
    SQLiteStore(link, writer=True).close()
    assert not (tmp_path / "elsewhere" / "link.db.lock").exists()
    assert (tmp_path / "monitor.db.lock").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "plain-file" / "x.db", r"plain-file is a file, not a folder"),
        (lambda tmp: tmp / "plain-file" / "deeper" / "x.db", r"plain-file is a file, not a folder"),
        (lambda tmp: tmp, r"is a folder, not a file"),
        (lambda tmp: Path("/proc/monitor.db"), r"/proc does not accept new files"),
    ],
    ids=["parent-is-a-file", "ancestor-is-a-file", "a-folder", "proc"],
)
def test_an_unusable_path_says_what_is_wrong(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(StoreError, match=message) as caught:
        SQLiteStore(make(tmp_path), writer=True)
    assert "Errno" not in str(caught.value)


def test_the_schema_itself_refuses_a_story_key_twice(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    try:
        store.sync_feeds([Feed("bbc", "u", "BBC", 60.0)])
        store.add_stories([NewStory(Story(feed="bbc", guid="g", link="", title="t"))], NOW)
        # Even a code path that forgot to ask is_repeat cannot store the same guid twice.
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute(
                "INSERT INTO story_keys (kind, value, feed, story_id) VALUES (?, ?, ?, ?)",
                ["guid", "bbc\x1fg", "bbc", 99],
            )
    finally:
        store.close()


def test_a_claim_cut_off_by_a_kill_is_retried_at_the_next_start_uncounted(
    tmp_path: Path,
) -> None:
    # The first process claims the alert, then dies (closed without marking anything).
    first = SQLiteStore(tmp_path / "m.db", writer=True)
    first.sync_feeds([Feed("bbc", "https://bbc.example/rss", "BBC", 300.0)])
    match = Match("r1", "R", ("x",), ("slack",))
    first.add_stories(
        [
            NewStory(
                Story("bbc", "g1", "https://ex.org/a", "T"),
                (match,),
                (PlannedAlert("slack", (match,)),),
            )
        ],
        NOW,
    )
    [alert] = first.pending_alerts(NOW)
    assert first.claim_alert(alert.id, NOW, NOW + timedelta(minutes=30))
    first.close()
    # The next process starts 0.2 s later, within the same second.
    started = NOW + timedelta(milliseconds=200)
    second = SQLiteStore(tmp_path / "m.db", writer=True)
    try:
        assert second.pending_alerts(started) == []  # leased: without the release, 30 min
        assert second.release_interrupted(started) == 1
        [due] = second.pending_alerts(started)
        assert (due.id, due.attempts) == (alert.id, 0)
    finally:
        second.close()
