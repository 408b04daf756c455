"""Routing as pure code: matches → one planned alert per channel; backlog stories alert nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.delivery.route import (
    Route,
    Routing,
    escalations,
    is_backlog,
    route,
    with_follow_ups,
)
from monitor.models import BacklogPolicy, Match, PlannedAlert, Story

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY = 86400.0
ONE = Match("r1", "One", ("Misrata",), ("slack", "email"))
TWO = Match("r2", "Two", ("truce",), ("email",))
SOLO = Match("r3", "Three", ("x",), ())


def story(age: timedelta | None) -> Story:
    return Story(
        feed="f", guid="g", link="", title="t", published=None if age is None else NOW - age
    )


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        ((), ()),
        ((ONE,), (PlannedAlert("slack", (ONE,)), PlannedAlert("email", (ONE,)))),
        ((ONE, TWO), (PlannedAlert("slack", (ONE,)), PlannedAlert("email", (ONE, TWO)))),
        ((TWO, ONE), (PlannedAlert("email", (TWO, ONE)), PlannedAlert("slack", (ONE,)))),
        ((SOLO,), ()),
    ],
    ids=[
        "no-match",
        "one-rule-two-channels",
        "two-rules-share-a-channel",
        "rule-order",
        "no-channel",
    ],
)
def test_one_alert_per_channel_listing_every_rule_that_sent_it(
    matches: tuple[Match, ...], expected: tuple[PlannedAlert, ...]
) -> None:
    assert route(story(timedelta(minutes=5)), matches, now=NOW, max_age=DAY) == Routing(expected)


@pytest.mark.parametrize(
    ("age", "policy", "backlog"),
    [
        (timedelta(minutes=5), BacklogPolicy.SKIP, False),
        (timedelta(hours=23, minutes=59), BacklogPolicy.SKIP, False),
        (timedelta(days=1), BacklogPolicy.SKIP, False),  # exactly max_age is still news
        (timedelta(days=1, seconds=1), BacklogPolicy.SKIP, True),
        (timedelta(days=2500), BacklogPolicy.SKIP, True),  # a backlog from 2019
        (timedelta(days=2500), BacklogPolicy.ALERT, False),  # the seed feed
        (None, BacklogPolicy.SKIP, False),  # no date: published when first seen
        (-timedelta(hours=3), BacklogPolicy.SKIP, False),  # dated in the future
    ],
)
def test_stories_older_than_max_age_are_a_backlog_that_alerts_nobody(
    age: timedelta | None, policy: BacklogPolicy, backlog: bool
) -> None:
    routing = route(story(age), (ONE,), now=NOW, max_age=DAY, backlog=policy)
    assert routing.backlog is backlog
    assert bool(routing.alerts) is not backlog


def test_a_backlog_story_that_matched_nothing_is_not_counted_as_backlog() -> None:
    assert route(story(timedelta(days=9)), (), now=NOW, max_age=DAY) == Routing((), backlog=False)
    assert is_backlog(story(timedelta(days=9)), NOW, DAY)


@pytest.mark.parametrize(
    ("already", "expected"),
    [
        ({}, (PlannedAlert("slack", (ONE,)), PlannedAlert("email", (ONE, TWO)))),
        ({"email": {"r1"}}, (PlannedAlert("slack", (ONE,)), PlannedAlert("email", (TWO,)))),
        ({"email": {"r1", "r2"}}, (PlannedAlert("slack", (ONE,)),)),
        ({"slack": {"r1"}, "email": {"r1", "r2"}}, ()),
        ({"slack": {"r2"}}, (PlannedAlert("slack", (ONE,)), PlannedAlert("email", (ONE, TWO)))),
    ],
    ids=["new-event", "one-rule-told", "channel-told-both", "all-told", "other-rule-told"],
)
def test_a_rule_alerts_once_per_event_and_channel(
    already: dict[str, set[str]], expected: tuple[PlannedAlert, ...]
) -> None:
    routing = route(story(None), (ONE, TWO), now=NOW, max_age=DAY, already=already)
    assert routing.alerts == expected


def test_routes_add_channels_by_severity_and_tags() -> None:
    urgent = Match("flash", "Flash", ("x",), ("desk",), "urgent")
    normal = Match("libya", "Libya", ("y",), ("desk",), "normal")
    routes = [
        Route(("duty",), severity="high"),
        Route(("africa",), tags=frozenset({"maghreb"})),
        Route(("both",), severity="urgent", tags=frozenset({"maghreb"})),
    ]
    tags = {"libya": ("maghreb",), "flash": ()}
    routing = route(
        story(None), (urgent, normal), now=NOW, max_age=DAY, routes=routes, rule_tags=tags
    )
    assert routing.alerts == (
        PlannedAlert("desk", (urgent, normal)),
        PlannedAlert("duty", (urgent,)),
        PlannedAlert("africa", (normal,)),
    )


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (1, 2, {}),
        (2, 3, {"slack": ["r1"], "email": ["r1"]}),
        (3, 4, {}),  # crossed already: once
        (2, 5, {"slack": ["r1"], "email": ["r1", "r2"]}),
        (3, 3, {}),  # an outlet already counted
    ],
)
def test_escalations_fire_once_when_the_outlet_count_crosses(
    before: int, after: int, expected: dict[str, list[str]]
) -> None:
    told = {"slack": {"r1"}, "email": {"r1", "r2"}}
    assert escalations(told, {"r1": 3, "r2": 5}, outlets_before=before, outlets_after=after) == (
        expected
    )


def test_follow_ups_join_a_storys_alert_on_the_same_channel() -> None:
    planned = (PlannedAlert("slack", (TWO,)),)
    merged = with_follow_ups(planned, {"slack": [ONE], "email": [ONE]}, "now reported by 3")
    assert merged == (
        PlannedAlert("slack", (TWO, ONE), "now reported by 3"),
        PlannedAlert("email", (ONE,), "now reported by 3"),
    )
    assert with_follow_ups(planned, {}, "x") == planned
