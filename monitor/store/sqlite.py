"""The SQLite store (sqlite-utils): one file, WAL mode, one writer.

One connection serves the whole process behind a lock: the SQLite on our machines (3.40)
has a WAL corruption bug when several connections write at once, and a single writer is
all one daemon needs. The schema is `store/schema.py`: migrations, each run in a transaction.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TextIO, TypeVar

import sqlite_utils

from monitor.dedupe import IdentityKey, KeyKind, identity_keys, is_repeat
from monitor.errors import StoreError
from monitor.feeds.policy import FeedHealth
from monitor.models import (
    Alert,
    AlertStatus,
    Feed,
    FeedState,
    Match,
    Mute,
    MuteKind,
    NewStory,
    PollStatus,
    StoredStory,
    Story,
)
from monitor.store.base import ClusterSummary, DueFeed, FeedStatus, PollRecord
from monitor.store.schema import APPLICATION_ID, foreign, insert_keys, migrations
from monitor.timing import alert_delay, median_delay

# The states `hold_alert` may put an alert in: out of the queue, not done.
_OUT_OF_QUEUE = frozenset({AlertStatus.HELD, AlertStatus.DIGEST, AlertStatus.MUTED})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Each key is two parameters; SQLite 3.32+ allows 32,766 per statement.
_KEYS_PER_QUERY = 400


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    """Run a store method under the store's lock: one connection, one caller at a time.
    A database error becomes a StoreError, as the Store contract says."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0]._lock:  # type: ignore[attr-defined]
            try:
                return method(*args, **kwargs)
            except sqlite3.Error as e:
                path = args[0].path  # type: ignore[attr-defined]
                raise StoreError(f"database {path}: {type(e).__name__}: {e}") from e

    return wrapper


