"""The SQLite schema: monitor's migrations, the mark that a file is monitor's, and the
identity keys' table, which the store and the upgrade of old rows both write.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlite_utils
from sqlite_utils.migrations import Migrations

from monitor.dedupe import IdentityKey, KeyKind, canonical_link, identity_keys, text_key
from monitor.models import Story

migrations = Migrations("monitor")
# Written into the file's header (PRAGMA application_id), so that monitor knows its own
# databases and refuses to add its tables to somebody else's: "MNTR".
APPLICATION_ID = 0x4D4E5452


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    # Feeds keep their polling state here, not in the scheduler's memory, so a restart
    # resumes where it left off.
    db.table("feeds").create(
        {
            "name": str,
            "url": str,
            "title": str,
            "interval": float,
            "configured": int,  # 1 while feeds.yaml lists it
            "etag": str,
            "last_modified": str,
            "last_polled_at": str,
            "last_status": str,
            "last_error": str,
            "next_poll_at": str,
            "failures": int,
        },
        pk="name",
        not_null={"url", "title", "interval"},
        defaults={"configured": 1, "failures": 0},
    )
    db.table("stories").create(
        {
            "id": int,
            "feed": str,
            "guid": str,
            "link": str,
            "canonical_link": str,
            "link_fragment": str,  # what canonical_link drops after '#': live-blog posts
            "title": str,
            "summary": str,
            "content": str,
            "published": str,
            "authors": str,
            "tags": str,  # JSON lists
            "first_seen": str,
        },
        pk="id",
        not_null={"feed", "guid", "first_seen"},
    )
    db.table("stories").create_index(["feed", "guid"], unique=True)
    db.table("stories").create_index(["canonical_link"])
    db.table("matches").create(
        {"story_id": int, "rule_id": str, "rule_name": str, "terms": str, "matched_at": str},
        pk=("story_id", "rule_id"),
        foreign_keys=[("story_id", "stories", "id")],
    )
    # One alert per story and channel, however many rules sent it there.
    db.table("alerts").create(
        {
            "id": int,
            "story_id": int,
            "channel": str,
            "matches": str,  # JSON: [{rule_id, rule_name, terms, channels}]
            "status": str,  # pending, sent, failed
            "attempts": int,
            "last_error": str,
            "note": str,
            "created_at": str,
            "updated_at": str,
            "sent_at": str,
            "next_attempt_at": str,  # a failed attempt backs off until then
        },
        pk="id",
        foreign_keys=[("story_id", "stories", "id")],
        not_null={"story_id", "channel", "status"},
        defaults={"attempts": 0, "status": "pending"},
    )
    db.table("alerts").create_index(["story_id", "channel"], unique=True)
    db.table("alerts").create_index(["status", "next_attempt_at"])


@migrations()
def m002_identity_keys(db: sqlite_utils.Database) -> None:
    # Identity as keys under a UNIQUE constraint (dedupe.identity_keys), so "never twice" is
    # a database fact. Existing stories get their keys, the first story keeping a shared one,
    # and their canonical links are recomputed with today's rules (www., http/https, AMP).
    db.execute(
        """CREATE TABLE story_keys (
             kind TEXT NOT NULL, value TEXT NOT NULL,
             feed TEXT NOT NULL, story_id INTEGER NOT NULL REFERENCES stories(id),
             PRIMARY KEY (kind, value))"""
    )
    # story_keys answers every identity question now; the old link index only slowed inserts.
    db.execute("DROP INDEX IF EXISTS idx_stories_canonical_link")
    rows = db.execute("SELECT id, feed, guid, link FROM stories ORDER BY id").fetchall()
    for story_id, feed, guid, link in rows:
        story = Story(feed=feed, guid=guid, link=link or "", title="")
        insert_keys(db, [(story_id, feed, identity_keys(story))], upgrading=True)
        db.execute(
            "UPDATE stories SET canonical_link = ? WHERE id = ?",
            [canonical_link(link or ""), story_id],
        )


@migrations()
def m003_claimed_at(db: sqlite_utils.Database) -> None:
    # When the open attempt was claimed: a claim from before this process started was cut
    # off by a crash, and is retried at once without counting it (timing.interrupted).
    db.execute("ALTER TABLE alerts ADD COLUMN claimed_at TEXT")


@migrations()
def m004_delivery_policy(db: sqlite_utils.Database) -> None:
    # Run-time mutes (`monitor mute`), and per channel when its desk was last told that the
    # rate limit was reached, so a restart does not tell it twice.
    db.execute(
        """CREATE TABLE mutes (
             id INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL,
             until TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created_at TEXT)"""
    )
    db.execute("CREATE TABLE channel_notices (channel TEXT PRIMARY KEY, noticed_at TEXT NOT NULL)")
    db.execute("CREATE INDEX idx_alerts_channel_sent ON alerts (channel, sent_at)")


@migrations()
def m005_feed_health(db: sqlite_utils.Database) -> None:
    # A feed's health (feeds.policy.FeedHealth), the URL a permanent redirect moved it to,
    # its last good poll, and the hash of the last body parsed (a body that has not changed
    # is not parsed again, whatever the server says about validators). Feed tables only.
    for column in ("health", "moved_to", "last_success_at", "body_hash"):
        db.execute(f"ALTER TABLE feeds ADD COLUMN {column} TEXT")
    db.execute("UPDATE feeds SET health = CASE WHEN failures > 0 THEN 'failing' ELSE 'ok' END")
    db.execute(
        "UPDATE feeds SET last_success_at = last_polled_at"
        " WHERE last_status IN ('ok', 'not-modified')"
    )


@migrations()
def m006_clusters(db: sqlite_utils.Database) -> None:
    # The event a story belongs to across outlets (dedupe.cluster), and the headlines a
    # story had before its feed re-titled it.
    db.execute("ALTER TABLE stories ADD COLUMN cluster_id INTEGER")
    db.execute("CREATE INDEX idx_stories_cluster ON stories (cluster_id)")
    db.execute(
        """CREATE TABLE story_titles (
             story_id INTEGER NOT NULL REFERENCES stories(id), title TEXT NOT NULL,
             replaced_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX idx_story_titles ON story_titles (story_id)")
    # Why an alert of an event that alerted before was sent (an escalation), or NULL.
    db.execute("ALTER TABLE alerts ADD COLUMN follow_up TEXT")


@migrations()
def m007_text_keys(db: sqlite_utils.Database) -> None:
    # Items with neither guid nor link are now also known by their words (dedupe.text_key):
    # the ones already stored get that key, so re-spacing one of them is not a new story.
    rows = db.execute(
        "SELECT id, feed, guid, title, summary FROM stories"
        " WHERE coalesce(link, '') = '' ORDER BY id"
    ).fetchall()
    keyed = []
    for story_id, feed, guid, title, summary in rows:
        story = Story(feed=feed, guid=guid, link="", title=title or "", summary=summary or "")
        key = text_key(story)
        if key is not None:
            keyed.append((story_id, feed, [key]))
    insert_keys(db, keyed, upgrading=True)


def insert_keys(
    db: sqlite_utils.Database,
    stories: Sequence[tuple[int, str, Sequence[IdentityKey]]],
    *,
    upgrading: bool = False,
) -> None:
    """Hold new stories' keys, given as (story id, feed, keys). A GUID or POST key held
    already is an IntegrityError: the PRIMARY KEY makes "never twice" a fact even if a caller
    skipped `is_repeat`. A LINK key held already (by the story's own feed: a live blog's
    page) stays with its first story.
    When `upgrading` old rows, whose keys may now collide, the first story keeps each key."""
    rows = [
        (key.kind.value, key.value, feed, story_id)
        for story_id, feed, keys in stories
        for key in keys
    ]
    shared = [r for r in rows if upgrading or r[0] == KeyKind.LINK.value]
    own = [] if upgrading else [r for r in rows if r[0] != KeyKind.LINK.value]
    insert = "INTO story_keys (kind, value, feed, story_id) VALUES (?, ?, ?, ?)"
    db.conn.executemany(f"INSERT {insert}", own)
    db.conn.executemany(f"INSERT OR IGNORE {insert}", shared)


def foreign(db: sqlite_utils.Database) -> str | None:
    """Why an open database is not monitor's to change, or None when it is (or is empty).

    Ours carry APPLICATION_ID; one made before the id was written is known by its
    migrations. An empty file, or a new one, is ours to initialise.
    """
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    if application_id == APPLICATION_ID:
        return None
    tables = db.table_names()
    if not tables:
        return None
    if application_id == 0 and Migrations.migrations_table in tables and migrations.applied(db):
        return None
    shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
    mark = f"application id {application_id:#x}" if application_id else "no application id"
    return f"it is not a monitor database ({mark}; tables: {shown})"
