"""Backtest: rules run over stories already stored, and what an edit of the rules would change.

An orchestrator with no I/O of its own: the CLI hands it the stored stories (from
`Store.stories_since`) and two matchers, and renders the report it returns.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from monitor.models import StoredStory
from monitor.rules import Matcher

SAMPLE = 5  # headlines shown per rule


class Change(StrEnum):
    """What an edited rule set does to one (story, rule) pair."""

    GAINED = "gained"  # the edited rules match it, the rules in force do not
    LOST = "lost"  # the rules in force match it, the edited rules do not


@dataclass
class RuleHits:
    """One rule's hits over the window: per day, and the newest few."""

    rule: str
    name: str
    per_day: Counter[date] = field(default_factory=Counter)
    sample: deque[StoredStory] = field(default_factory=lambda: deque(maxlen=SAMPLE))

    @property
    def total(self) -> int:
        return sum(self.per_day.values())


@dataclass(frozen=True)
class Changed:
    """A story that an edit of the rules gains or loses for one rule."""

    rule: str
    change: Change
    story: StoredStory


@dataclass
class BacktestReport:
    """Hits per rule of the rule set tried, and (with a baseline) the changes."""

    stories: int = 0
    hits: dict[str, RuleHits] = field(default_factory=dict)
    changes: list[Changed] = field(default_factory=list)


def backtest(
    stories: Iterable[StoredStory], tried: Matcher, baseline: Matcher | None = None
) -> BacktestReport:
    """Run `tried` over the stories and count its hits per rule and day; with a `baseline`
    (the rules in force), also list every (story, rule) the tried rules gain or lose."""
    report = BacktestReport(
        hits={r.id: RuleHits(r.id, r.name) for r in tried.rules},
    )
    for stored in stories:
        report.stories += 1
        now_firing = {m.rule_id for m in tried.match(stored.story)}
        day = stored.first_seen.date() if stored.first_seen else date.min
        for rule_id in now_firing:
            hits = report.hits[rule_id]
            hits.per_day[day] += 1
            hits.sample.append(stored)
        if baseline is None:
            continue
        before = {m.rule_id for m in baseline.match(stored.story)}
        for rule_id in sorted(now_firing - before):
            report.changes.append(Changed(rule_id, Change.GAINED, stored))
        for rule_id in sorted(before - now_firing):
            report.changes.append(Changed(rule_id, Change.LOST, stored))
    return report