def _lock_exclusively(path: Path) -> TextIO:
    """Hold an flock on `path` for as long as the returned file stays open."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreError(
            f"{path.with_suffix('')} is in use by {holder}; one writer at a time"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"monitor pid {os.getpid()}\n")
    handle.flush()
    return handle


def _why_unusable(path: Path, error: OSError) -> str:
    """What is really wrong with a database path, in words, from the error opening it."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {path.parent}"
    if error.errno == errno.EROFS:
        return f"{path.parent} is on a read-only file system"
    if error.errno == errno.ENOENT and path.parent.is_dir():
        return f"{path.parent} does not accept new files (is it a special file system?)"
    return error.strerror or str(error)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _iso_us(value: datetime) -> str:
    # Claims are compared with the process start: a restart can come within the same second.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SQLiteStore:
    """The Store protocol on one SQLite file."""

    def __init__(self, path: Path | str, *, writer: bool = False, read_only: bool = False) -> None:
        """Open (creating if needed) the database at `path`. A `writer` (the daemon, a poll)
        also takes an exclusive lock beside the real file (symlinks resolved), so two never
        write at once. `read_only` opens an existing database for looking only: no file is
        created or changed. A file that is not monitor's is refused and left untouched."""
        self.path = str(path)
        self._lock = threading.RLock()
        self._writer_lock: TextIO | None = None
        if read_only:
            self._open_read_only()
            return
        real = Path(path) if self.path == ":memory:" else Path(path).expanduser().resolve()
        if real.is_dir():
            raise StoreError(f"cannot use the database {self.path}: it is a folder, not a file")
        try:
            if self.path != ":memory:":
                real.parent.mkdir(parents=True, exist_ok=True)
                if writer:
                    self._writer_lock = _lock_exclusively(real.with_name(real.name + ".lock"))
            conn = sqlite3.connect(str(real), check_same_thread=False, timeout=30)
            self.db = sqlite_utils.Database(conn)
            refusal = foreign(self.db)
            if refusal:
                self.db.close()
                self._release_writer_lock()
                raise StoreError(
                    f"refusing to use {self.path}: {refusal}; its contents are untouched"
                )
            self.db.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self.db.enable_wal()
            migrations.apply(self.db)
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except OSError as e:
            self._release_writer_lock()
            raise StoreError(
                f"cannot use the database {self.path}: {_why_unusable(real, e)}"
            ) from e
        except sqlite3.Error as e:
            self._release_writer_lock()
            if isinstance(e, sqlite3.DatabaseError) and "not a database" in str(e):
                raise StoreError(
                    f"refusing to use {self.path}: it is not an SQLite database; "
                    "its contents are untouched"
                ) from e
            raise StoreError(f"cannot use the database {self.path}: {e}") from e

    def _open_read_only(self) -> None:
        if not Path(self.path).is_file():
            raise StoreError(
                f"no database at {self.path}: check --db, or run `monitor run` "
                "or `monitor poll --once` first"
            )
        try:
            uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
            self.db = sqlite_utils.Database(conn)
            refusal = foreign(self.db)
            pending = [] if refusal else migrations.pending(self.db)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot read the database {self.path}: {e}") from e
        if refusal:
            self.db.close()
            raise StoreError(f"refusing to read {self.path}: {refusal}")
        if pending:
            self.db.close()
            raise StoreError(f"{self.path} needs upgrading; `monitor run` or `poll` does that")

    @_locked
    def close(self) -> None:
        self.db.close()
        self._release_writer_lock()

    def _release_writer_lock(self) -> None:
        if self._writer_lock is not None:
            self._writer_lock.close()  # closing the file drops the flock
            self._writer_lock = None

    @_locked
    def sync_feeds(self, feeds: Sequence[Feed]) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE feeds SET configured = 0")
            for feed in feeds:
                self.db.execute(
                    """INSERT INTO feeds (name, url, title, interval, configured)
                       VALUES (?, ?, ?, ?, 1)
                       ON CONFLICT (name) DO UPDATE SET
                         -- a new URL is a new feed: forget the old one's validators,
                         -- body hash, new URL and health (a gone feed comes back)
                         etag = CASE WHEN url = excluded.url THEN etag END,
                         last_modified = CASE WHEN url = excluded.url THEN last_modified END,
                         body_hash = CASE WHEN url = excluded.url THEN body_hash END,
                         moved_to = CASE WHEN url = excluded.url THEN moved_to END,
                         health = CASE WHEN url = excluded.url THEN health END,
                         failures = CASE WHEN url = excluded.url THEN failures ELSE 0 END,
                         next_poll_at = CASE WHEN url = excluded.url THEN next_poll_at END,
                         url = excluded.url, title = excluded.title,
                         interval = excluded.interval, configured = 1""",
                    [feed.name, feed.url, feed.title, feed.interval],
                )

    @_locked
    def due_feeds(self, now: datetime | None) -> list[DueFeed]:
        rows = self.db.execute(
            """SELECT name, etag, last_modified, failures, moved_to, body_hash
               FROM feeds WHERE configured = 1 AND health IS NOT 'gone'
               AND (? IS NULL OR next_poll_at IS NULL OR next_poll_at <= ?)
               ORDER BY next_poll_at IS NOT NULL, next_poll_at, name""",
            [_iso(now), _iso(now)],
        ).fetchall()
        return [
            DueFeed(
                name,
                FeedState(etag, modified),
                failures or 0,
                moved_to,
                body_hash,
            )
            for name, etag, modified, failures, moved_to, body_hash in rows
        ]

    @_locked
    def record_poll(self, record: PollRecord) -> None:
        with self.db.atomic():
            self._record_poll(record)

    @_locked
    def record_polls(self, records: Sequence[PollRecord]) -> None:
        if not records:
            return
        with self.db.atomic():
            for record in records:
                self._record_poll(record)

    def _record_poll(self, record: PollRecord) -> None:
        failed = record.status is PollStatus.ERROR
        self.db.execute(
            """UPDATE feeds SET last_polled_at = ?, last_status = ?, last_error = ?,
                 next_poll_at = ?,
                 failures = CASE WHEN ? THEN failures + 1 ELSE 0 END,
                 health = coalesce(?, CASE WHEN ? THEN 'failing' ELSE 'ok' END),
                 last_success_at = CASE WHEN ? THEN last_success_at ELSE ? END,
                 moved_to = coalesce(?, moved_to),
                 body_hash = CASE WHEN ? THEN body_hash ELSE coalesce(?, body_hash) END,
                 etag = CASE WHEN ? THEN etag ELSE ? END,
                 last_modified = CASE WHEN ? THEN last_modified ELSE ? END
               WHERE name = ?""",
            [
                _iso(record.polled_at),
                record.status.value,
                record.error,
                _iso(record.next_poll_at),
                failed,
                record.health.value if record.health else None,
                failed,
                failed,
                _iso(record.polled_at),
                record.moved_to,
                failed,
                record.body_hash,
                failed,
                record.state.etag,
                failed,
                record.state.last_modified,
                record.feed,
            ],
        )

    def _held(self, keys: Iterable[IdentityKey]) -> dict[IdentityKey, str]:
        """Which of these keys are held, and by which feed: one query per few hundred keys,
        not one per story (an OR of primary-key lookups; SQLite 3.40 scans for a row-value IN)."""
        held: dict[IdentityKey, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            chunk = unique[start : start + _KEYS_PER_QUERY]
            where = " OR ".join("(kind = ? AND value = ?)" for _ in chunk)
            params = [part for key in chunk for part in (key.kind.value, key.value)]
            rows = self.db.execute(
                f"SELECT kind, value, feed FROM story_keys WHERE {where}", params
            ).fetchall()
            held.update({IdentityKey(KeyKind(k), value): feed for k, value, feed in rows})
        return held

    @_locked
    def unseen(self, stories: Sequence[Story]) -> list[Story]:
        keyed = [(s, identity_keys(s)) for s in stories]
        held = self._held(k for _, keys in keyed for k in keys)
        return [s for s, keys in keyed if not is_repeat(s, _of(keys, held))]

    @_locked
    def add_stories(self, items: Sequence[NewStory], now: datetime) -> list[StoredStory]:
        added: list[StoredStory] = []
        keyed = [(item, identity_keys(item.story)) for item in items]
        with self.db.atomic():
            # Looked up once for the batch; `held` then follows what the batch inserts, so an
            # item repeating an earlier one of the same batch is caught too.
            held = self._held(k for _, keys in keyed for k in keys)
            key_rows: list[tuple[int, str, Sequence[IdentityKey]]] = []
            for item, keys in keyed:
                story = item.story
                if is_repeat(story, _of(keys, held)):
                    continue
                for key in keys:
                    held.setdefault(key, story.feed)
                link_key = next((k.value for k in keys if k.kind is KeyKind.LINK), "")
                cursor = self.db.execute(
                    """INSERT INTO stories (feed, guid, link, canonical_link, link_fragment,
                         title, summary, content, published, authors, tags, first_seen,
                         cluster_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [
                        story.feed,
                        story.guid,
                        story.link,
                        link_key,
                        story.link.partition("#")[2],
                        story.title,
                        story.summary,
                        story.content,
                        _iso(story.published),
                        json.dumps(story.authors),
                        json.dumps(story.tags),
                        _iso(now),
                        item.cluster_id,
                    ],
                )
                assert cursor.lastrowid is not None
                key_rows.append((cursor.lastrowid, story.feed, keys))
                self._add_matches_and_alerts(cursor.lastrowid, item, now)
                added.append(
                    StoredStory(cursor.lastrowid, story, len(item.alerts), now, item.cluster_id)
                )
            insert_keys(self.db, key_rows)
        return added

    def _add_matches_and_alerts(self, story_id: int, item: NewStory, now: datetime) -> None:
        if item.matches:  # most stories match nothing: no statement at all for them
            self.db.conn.executemany(
                """INSERT OR IGNORE INTO matches (story_id, rule_id, rule_name, terms, matched_at)
                   VALUES (?, ?, ?, ?, ?)""",
                [
                    (story_id, m.rule_id, m.rule_name, json.dumps(m.terms), _iso(now))
                    for m in item.matches
                ],
            )
        if item.alerts:
            # The UNIQUE (story_id, channel) index makes a second alert to one channel impossible.
            self.db.conn.executemany(
                """INSERT INTO alerts (story_id, channel, matches, status, created_at, updated_at,
                     follow_up)
                   VALUES (?, ?, ?, 'pending', ?, ?, ?)""",
                [
                    (
                        story_id,
                        a.channel,
                        _dump_matches(a.matches),
                        _iso(now),
                        _iso(now),
                        a.follow_up,
                    )
                    for a in item.alerts
                ],
            )

    @_locked
    def pending_alerts(
        self,
        now: datetime,
        limit: int = 100,
        skip_channels: Collection[str] = (),
        channel: str | None = None,
    ) -> list[Alert]:
        skip = sorted(skip_channels)
        return self._alerts(
            f"""WHERE a.status = 'pending' AND (a.next_attempt_at IS NULL OR a.next_attempt_at <= ?)
                AND a.channel NOT IN ({", ".join("?" * len(skip))})
                AND (? IS NULL OR a.channel = ?)
                ORDER BY a.id LIMIT ?""",
            [_iso(now), *skip, channel, channel, limit],
        )

    def stories_since(self, since: datetime) -> Iterator[StoredStory]:
        after = 0
        while page := self._stories_page(since, after):
            yield from page
            after = page[-1].id

    @_locked
    def _stories_page(self, since: datetime, after: int, limit: int = 1000) -> list[StoredStory]:
        # A page at a time under the lock, so a long backtest never holds it between pages.
        rows = self.db.query(
            """SELECT s.*, (SELECT count(*) FROM alerts a WHERE a.story_id = s.id) AS alerts
               FROM stories s WHERE s.first_seen >= ? AND s.id > ? ORDER BY s.id LIMIT ?""",
            [_iso(since), after, limit],
        )
        return [_stored(row) for row in rows]

    @_locked
    def retitle(self, stories: Sequence[Story], now: datetime) -> int:
        changed = 0
        with self.db.atomic():
            for story in stories:
                row = self.db.execute(
                    "SELECT id, title FROM stories WHERE feed = ? AND guid = ?",
                    [story.feed, story.guid],
                ).fetchone()
                if row is None or not story.title or row[1] == story.title:
                    continue
                self.db.execute(
                    "INSERT INTO story_titles (story_id, title, replaced_at) VALUES (?, ?, ?)",
                    [row[0], row[1], _iso(now)],
                )
                self.db.execute("UPDATE stories SET title = ? WHERE id = ?", [story.title, row[0]])
                changed += 1
        return changed

    @_locked
    def title_history(self, story_id: int) -> list[tuple[datetime, str]]:
        rows = self.db.execute(
            "SELECT replaced_at, title FROM story_titles WHERE story_id = ? ORDER BY rowid",
            [story_id],
        ).fetchall()
        return [(_dt(r[0]) or _EPOCH, r[1]) for r in rows]

    @_locked
    def alerted_rules(self, cluster_ids: Collection[int]) -> dict[int, dict[str, set[str]]]:
        found: dict[int, dict[str, set[str]]] = {}
        for chunk in _chunks(sorted(set(cluster_ids))):
            rows = self.db.execute(
                f"""SELECT s.cluster_id, a.channel, a.matches FROM alerts a
                    JOIN stories s ON s.id = a.story_id
                    WHERE s.cluster_id IN ({", ".join("?" * len(chunk))})""",
                chunk,
            ).fetchall()
            for cluster_id, channel, matches in rows:
                rules = {m["rule_id"] for m in json.loads(matches or "[]")}
                found.setdefault(cluster_id, {}).setdefault(channel, set()).update(rules)
        return found

    @_locked
    def cluster_outlets(self, cluster_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        found: dict[int, list[str]] = {}
        for chunk in _chunks(sorted(set(cluster_ids))):
            rows = self.db.execute(
                f"""SELECT s.cluster_id, coalesce(f.title, s.feed) FROM stories s
                    LEFT JOIN feeds f ON f.name = s.feed
                    WHERE s.cluster_id IN ({", ".join("?" * len(chunk))}) ORDER BY s.id""",
                chunk,
            ).fetchall()
            for cluster_id, outlet in rows:
                outlets = found.setdefault(cluster_id, [])
                if outlet not in outlets:
                    outlets.append(outlet)
        return {c: tuple(o) for c, o in found.items()}

    @_locked
    def max_cluster_id(self) -> int:
        row = self.db.execute("SELECT max(cluster_id) FROM stories").fetchone()
        return int(row[0] or 0)

    @_locked
    def clusters(self, since: datetime, limit: int = 50) -> list[ClusterSummary]:
        rows = self.db.execute(
            """SELECT cluster_id, count(*), min(id), min(first_seen), max(first_seen)
               FROM stories WHERE cluster_id IS NOT NULL AND cluster_id IN
                 (SELECT cluster_id FROM stories WHERE first_seen >= ?)
               GROUP BY cluster_id ORDER BY max(id) DESC LIMIT ?""",
            [_iso(since), limit],
        ).fetchall()
        outlets = self.cluster_outlets([r[0] for r in rows])
        heads = {
            r[0]: r[1]
            for chunk in _chunks([r[2] for r in rows])
            for r in self.db.execute(
                f"SELECT id, title FROM stories WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        }
        return [
            ClusterSummary(
                r[0], r[1], outlets.get(r[0], ()), heads.get(r[2], ""), _dt(r[3]), _dt(r[4])
            )
            for r in rows
        ]

    @_locked
    def stories(self, limit: int = 50, cluster_id: int | None = None) -> list[StoredStory]:
        rows = self.db.query(
            """SELECT s.*, (SELECT count(*) FROM alerts a WHERE a.story_id = s.id) AS alerts
               FROM stories s WHERE ? IS NULL OR s.cluster_id = ? ORDER BY s.id DESC LIMIT ?""",
            [cluster_id, cluster_id, limit],
        )
        return [_stored(row) for row in rows]

    @_locked
    def recent_alerts(
        self,
        limit: int | None = 50,
        state: AlertStatus | None = None,
        channel: str | None = None,
    ) -> list[Alert]:
        status = state and state.value
        return self._alerts(
            """WHERE (? IS NULL OR a.status = ?) AND (? IS NULL OR a.channel = ?)
               ORDER BY a.id DESC LIMIT ?""",
            [status, status, channel, channel, -1 if limit is None else limit],
        )

    @_locked
    def count_sent(self, channel: str, since: datetime) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM alerts WHERE channel = ? AND status = 'sent' AND sent_at >= ?",
            [channel, _iso(since)],
        ).fetchone()
        return int(row[0])

    @_locked
    def add_mute(self, mute: Mute) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO mutes (kind, value, until, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    mute.kind.value,
                    mute.value,
                    _iso_us(mute.until),
                    mute.reason,
                    _iso(mute.created_at),
                ],
            )
        return int(cursor.lastrowid or 0)

    @_locked
    def mutes(self, now: datetime | None = None) -> list[Mute]:
        rows = self.db.execute(
            """SELECT id, kind, value, until, reason, created_at FROM mutes
               WHERE ? IS NULL OR until > ? ORDER BY id""",
            [now and _iso_us(now), now and _iso_us(now)],
        ).fetchall()
        return [
            Mute(MuteKind(r[1]), r[2], _dt(r[3]) or _EPOCH, r[4], _dt(r[5]), id=r[0]) for r in rows
        ]

    @_locked
    def last_notice(self, channel: str) -> datetime | None:
        row = self.db.execute(
            "SELECT noticed_at FROM channel_notices WHERE channel = ?", [channel]
        ).fetchone()
        return _dt(row[0]) if row else None

    @_locked
    def record_notice(self, channel: str, now: datetime) -> None:
        with self.db.atomic():
            self.db.execute(
                """INSERT INTO channel_notices (channel, noticed_at) VALUES (?, ?)
                   ON CONFLICT (channel) DO UPDATE SET noticed_at = excluded.noticed_at""",
                [channel, _iso(now)],
            )

    @_locked
    def mark_sent(
        self, alert_id: int, now: datetime, note: str | None = None, *, printed: bool = False
    ) -> None:
        status = AlertStatus.PRINTED if printed else AlertStatus.SENT
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE alerts SET status = ?, sent_at = ?, claimed_at = NULL,
                     updated_at = ?, note = ? WHERE id = ?""",
                [status.value, _iso(now), _iso(now), note, alert_id],
            )
        if cursor.rowcount != 1:
            raise StoreError(f"no alert {alert_id}")

    @_locked
    def claim_alert(self, alert_id: int, now: datetime, lease_until: datetime) -> bool:
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?,
                     claimed_at = ?, updated_at = ?
                   WHERE id = ? AND status = 'pending'
                   AND (next_attempt_at IS NULL OR next_attempt_at <= ?)""",
                [_iso(lease_until), _iso_us(now), _iso(now), alert_id, _iso(now)],
            )
        return cursor.rowcount == 1

    @_locked
    def mark_attempt_failed(
        self, alert_id: int, error: str, now: datetime, max_attempts: int, *, give_up: bool = False
    ) -> AlertStatus:
        with self.db.atomic():
            self.db.execute(
                """UPDATE alerts SET last_error = ?, updated_at = ?, claimed_at = NULL,
                     status = CASE WHEN ? OR attempts >= ? THEN 'failed' ELSE 'pending' END
                   WHERE id = ? AND status = 'pending'""",
                [error, _iso(now), give_up, max_attempts, alert_id],
            )
            row = self.db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()
        if row is None:
            raise StoreError(f"no alert {alert_id}")
        return AlertStatus(row[0])

    def _update_alert(self, alert_id: int, sql: str, params: list[Any]) -> None:
        with self.db.atomic():
            self.db.execute(f"UPDATE alerts SET {sql} WHERE id = ?", [*params, alert_id])
            if self.db.execute("SELECT 1 FROM alerts WHERE id = ?", [alert_id]).fetchone() is None:
                raise StoreError(f"no alert {alert_id}")

    @_locked
    def hold_alert(
        self, alert_id: int, now: datetime, reason: str, state: AlertStatus = AlertStatus.HELD
    ) -> None:
        if state not in _OUT_OF_QUEUE:
            raise StoreError(f"an alert cannot be held as {state}")
        # The attempt that found the channel unconfigured was no attempt: uncount it.
        self._update_alert(
            alert_id,
            f"""status = CASE WHEN status = 'pending' THEN '{state.value}' ELSE status END,
               note = CASE WHEN status = 'pending' THEN ? ELSE note END,
               attempts = CASE WHEN status = 'pending' AND claimed_at IS NOT NULL
                 THEN max(0, attempts - 1) ELSE attempts END,
               next_attempt_at = CASE WHEN status = 'pending' THEN NULL ELSE next_attempt_at END,
               claimed_at = NULL, updated_at = ?""",
            [reason, _iso(now)],
        )

    @_locked
    def requeue_alert(self, alert_id: int, now: datetime) -> None:
        self._update_alert(
            alert_id,
            """status = 'pending', attempts = 0, last_error = NULL, sent_at = NULL,
               next_attempt_at = NULL, claimed_at = NULL, updated_at = ?""",
            [_iso(now)],
        )

    @_locked
    def expire_alert(self, alert_id: int, now: datetime, reason: str) -> None:
        self._update_alert(
            alert_id,
            """status = 'expired', last_error = ?, next_attempt_at = NULL, claimed_at = NULL,
               updated_at = ?""",
            [reason, _iso(now)],
        )

    @_locked
    def release_interrupted(self, started: datetime) -> int:
        # timing.interrupted, in SQL: an open claim made before this process started.
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE alerts SET attempts = max(0, attempts - 1), next_attempt_at = NULL,
                     claimed_at = NULL, updated_at = ?
                   WHERE status = 'pending' AND claimed_at IS NOT NULL AND claimed_at < ?""",
                [_iso(started), _iso_us(started)],
            )
        return cursor.rowcount

    @_locked
    def feed_statuses(self, now: datetime | None = None) -> list[FeedStatus]:
        week_ago = _iso((now or datetime.now(UTC)) - timedelta(days=7))
        rows = self.db.execute(
            """SELECT f.name, f.title, f.url, f.interval, f.last_polled_at, f.last_status,
                 f.last_error, f.next_poll_at, f.failures,
                 (SELECT count(*) FROM stories s WHERE s.feed = f.name),
                 f.health, f.moved_to, f.last_success_at,
                 (SELECT count(*) FROM stories s WHERE s.feed = f.name AND s.first_seen >= ?)
               FROM feeds f ORDER BY f.name""",
            [week_ago],
        ).fetchall()
        delays: dict[str, list[float | None]] = {}
        day_ago = _iso((now or datetime.now(UTC)) - timedelta(days=1))
        for feed, published, first_seen, sent_at in self.db.execute(
            """SELECT s.feed, s.published, s.first_seen, a.sent_at FROM alerts a
               JOIN stories s ON s.id = a.story_id
               WHERE a.status IN ('sent', 'printed') AND a.sent_at >= ?""",
            [day_ago],
        ).fetchall():
            sent = _dt(sent_at)
            if sent is not None:
                delays.setdefault(feed, []).append(
                    alert_delay(_dt(published), _dt(first_seen), sent)
                )
        return [
            FeedStatus(
                r[0],
                r[1],
                r[2],
                r[3],
                _dt(r[4]),
                PollStatus(r[5]) if r[5] else None,
                r[6],
                _dt(r[7]),
                r[8],
                r[9],
                health=FeedHealth(r[10]) if r[10] and r[5] else None,
                moved_to=r[11],
                last_success_at=_dt(r[12]),
                items_per_day=round(r[13] / 7.0, 1),
                alert_delay=median_delay(delays.get(r[0], [])),
            )
            for r in rows
        ]

    def _alerts(self, tail: str, params: list[Any]) -> list[Alert]:
        rows = self.db.query(
            f"""SELECT a.id, a.story_id, s.cluster_id, a.follow_up, a.channel, a.matches,
                  a.status, a.attempts,
                  a.last_error, a.note, a.created_at, a.sent_at, s.feed, s.guid, s.link,
                  s.title, s.summary,
                  s.content, s.published, s.authors, s.tags, coalesce(f.title, s.feed) AS outlet
                FROM alerts a JOIN stories s ON s.id = a.story_id
                LEFT JOIN feeds f ON f.name = s.feed {tail}""",
            params,
        )
        alerts = [_alert(row) for row in rows]
        clustered = {a.cluster_id for a in alerts if a.cluster_id is not None}
        if not clustered:
            return alerts
        outlets = self.cluster_outlets(clustered)
        return [
            replace(a, also=tuple(o for o in outlets.get(a.cluster_id, ()) if o != a.outlet))
            if a.cluster_id is not None
            else a
            for a in alerts
        ]


