"""The Store contract (monitor/store/base.py), run against every backend alike: dedupe by
identity keys, stories stored with their alerts or not at all, polling state, the alert
lifecycle, and errors as StoreError."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import StoreError
from monitor.models import (
    AlertStatus,
    Feed,
    FeedState,
    Match,
    Mute,
    MuteKind,
    NewStory,
    PlannedAlert,
    PollStatus,
    Story,
)
from monitor.store import DueFeed, PollRecord, Store

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BBC = Feed("bbc", "https://bbc.example/rss", "BBC", 300.0)
RULE = Match("r1", "R", ("x",), ("slack",))


def story(guid: str = "g1", feed: str = "bbc", link: str = "https://ex.org/a") -> Story:
    return Story(feed=feed, guid=guid, link=link, title="Misrata clashes")


def add(store: Store, *stories: Story) -> list[str]:
    """Store stories with no alerts; return the guids stored."""
    return [s.story.guid for s in store.add_stories([NewStory(st) for st in stories], NOW)]


@pytest.fixture
def store(backend: Store) -> Store:
    backend.sync_feeds([BBC])
    return backend


def test_add_stories_stores_only_the_new_ones(store: Store) -> None:
    assert add(store, story("g1"), story("g2", link="https://ex.org/b")) == ["g1", "g2"]
    assert add(store, story("g1"), story("g3", link="https://ex.org/c")) == ["g3"]


def test_unseen_filters_without_writing(store: Store) -> None:
    add(store, story("g1"))
    fresh = story("g2", link="https://ex.org/b")
    assert store.unseen([story("g1"), fresh]) == [fresh]
    assert store.unseen([fresh]) == [fresh]  # still unseen: nothing was stored


@pytest.mark.parametrize(
    ("first", "second", "repeat"),
    [
        # another feed, the same canonical link: another outlet carried the same article
        (
            ("g1", "bbc", "https://Ex.org/a#top"),
            ("x", "guardian", "HTTPS://ex.org/a?utm_source=rss"),
            True,
        ),
        # the same feed re-issuing a guid for the same link
        (
            ("g1", "bbc", "https://ex.org/a"),
            ("g1-new", "bbc", "https://ex.org/a?utm_medium=rss"),
            True,
        ),
        # the same feed and guid, whatever the link became
        (("g1", "bbc", "https://ex.org/a"), ("g1", "bbc", "https://ex.org/moved"), True),
        # live-blog posts of one feed differ by fragment only
        (
            ("p1", "bbc", "https://ex.org/live#post-1"),
            ("p2", "bbc", "https://ex.org/live#post-2"),
            False,
        ),
        # ... but another outlet linking the live page is a repeat
        (
            ("p1", "bbc", "https://ex.org/live#post-1"),
            ("x", "guardian", "https://ex.org/live"),
            True,
        ),
        # items without links are told apart by guid
        (("g1", "bbc", ""), ("g2", "bbc", ""), False),
        # the same guid in two feeds is two stories
        (("g1", "bbc", ""), ("g1", "guardian", ""), False),
    ],
)
def test_which_stories_are_repeats(
    store: Store, first: tuple[str, str, str], second: tuple[str, str, str], repeat: bool
) -> None:
    add(store, story(*first))
    assert (store.unseen([story(*second)]) == []) is repeat
    assert (add(store, story(*second)) == []) is repeat


def test_an_item_with_no_guid_or_link_is_known_by_its_words(store: Store) -> None:
    # parse.py's made-up guid hashes the raw text, so a re-spaced copy has another one.
    first = Story(
        feed="bbc", guid="sha1:aa", link="", title="Clashes in  Misrata", summary="Two dead"
    )
    respaced = replace(first, guid="sha1:bb", title="Clashes in Misrata", summary="two dead.")
    other = replace(first, guid="sha1:cc", summary="Three dead")
    elsewhere = replace(respaced, feed="guardian")
    assert add(store, first) == ["sha1:aa"]
    assert store.unseen([respaced, other, elsewhere]) == [other, elsewhere]
    assert add(store, respaced, other) == ["sha1:cc"]


def test_two_link_less_copies_in_one_batch_store_once(store: Store) -> None:
    a = Story(feed="bbc", guid="sha1:aa", link="", title="Clashes", summary="Two dead")
    assert add(store, a, replace(a, guid="sha1:bb", title=" clashes ")) == ["sha1:aa"]


def test_two_copies_in_one_batch_store_once(store: Store) -> None:
    assert len(add(store, story("g1"), story("g2", link="https://ex.org/a?fbclid=1"))) == 1


def test_alerts_are_stored_as_routing_planned_them(store: Store) -> None:
    one, two = Match("r1", "Rule one", ("Misrata",)), Match("r2", "Rule two", ("clashes",))
    item = NewStory(
        story(),
        (one, two),
        (PlannedAlert("slack", (one,)), PlannedAlert("email", (one, two))),
    )
    [stored] = store.add_stories([item], NOW)
    assert stored.alerts == 2
    assert store.add_stories([item], NOW) == []  # never twice
    pending = {a.channel: a for a in store.pending_alerts(NOW)}
    assert set(pending) == {"slack", "email"}
    assert [m.rule_id for m in pending["email"].matches] == ["r1", "r2"]
    assert pending["email"].outlet == "BBC"
    assert pending["email"].story.title == "Misrata clashes"
    assert pending["email"].status is AlertStatus.PENDING


def test_a_story_is_stored_with_its_alerts_or_not_at_all(store: Store) -> None:
    twice = NewStory(
        story("g2", link="https://ex.org/b"),
        (RULE,),
        (PlannedAlert("slack", (RULE,)), PlannedAlert("slack", (RULE,))),
    )
    with pytest.raises(StoreError):
        store.add_stories([NewStory(story("g1")), twice], NOW)
    # The whole batch rolled back: both stories are still unseen, no alert half-made.
    assert len(store.unseen([story("g1"), story("g2", link="https://ex.org/b")])) == 2
    assert store.recent_alerts() == []


def one_alert(store: Store) -> int:
    store.add_stories([NewStory(story(), (RULE,), (PlannedAlert("slack", (RULE,)),))], NOW)
    [alert] = store.pending_alerts(NOW)
    return alert.id


def test_a_claimed_alert_is_hidden_until_its_lease_ends(store: Store) -> None:
    alert_id = one_alert(store)
    lease = NOW + timedelta(minutes=1)
    assert store.claim_alert(alert_id, NOW, lease)
    assert not store.claim_alert(alert_id, NOW, lease)  # nobody sends it twice
    assert store.pending_alerts(NOW) == []
    # Had the process died after sending, the alert comes back after the lease, once.
    [back] = store.pending_alerts(lease)
    assert back.attempts == 1


def test_a_failed_alert_waits_then_retries_then_fails_for_good(store: Store) -> None:
    alert_id = one_alert(store)
    later = NOW + timedelta(minutes=1)
    assert store.claim_alert(alert_id, NOW, later)
    assert store.mark_attempt_failed(alert_id, "HTTP 500", NOW, 2) is AlertStatus.PENDING
    assert store.pending_alerts(NOW) == []  # backing off
    [retry] = store.pending_alerts(later)
    assert retry.attempts == 1 and retry.last_error == "HTTP 500"
    assert store.claim_alert(alert_id, later, later + timedelta(minutes=2))
    assert store.mark_attempt_failed(alert_id, "HTTP 500", later, 2) is AlertStatus.FAILED
    assert store.pending_alerts(later + timedelta(days=1)) == []
    [shown] = store.recent_alerts()
    assert shown.status is AlertStatus.FAILED and shown.attempts == 2


@pytest.mark.parametrize(
    ("printed", "status"), [(False, AlertStatus.SENT), (True, AlertStatus.PRINTED)]
)
def test_a_delivered_alert_is_never_pending_again(
    store: Store, printed: bool, status: AlertStatus
) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    store.mark_sent(alert_id, NOW, "note", printed=printed)
    assert store.pending_alerts(NOW + timedelta(days=1)) == []
    [shown] = store.recent_alerts()
    assert (shown.status, shown.sent_at, shown.note) == (status, NOW, "note")


def test_pending_alerts_skip_channels_and_respect_the_limit(store: Store) -> None:
    for i in range(3):
        match = Match("r1", "R", ("x",), ("slack", "email"))
        planned = (PlannedAlert("slack", (match,)), PlannedAlert("email", (match,)))
        store.add_stories(
            [NewStory(story(f"g{i}", link=f"https://ex.org/{i}"), (match,), planned)], NOW
        )
    assert [a.channel for a in store.pending_alerts(NOW, skip_channels={"email"})] == ["slack"] * 3
    oldest = store.pending_alerts(NOW, limit=2)
    assert [a.story.guid for a in oldest] == ["g0", "g0"]
    assert [a.id for a in store.recent_alerts(limit=2)] == sorted(
        (a.id for a in store.pending_alerts(NOW)), reverse=True
    )[:2]


def test_a_held_alert_is_not_pending_until_requeued(store: Store) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    store.hold_alert(alert_id, NOW, "held: SLACK_URL not set")
    assert store.pending_alerts(NOW + timedelta(days=1)) == []
    [held] = store.recent_alerts(state=AlertStatus.HELD)
    assert (held.id, held.attempts, held.note) == (alert_id, 0, "held: SLACK_URL not set")
    assert store.recent_alerts(state=AlertStatus.PENDING) == []
    store.requeue_alert(alert_id, NOW)
    [due] = store.pending_alerts(NOW)  # due at once, no backoff left over
    assert (due.id, due.status, due.attempts) == (alert_id, AlertStatus.PENDING, 0)


def test_an_expired_alert_is_listed_and_never_pending(store: Store) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    store.hold_alert(alert_id, NOW, "held: x")
    store.expire_alert(alert_id, NOW, "too old")
    assert store.pending_alerts(NOW + timedelta(days=1)) == []
    [shown] = store.recent_alerts(None, AlertStatus.EXPIRED)
    assert (shown.status, shown.last_error) == (AlertStatus.EXPIRED, "too old")


def test_a_sent_alert_can_be_requeued_for_a_resend(store: Store) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    store.mark_sent(alert_id, NOW)
    store.requeue_alert(alert_id, NOW)
    assert [a.id for a in store.pending_alerts(NOW)] == [alert_id]


def test_give_up_fails_an_alert_before_max_attempts(store: Store) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    status = store.mark_attempt_failed(alert_id, "HTTP 500", NOW, 10, give_up=True)
    assert status is AlertStatus.FAILED
    assert store.recent_alerts()[0].last_error == "HTTP 500"


def test_claims_from_before_the_start_are_released_uncounted(store: Store) -> None:
    alert_id = one_alert(store)
    started = NOW + timedelta(seconds=1)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(minutes=5))
    assert store.release_interrupted(started) == 1
    [due] = store.pending_alerts(started)  # at once, not after the 5-minute lease
    assert due.attempts == 0
    assert store.release_interrupted(started) == 0  # released once
    # A claim made since the start is this process's own, and a finished one is no claim.
    assert store.claim_alert(alert_id, started, started + timedelta(minutes=5))
    assert store.release_interrupted(started) == 0
    store.mark_attempt_failed(alert_id, "HTTP 500", started, 10)
    assert store.release_interrupted(started + timedelta(hours=1)) == 0
    assert store.recent_alerts()[0].attempts == 1


def test_an_unknown_alert_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.mark_attempt_failed(999, "x", NOW, 3)
    with pytest.raises(StoreError):
        store.mark_sent(999, NOW)
    for call in (store.hold_alert, store.expire_alert):
        with pytest.raises(StoreError):
            call(999, NOW, "x")
    with pytest.raises(StoreError):
        store.requeue_alert(999, NOW)
    assert store.claim_alert(999, NOW, NOW) is False


def test_feeds_are_due_until_polled_and_keep_their_validators(store: Store) -> None:
    assert store.due_feeds(NOW) == [DueFeed("bbc", FeedState())]
    validators = FeedState('"e1"', "Mon")
    store.record_poll(
        PollRecord("bbc", NOW, PollStatus.OK, NOW + timedelta(minutes=5), state=validators)
    )
    assert store.due_feeds(NOW) == []
    assert store.due_feeds(None) == [DueFeed("bbc", validators)]  # poll --once: every feed
    assert store.due_feeds(NOW + timedelta(minutes=5)) == [DueFeed("bbc", validators)]
    # An error keeps the validators and counts the failure; success resets the count.
    store.record_poll(PollRecord("bbc", NOW, PollStatus.ERROR, NOW, error="timed out"))
    store.record_poll(PollRecord("bbc", NOW, PollStatus.ERROR, NOW, error="timed out"))
    [status] = store.feed_statuses()
    assert (status.failures, status.last_error, status.last_status) == (
        2,
        "timed out",
        PollStatus.ERROR,
    )
    assert store.due_feeds(NOW) == [DueFeed("bbc", validators, failures=2)]
    store.record_poll(PollRecord("bbc", NOW, PollStatus.NOT_MODIFIED, NOW, state=validators))
    assert store.feed_statuses()[0].failures == 0


def test_the_most_overdue_feed_comes_first(store: Store) -> None:
    store.sync_feeds([BBC, Feed("ap", "https://ap.example/rss", "AP", 60.0)])
    store.record_poll(PollRecord("bbc", NOW, PollStatus.OK, NOW - timedelta(minutes=1)))
    store.record_poll(PollRecord("ap", NOW, PollStatus.OK, NOW - timedelta(minutes=9)))
    assert [d.name for d in store.due_feeds(NOW)] == ["ap", "bbc"]


def test_a_changed_url_forgets_validators(store: Store) -> None:
    store.record_poll(
        PollRecord("bbc", NOW, PollStatus.OK, NOW + timedelta(hours=1), state=FeedState("e"))
    )
    store.sync_feeds([BBC])
    assert store.due_feeds(None) == [DueFeed("bbc", FeedState("e"))]
    store.sync_feeds([Feed("bbc", "https://b.example/rss", "BBC", 60.0)])
    assert store.due_feeds(None) == [DueFeed("bbc", FeedState())]


def test_feeds_dropped_from_the_config_are_no_longer_due(store: Store) -> None:
    store.sync_feeds([Feed("other", "https://o.example/rss", "Other", 60.0)])
    assert [d.name for d in store.due_feeds(NOW)] == ["other"]
    # ... but keep their history, which `monitor feeds` may still show.
    assert [s.name for s in store.feed_statuses()] == ["bbc", "other"]


def test_feed_statuses_count_each_feeds_stories(store: Store) -> None:
    add(store, story("g1"), story("g2", link="https://ex.org/b"))
    [status] = store.feed_statuses()
    assert (status.name, status.title, status.stories, status.last_status) == (
        "bbc",
        "BBC",
        2,
        None,
    )


def test_a_closed_store_raises_store_error(backend: Store) -> None:
    backend.close()
    with pytest.raises(StoreError):
        backend.due_feeds(NOW)


def test_stories_since_gives_the_stored_stories_oldest_first(store: Store) -> None:
    later = NOW + timedelta(days=3)
    store.add_stories([NewStory(story("g1"))], NOW)
    planned = (PlannedAlert("slack", (RULE,)),)
    store.add_stories([NewStory(story("g2", link="https://ex.org/b"), (RULE,), planned)], later)
    every = list(store.stories_since(NOW - timedelta(days=1)))
    assert [(s.story.guid, s.first_seen, s.alerts) for s in every] == [
        ("g1", NOW, 0),
        ("g2", later, 1),
    ]
    assert every[1].story == story("g2", link="https://ex.org/b")
    assert [s.story.guid for s in store.stories_since(later)] == ["g2"]
    assert list(store.stories_since(later + timedelta(seconds=1))) == []


def test_stories_since_reads_past_one_page(store: Store) -> None:
    many = [story(f"g{i}", link=f"https://ex.org/{i}") for i in range(2500)]
    store.add_stories([NewStory(s) for s in many], NOW)
    assert [s.story.guid for s in store.stories_since(NOW)] == [s.guid for s in many]


# -- delivery policy: held states, budgets, mutes, notices ----------------------------------


@pytest.mark.parametrize("state", [AlertStatus.HELD, AlertStatus.DIGEST, AlertStatus.MUTED])
def test_an_alert_taken_out_of_the_queue_keeps_its_reason(store: Store, state: AlertStatus) -> None:
    alert_id = one_alert(store)
    assert store.claim_alert(alert_id, NOW, NOW + timedelta(seconds=30))
    store.hold_alert(alert_id, NOW, "why", state)
    [alert] = store.recent_alerts(state=state, channel="slack")
    assert (alert.id, alert.note, alert.attempts) == (alert_id, "why", 0)
    assert store.pending_alerts(NOW + timedelta(days=1)) == []
    assert store.recent_alerts(state=state, channel="email") == []


def test_an_alert_cannot_be_held_as_sent(store: Store) -> None:
    with pytest.raises(StoreError):
        store.hold_alert(one_alert(store), NOW, "why", AlertStatus.SENT)


def test_count_sent_counts_one_channels_sent_alerts_since(store: Store) -> None:
    alert_id = one_alert(store)
    assert store.count_sent("slack", NOW) == 0
    store.mark_sent(alert_id, NOW + timedelta(minutes=5))
    assert store.count_sent("slack", NOW) == 1
    assert store.count_sent("slack", NOW + timedelta(minutes=6)) == 0
    assert store.count_sent("email", NOW) == 0


def test_pending_alerts_of_one_channel(store: Store) -> None:
    m = (RULE,)
    store.add_stories(
        [NewStory(story(), m, (PlannedAlert("slack", m), PlannedAlert("email", m)))], NOW
    )
    assert [a.channel for a in store.pending_alerts(NOW, channel="email")] == ["email"]


def test_mutes_are_kept_and_expire(store: Store) -> None:
    first = store.add_mute(Mute(MuteKind.RULE, "r1", NOW + timedelta(hours=1), "presser", NOW))
    second = store.add_mute(Mute(MuteKind.CHANNEL, "slack", NOW + timedelta(hours=3)))
    assert first != second
    assert [(m.id, m.kind, m.value, m.reason) for m in store.mutes(NOW)] == [
        (first, MuteKind.RULE, "r1", "presser"),
        (second, MuteKind.CHANNEL, "slack", ""),
    ]
    assert [m.id for m in store.mutes(NOW + timedelta(hours=2))] == [second]
    assert len(store.mutes()) == 2


def test_the_last_rate_limit_notice_is_remembered(store: Store) -> None:
    assert store.last_notice("slack") is None
    store.record_notice("slack", NOW)
    store.record_notice("slack", NOW + timedelta(minutes=1))
    assert store.last_notice("slack") == NOW + timedelta(minutes=1)


# -- clusters and headlines ------------------------------------------------------------------


def test_a_retitled_story_keeps_its_old_headline(store: Store) -> None:
    [stored] = store.add_stories([NewStory(story())], NOW)
    again = replace(story(), title="Libya conflict: clashes in Misrata")
    assert store.retitle([again, story("unknown")], NOW + timedelta(hours=1)) == 1
    assert store.retitle([again], NOW + timedelta(hours=2)) == 0  # nothing new
    assert store.title_history(stored.id) == [(NOW + timedelta(hours=1), "Misrata clashes")]
    [latest] = store.stories()
    assert latest.story.title == "Libya conflict: clashes in Misrata"


def test_clusters_know_their_outlets_and_the_rules_that_alerted(store: Store) -> None:
    store.sync_feeds([BBC, Feed("sky", "https://sky.example/rss", "Sky News", 300.0)])
    m = (RULE,)
    store.add_stories(
        [
            NewStory(story("a"), m, (PlannedAlert("slack", m),), cluster_id=7),
            NewStory(story("b", feed="sky", link="https://sky.example/b"), (), (), cluster_id=7),
            NewStory(story("c", link="https://ex.org/c"), (), (), cluster_id=8),
        ],
        NOW,
    )
    assert store.alerted_rules([7, 8]) == {7: {"slack": {"r1"}}}
    assert store.cluster_outlets([7]) == {7: ("BBC", "Sky News")}
    [alert] = store.recent_alerts()
    assert (alert.cluster_id, alert.also) == (7, ("Sky News",))
    assert [s.story.guid for s in store.stories(cluster_id=7)] == ["b", "a"]
    summaries = store.clusters(NOW - timedelta(hours=1))
    assert [(c.id, c.stories, c.outlets, c.headline) for c in summaries] == [
        (8, 1, ("BBC",), "Misrata clashes"),
        (7, 2, ("BBC", "Sky News"), "Misrata clashes"),
    ]
    assert store.clusters(NOW + timedelta(hours=1)) == []
