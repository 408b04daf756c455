"""Delivery policy as a table: send now, wait for the digest, or mute; budgets, quiet hours
and digest schedules read in the channel's own time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from monitor.delivery.policy import (
    Budget,
    ChannelPolicy,
    QuietHours,
    Verdict,
    alert_severity,
    decide,
    digest_due,
    muted_by,
    next_digest,
    parse_budget,
    parse_quiet_hours,
)
from monitor.models import Alert, Match, Mute, MuteKind, Story

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 15:00 in London, 16:00 in Berlin


def alert(*rules: tuple[str, str], channel: str = "desk", story_id: int = 7) -> Alert:
    return Alert(
        id=1,
        channel=channel,
        outlet="Wire",
        story=Story(feed="wire", guid="g", link="https://ex.org/1", title="Misrata shelled"),
        matches=tuple(Match(rule, rule, ("Misrata",), (channel,), sev) for rule, sev in rules),
        story_id=story_id,
    )


NORMAL = alert(("libya", "normal"))
URGENT = alert(("libya", "urgent"))
TWO_RULES = alert(("libya", "normal"), ("arms", "high"))
LIMITED = ChannelPolicy("desk", budget=Budget(10, 3600))
QUIET = ChannelPolicy("desk", quiet=QuietHours(time(14), time(16)), timezone="Europe/London")
HOUR = timedelta(hours=1)


def mute(kind: MuteKind, value: str, until: datetime = NOW + HOUR) -> Mute:
    return Mute(kind, value, until, "press conference", id=3)


CASES = [
    # (case, alert, policy, keyword arguments, verdict, reason contains, notice)
    ("plain", NORMAL, ChannelPolicy("desk"), {}, Verdict.SEND, "", False),
    (
        "config mute",
        NORMAL,
        ChannelPolicy("desk", muted=True),
        {},
        Verdict.MUTE,
        "monitor.yaml",
        False,
    ),
    (
        "channel mute",
        NORMAL,
        LIMITED,
        {"mutes": [mute(MuteKind.CHANNEL, "desk")]},
        Verdict.MUTE,
        "mute 3 (channel desk): press conference",
        False,
    ),
    (
        "another channel's mute",
        NORMAL,
        LIMITED,
        {"mutes": [mute(MuteKind.CHANNEL, "email")]},
        Verdict.SEND,
        "",
        False,
    ),
    (
        "story mute",
        NORMAL,
        LIMITED,
        {"mutes": [mute(MuteKind.STORY, "7")]},
        Verdict.MUTE,
        "story 7",
        False,
    ),
    (
        "rule mute",
        NORMAL,
        LIMITED,
        {"mutes": [mute(MuteKind.RULE, "libya")]},
        Verdict.MUTE,
        "rule libya",
        False,
    ),
    (
        "expired mute",
        NORMAL,
        LIMITED,
        {"mutes": [mute(MuteKind.RULE, "libya", NOW)]},
        Verdict.SEND,
        "",
        False,
    ),
    (
        "one of two rules muted",
        TWO_RULES,
        LIMITED,
        {"mutes": [mute(MuteKind.RULE, "libya")]},
        Verdict.SEND,
        "",
        False,
    ),
    (
        "both rules muted",
        TWO_RULES,
        LIMITED,
        {"mutes": [mute(MuteKind.RULE, "libya"), mute(MuteKind.RULE, "arms")]},
        Verdict.MUTE,
        "rule",
        False,
    ),
    (
        "mute beats urgent",
        URGENT,
        LIMITED,
        {"mutes": [mute(MuteKind.CHANNEL, "desk")]},
        Verdict.MUTE,
        "",
        False,
    ),
    (
        "digest-only rule",
        NORMAL,
        LIMITED,
        {"digest_only": {"libya"}},
        Verdict.DIGEST,
        "digest-only rule: in the 16:00 digest",
        False,
    ),
    (
        "one rule digest-only",
        TWO_RULES,
        LIMITED,
        {"digest_only": {"libya"}},
        Verdict.SEND,
        "",
        False,
    ),
    (
        "quiet hours",
        NORMAL,
        QUIET,
        {},
        Verdict.DIGEST,
        "quiet hours (14:00-16:00): in the 16:00 digest",
        False,
    ),
    ("urgent in quiet hours", URGENT, QUIET, {}, Verdict.SEND, "", False),
    (
        "after quiet hours",
        NORMAL,
        replace(QUIET, timezone="Europe/Berlin"),
        {},
        Verdict.SEND,
        "",
        False,
    ),
    ("under budget", NORMAL, LIMITED, {"sent_recently": 9}, Verdict.SEND, "", False),
    (
        "budget reached",
        NORMAL,
        LIMITED,
        {"sent_recently": 10},
        Verdict.DIGEST,
        "rate limit reached (10/1h): in the 16:00 digest",
        True,
    ),
    (
        "budget reached, desk told",
        NORMAL,
        LIMITED,
        {"sent_recently": 12, "noticed": True},
        Verdict.DIGEST,
        "rate limit",
        False,
    ),
    ("urgent over budget", URGENT, LIMITED, {"sent_recently": 50}, Verdict.SEND, "", False),
    (
        "no schedule",
        NORMAL,
        replace(LIMITED, digest=None),
        {"sent_recently": 10},
        Verdict.DIGEST,
        "`monitor digest --now`",
        True,
    ),
]


@pytest.mark.parametrize(
    ("case", "item", "policy", "kwargs", "verdict", "reason", "notice"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_decide(
    case: str,
    item: Alert,
    policy: ChannelPolicy,
    kwargs: dict[str, object],
    verdict: Verdict,
    reason: str,
    notice: bool,
) -> None:
    decision = decide(item, policy, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert decision.verdict is verdict
    assert reason in decision.reason
    assert decision.notice is notice


@pytest.mark.parametrize(
    ("text", "budget"),
    [("10/1h", Budget(10, 3600)), ("3 / 30m", Budget(3, 1800)), ("100/d", Budget(100, 86400))],
)
def test_budgets_are_a_count_per_duration(text: str, budget: Budget) -> None:
    assert parse_budget(text) == budget


@pytest.mark.parametrize("text", ["10", "10/h/2", "0/1h", "ten/1h", "10/0h", "10 per hour"])
def test_a_budget_that_is_not_a_count_per_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_budget(text)


@pytest.mark.parametrize(
    ("span", "moment", "inside"),
    [
        ("22:00-06:00", time(23, 30), True),
        ("22:00-06:00", time(5, 59), True),
        ("22:00-06:00", time(6, 0), False),
        ("22:00-06:00", time(12, 0), False),
        ("09:00-17:30", time(17, 29), True),
        ("09:00-17:30", time(8, 59), False),
    ],
)
def test_quiet_hours_may_cross_midnight(span: str, moment: time, inside: bool) -> None:
    assert (moment in parse_quiet_hours(span)) is inside


@pytest.mark.parametrize("text", ["22-06", "25:00-06:00", "10:00-10:00", "night"])
def test_quiet_hours_that_are_not_a_span_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quiet_hours(text)


def test_quiet_hours_are_read_in_the_channels_time_zone() -> None:
    night = ChannelPolicy("desk", quiet=parse_quiet_hours("22:00-06:00"), timezone="Asia/Tokyo")
    # 15:00 UTC is midnight in Tokyo: quiet there, and no scheduled digest either.
    assert night.in_quiet_hours(NOW) and not digest_due(night, NOW)
    assert not replace(night, timezone="UTC").in_quiet_hours(NOW)


def test_the_next_digest_follows_the_cron_schedule_in_the_channels_time_zone() -> None:
    daily = ChannelPolicy("desk", digest="0 9 * * *", timezone="America/New_York")
    # 15:00 UTC is 10:00 in New York: the next 09:00 there is tomorrow, 14:00 UTC.
    assert next_digest(daily, NOW) == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert next_digest(replace(daily, digest=None), NOW) is None


def test_an_alerts_severity_is_its_most_severe_rule() -> None:
    assert alert_severity(TWO_RULES) == "high"
    assert alert_severity(alert()) == "normal"


def test_a_rule_mute_names_the_mute_that_stopped_the_alert() -> None:
    mutes = [mute(MuteKind.RULE, "libya"), replace(mute(MuteKind.RULE, "arms"), id=4)]
    assert muted_by(TWO_RULES, mutes, NOW) is mutes[1]
    assert muted_by(TWO_RULES, mutes, NOW + HOUR) is None