def _of(keys: Sequence[IdentityKey], held: Mapping[IdentityKey, str]) -> dict[IdentityKey, str]:
    return {key: held[key] for key in keys if key in held}


def _dump_matches(matches: Sequence[Match]) -> str:
    return json.dumps(
        [
            {
                "rule_id": m.rule_id,
                "rule_name": m.rule_name,
                "terms": list(m.terms),
                "channels": list(m.channels),
                "severity": m.severity,
            }
            for m in matches
        ]
    )


def _story(row: dict[str, Any]) -> Story:
    return Story(
        feed=row["feed"],
        guid=row["guid"],
        link=row["link"] or "",
        title=row["title"] or "",
        summary=row["summary"] or "",
        content=row["content"] or "",
        published=_dt(row["published"]),
        authors=tuple(json.loads(row["authors"] or "[]")),
        tags=tuple(json.loads(row["tags"] or "[]")),
    )


def _chunks(values: Sequence[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _stored(row: dict[str, Any]) -> StoredStory:
    return StoredStory(
        row["id"], _story(row), row["alerts"], _dt(row["first_seen"]), row.get("cluster_id")
    )


def _alert(row: dict[str, Any]) -> Alert:
    story = _story(row)
    matches = tuple(
        Match(
            m["rule_id"],
            m["rule_name"],
            tuple(m["terms"]),
            tuple(m.get("channels", [])),
            m.get("severity", "normal"),  # alerts stored before severity was kept
        )
        for m in json.loads(row["matches"] or "[]")
    )
    return Alert(
        id=row["id"],
        channel=row["channel"],
        story=story,
        outlet=row["outlet"],
        matches=matches,
        status=AlertStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        note=row["note"],
        created_at=_dt(row["created_at"]),
        sent_at=_dt(row["sent_at"]),
        story_id=row["story_id"],
        cluster_id=row["cluster_id"],
        follow_up=row["follow_up"],
    )
