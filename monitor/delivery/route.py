"""Routing: a story's matches → the alerts to create, one per channel. Pure.

One alert per (story, channel), however many rules sent the story there: three rules
routed to one channel are one message listing the three. A story older than the feed's
`max_age` (a new feed's backlog) is kept as seen with its matches, but alerts nobody.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.delivery.policy import severity_rank
from monitor.models import BacklogPolicy, Match, PlannedAlert, Story


@dataclass(frozen=True)
class Route:
    """monitor.yaml's routing beyond a rule's own channels: a match of at least `severity`
    (when set) from a rule with one of `tags` (when set) also goes to `channels`."""

    channels: tuple[str, ...]
    severity: str | None = None
    tags: frozenset[str] = frozenset()

    def selects(self, match: Match, rule_tags: Sequence[str]) -> bool:
        """Whether this route takes `match` (whose rule carries `rule_tags`)."""
        if self.severity is not None and severity_rank(match.severity) < severity_rank(
            self.severity
        ):
            return False
        return not self.tags or bool(self.tags.intersection(rule_tags))


@dataclass(frozen=True)
class Routing:
    """What routing decided for one story."""

    alerts: tuple[PlannedAlert, ...]
    backlog: bool = False  # it matched, but is too old to alert


def is_backlog(story: Story, now: datetime, max_age: float) -> bool:
    """Whether a story was published more than `max_age` seconds before `now`. A story
    with no date counts as published when first seen, so it is never backlog."""
    return story.published is not None and story.published < now - timedelta(seconds=max_age)


def route(
    story: Story,
    matches: Sequence[Match],
    *,
    now: datetime,
    max_age: float,
    backlog: BacklogPolicy = BacklogPolicy.SKIP,
    routes: Sequence[Route] = (),
    rule_tags: Mapping[str, Sequence[str]] | None = None,
    already: Mapping[str, Collection[str]] | None = None,
) -> Routing:
    """The alerts to create for a story: one per channel its matching rules name, in the
    order the rules and their channels are written, then the channels `routes` add; none
    for a backlog story. `already` holds, by channel, the rules that alerted for the
    story's event (its cluster) before: a rule alerts once per event and channel, so those
    matches are left out, and a channel left with none gets no alert."""
    if not matches:
        return Routing(())
    if backlog is BacklogPolicy.SKIP and is_backlog(story, now, max_age):
        return Routing((), backlog=True)
    by_channel: dict[str, list[Match]] = {}
    for match in matches:
        for channel in match.channels:
            by_channel.setdefault(channel, []).append(match)
    for extra in routes:
        for match in matches:
            if not extra.selects(match, (rule_tags or {}).get(match.rule_id, ())):
                continue
            for channel in extra.channels:
                listed = by_channel.setdefault(channel, [])
                if match not in listed:
                    listed.append(match)
    if already:
        by_channel = {
            channel: [m for m in listed if m.rule_id not in already.get(channel, ())]
            for channel, listed in by_channel.items()
        }
    return Routing(tuple(PlannedAlert(c, tuple(ms)) for c, ms in by_channel.items() if ms))


def escalations(
    told: Mapping[str, Collection[str]],
    escalate_at: Mapping[str, int],
    *,
    outlets_before: int,
    outlets_after: int,
) -> dict[str, list[str]]:
    """The follow-ups an event owes as its story count of outlets grows from
    `outlets_before` to `outlets_after`: by channel, the rules that alerted there (`told`)
    whose `escalate_at` lies in that step. Each rule escalates once, when it is crossed."""
    owed: dict[str, list[str]] = {}
    for channel, rules in told.items():
        for rule in sorted(rules):
            at = escalate_at.get(rule)
            if at is not None and outlets_before < at <= outlets_after:
                owed.setdefault(channel, []).append(rule)
    return owed


def with_follow_ups(
    alerts: Sequence[PlannedAlert], follow_ups: Mapping[str, Sequence[Match]], why: str
) -> tuple[PlannedAlert, ...]:
    """The planned alerts with an event's follow-ups added: into a channel's alert when the
    story already has one (one alert per story and channel), else as their own."""
    merged = []
    for planned in alerts:
        extra = [m for m in follow_ups.get(planned.channel, ()) if m not in planned.matches]
        if planned.channel in follow_ups:
            merged.append(PlannedAlert(planned.channel, (*planned.matches, *extra), why))
        else:
            merged.append(planned)
    planned_channels = {p.channel for p in alerts}
    for channel, matches in follow_ups.items():
        if channel not in planned_channels and matches:
            merged.append(PlannedAlert(channel, tuple(matches), why))
    return tuple(merged)
