"""The orchestrator with real stages: files and a loopback HTTP server as feeds, a real
SQLite file, the console as the channel. One broken feed never hides the others' news."""

from __future__ import annotations

import io
import tarfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import ChannelSettings
from monitor.delivery.channels import Notifier, build_channels
from monitor.errors import DeliveryError
from monitor.feeds.fetch import Fetcher
from monitor.models import Feed, Message
from monitor.pipeline import DeliveryReport, Pipeline
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store import Store
from monitor.store.sqlite import SQLiteStore
from monitor.timing import alert_backoff

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>"""
ITEM = "<item><title>{title}</title><link>{link}</link><guid>{guid}</guid></item>"


def rss(*items: tuple[str, str, str]) -> str:
    return RSS.format(items="".join(ITEM.format(title=t, link=lk, guid=g) for t, lk, g in items))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FlakyNotifier(Notifier):
    """The console notifier, failing the first `failures` sends."""

    def __init__(self, failures: int) -> None:
        super().__init__(build_channels({}, {}), console=io.StringIO())
        self.failures = failures

    def send(
        self,
        channel: str,
        message: Message,
        *,
        msgid: str | None = None,
        timeout: float | None = None,
    ) -> str | None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("HTTP 503 from the channel")
        return super().send(channel, message)


@pytest.fixture
def store(backend: Store) -> Store:
    return backend


def make_pipeline(store: Store, notifier: Notifier, clock: Clock) -> Pipeline:
    rule = Rule("misrata", "Misrata", parse_query("Misrata~").node, ("console",))
    return Pipeline(
        store=store,
        fetcher=Fetcher(),
        matcher=Matcher([rule]),
        notifier=notifier,
        retry_after_error=600,
        max_attempts=3,
        clock=clock,
    )


def test_a_broken_feed_does_not_hide_the_other_feeds_news(
    tmp_path: Path, store: Store, httpserver: HTTPServer
) -> None:
    good = tmp_path / "good.xml"
    good.write_text(rss(("Fighting near Misurata", "https://ex.org/1", "1")))
    (tmp_path / "garbage.xml").write_text("<html><body>403 Request blocked</body></html>")
    httpserver.expect_request("/gone").respond_with_data("gone", status=410)
    httpserver.expect_request("/huge").respond_with_data("<rss>" + "x" * 20_000_000)
    feeds = [
        Feed("gone", httpserver.url_for("/gone"), "Gone", 60),
        Feed("garbage", str(tmp_path / "garbage.xml"), "Garbage", 60),
        Feed("huge", httpserver.url_for("/huge"), "Huge", 60),
        Feed("missing", str(tmp_path / "nope.xml"), "Missing", 60),
        Feed("good", str(good), "Good", 60),
    ]
    store.sync_feeds(feeds)
    clock = Clock()
    out = io.StringIO()
    pipeline = make_pipeline(store, Notifier(build_channels({}, {}), console=out), clock)
    results = {r.feed: r for r in pipeline.poll(feeds, workers=2)}
    assert results["good"].status == "ok" and results["good"].alerts == 1
    for name in ("gone", "garbage", "huge", "missing"):
        assert results[name].status == "error", name
        assert results[name].error
    assert "410" in (results["gone"].error or "")
    statuses = {s.name: s for s in store.feed_statuses()}
    # Failed feeds come back after retry_after_error, good ones after their interval, those
    # that will not mend by themselves (a missing file) six times later, and a 410 never.
    assert statuses["garbage"].next_poll_at == clock.now + timedelta(seconds=600)
    assert statuses["gone"].next_poll_at is None
    assert statuses["gone"].health == "gone"
    assert statuses["missing"].next_poll_at == clock.now + timedelta(seconds=3600)
    assert statuses["good"].next_poll_at == clock.now + timedelta(seconds=60)
    assert pipeline.deliver().printed == 1
    assert "Fighting near Misurata" in out.getvalue()


def test_a_story_seen_before_never_alerts_again(tmp_path: Path, store: Store) -> None:
    feed_file = tmp_path / "f.xml"
    feed_file.write_text(rss(("Misrata shelled", "https://ex.org/1?utm_source=a", "1")))
    other_file = tmp_path / "g.xml"
    other_file.write_text(rss(("Misrata shelled again", "https://EX.org/1#x", "other-guid")))
    feeds = [Feed("f", str(feed_file), "F", 60), Feed("g", str(other_file), "G", 60)]
    store.sync_feeds(feeds)
    pipeline = make_pipeline(
        store, Notifier(build_channels({}, {}), console=io.StringIO()), Clock()
    )
    assert sum(r.alerts for r in pipeline.poll(feeds[:1])) == 1
    assert sum(r.alerts for r in pipeline.poll(feeds[:1])) == 0
    assert sum(r.alerts for r in pipeline.poll(feeds[1:])) == 0


def test_poll_due_polls_only_feeds_whose_time_has_come(tmp_path: Path, store: Store) -> None:
    feed_file = tmp_path / "f.xml"
    feed_file.write_text(rss(("Nothing to see", "https://ex.org/1", "1")))
    feeds = [Feed("f", str(feed_file), "F", 60)]
    store.sync_feeds(feeds)
    clock = Clock()
    pipeline = make_pipeline(store, Notifier(build_channels({}, {}), console=io.StringIO()), clock)
    assert [r.feed for r in pipeline.poll_due(feeds)] == ["f"]
    assert pipeline.poll_due(feeds) == []
    clock.now += timedelta(seconds=61)
    assert [r.feed for r in pipeline.poll_due(feeds)] == ["f"]


def test_a_failed_alert_stays_pending_and_is_retried_after_its_backoff(
    tmp_path: Path, store: Store
) -> None:
    feed_file = tmp_path / "f.xml"
    feed_file.write_text(rss(("Misrata shelled", "https://ex.org/1", "1")))
    feeds = [Feed("f", str(feed_file), "F", 60)]
    store.sync_feeds(feeds)
    clock = Clock()
    pipeline = make_pipeline(store, FlakyNotifier(failures=1), clock)
    pipeline.poll(feeds)
    report = pipeline.deliver()
    assert (report.printed, report.failed) == (0, 1)
    [alert] = store.recent_alerts()
    assert alert.status == "pending" and alert.last_error == "HTTP 503 from the channel"
    assert pipeline.deliver().printed == 0  # still backing off
    clock.now += alert_backoff(1)
    assert pipeline.deliver().printed == 1
    assert store.recent_alerts()[0].status == "printed"  # the console channel's own


def test_a_set_stop_flag_leaves_unstarted_feeds_for_next_time(tmp_path: Path, store: Store) -> None:
    feed_file = tmp_path / "f.xml"
    feed_file.write_text(rss(("Misrata", "https://ex.org/1", "1")))
    feeds = [Feed(f"f{i}", str(feed_file), "F", 60) for i in range(3)]
    store.sync_feeds(feeds)
    stop = threading.Event()
    stop.set()
    pipeline = make_pipeline(
        store, Notifier(build_channels({}, {}), console=io.StringIO()), Clock()
    )
    assert pipeline.poll(feeds, stop=stop) == []
    assert len(store.due_feeds(Clock()())) == 3


def test_alert_backoff_doubles_and_is_capped_at_an_hour() -> None:
    assert [alert_backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert alert_backoff(50) == timedelta(hours=1)


def test_a_channel_without_its_secret_holds_its_alert_and_prints_a_preview(
    tmp_path: Path, store: Store
) -> None:
    # A configured channel whose secret is unset: the alert is previewed on the console and
    # held for that channel, never claimed again until the channel is set up.
    feed_file = tmp_path / "f.xml"
    feed_file.write_text(rss(("Misrata", "https://ex.org/1", "1")))
    feeds = [Feed("f", str(feed_file), "F", 60)]
    store.sync_feeds(feeds)
    out = io.StringIO()
    channels = build_channels({"slack": ChannelSettings(url="${UNSET_FOR_TEST}")}, {})
    rule = Rule("misrata", "Misrata", parse_query("Misrata").node, ("slack",))
    pipeline = Pipeline(
        store=store,
        fetcher=Fetcher(),
        matcher=Matcher([rule]),
        notifier=Notifier(channels, console=out),
        clock=Clock(),
    )
    pipeline.poll(feeds)
    assert pipeline.deliver() == DeliveryReport(sent=0, printed=0, failed=0, held=1)
    assert "[slack]" in out.getvalue() and "Misrata" in out.getvalue()
    [alert] = store.recent_alerts()
    assert alert.status == "held"
    assert alert.note == "held: UNSET_FOR_TEST not set"
    assert alert.attempts == 0  # finding the channel unset is no attempt
    assert pipeline.deliver() == DeliveryReport()  # not claimed again, not printed again
    assert pipeline.recover().released == 0  # still not set up: still held
    assert store.recent_alerts()[0].status == "held"


class CountingNotifier(Notifier):
    """The console notifier; sends to `dead` channels fail. Counts attempts per channel."""

    def __init__(self, dead: set[str]) -> None:
        super().__init__(build_channels({}, {}), console=io.StringIO())
        self.dead = dead
        self.attempts: dict[str, int] = {}

    def fallback(self, channel: str) -> str | None:
        return None  # every channel counts as set up; the live ones print

    def send(
        self,
        channel: str,
        message: Message,
        *,
        msgid: str | None = None,
        timeout: float | None = None,
    ) -> str | None:
        self.attempts[channel] = self.attempts.get(channel, 0) + 1
        if channel in self.dead:
            raise DeliveryError("timed out")
        return super().send(channel, message)


def test_a_dead_channel_is_tried_once_per_pass_and_does_not_hold_up_the_others(
    tmp_path: Path, store: Store
) -> None:
    items = [(f"Misrata report {i}", f"https://ex.org/{i}", str(i)) for i in range(150)]
    feed_file = tmp_path / "f.xml"
    feed_file.write_text(rss(*items))
    feeds = [Feed("f", str(feed_file), "F", 60)]
    store.sync_feeds(feeds)
    notifier = CountingNotifier(dead={"email"})
    rule = Rule("misrata", "Misrata", parse_query("Misrata").node, ("email", "slack"))
    pipeline = Pipeline(
        store=store, fetcher=Fetcher(), matcher=Matcher([rule]), notifier=notifier, clock=Clock()
    )
    assert pipeline.poll(feeds)[0].alerts == 300
    report = pipeline.deliver()
    # Every Slack alert goes out in one pass, past the 100-alert batch; email is tried once.
    assert (report.sent, report.failed) == (150, 1)
    assert notifier.attempts == {"email": 1, "slack": 150}


class ExplodingStore(SQLiteStore):
    def add_stories(self, items: object, now: datetime) -> list:  # type: ignore[override]
        raise RuntimeError("database or disk is full")


def test_a_feed_that_cannot_be_stored_is_not_fetched_again_on_every_tick(tmp_path: Path) -> None:
    store = ExplodingStore(tmp_path / "m.db")
    try:
        feed_file = tmp_path / "f.xml"
        feed_file.write_text(rss(("Misrata", "https://ex.org/1", "1")))
        feeds = [Feed("f", str(feed_file), "F", 60)]
        store.sync_feeds(feeds)
        clock = Clock()
        notifier = Notifier(build_channels({}, {}), console=io.StringIO())
        pipeline = make_pipeline(store, notifier, clock)
        [result] = pipeline.poll_due(feeds)
        assert result.status == "error" and "disk is full" in (result.error or "")
        assert pipeline.poll_due(feeds) == []  # waits retry_after_error, like any failure
        [status] = store.feed_statuses()
        assert status.last_status == "error" and status.failures == 1
    finally:
        store.close()


def test_a_real_bbc_retitle_of_a_libya_story_alerts_once(
    corpus: Path, tmp_path: Path, store: Store
) -> None:
    # corpus/README: the BBC re-titled one Libya story between two snapshots, same guid.
    snapshots = ["bbc/2020-06-01T21-02-33Z.xml", "bbc/2020-06-01T22-28-31Z.xml"]
    with tarfile.open(corpus / "replay" / "bbc.tar.xz") as archive:
        bodies = [archive.extractfile(name).read() for name in snapshots]  # type: ignore[union-attr]
    feed_file = tmp_path / "bbc.xml"
    feeds = [Feed("bbc", str(feed_file), "BBC News", 60)]
    store.sync_feeds(feeds)
    rule = Rule("libya", "Libya", parse_query("Libya OR Libyan").node, ("console",))
    out = io.StringIO()
    clock = Clock()
    pipeline = Pipeline(
        store=store,
        fetcher=Fetcher(),
        matcher=Matcher([rule]),
        notifier=Notifier(build_channels({}, {}), console=out),
        clock=clock,
    )
    alerts = []
    for name, body in zip(snapshots, bodies, strict=True):
        # Replayed as it happened: each snapshot polled at the time it was taken.
        clock.now = datetime.strptime(name, "bbc/%Y-%m-%dT%H-%M-%SZ.xml").replace(tzinfo=UTC)
        feed_file.write_bytes(body)
        alerts += [r.alerts for r in pipeline.poll(feeds)]
        pipeline.deliver()
    assert alerts == [1, 0]
    assert out.getvalue().count("Russia and Turkey risk turning Libya into another Syria") == 1
    assert "Libya conflict: Russia and Turkey risk Syria repeat" not in out.getvalue()
