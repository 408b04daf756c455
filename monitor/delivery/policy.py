"""Delivery policy: whether an alert goes out now, waits for its channel's digest, or is
muted; when the next digest is; how a channel is paced. Pure: the deliverer asks with the
facts (the time, the channel's settings, the active mutes, how many alerts the channel sent
lately) and applies the answer.

The order of the questions is the order of their authority: a mute (in monitor.yaml or at
run time) stops an alert for good; a digest-only rule, quiet hours and the rate limit only
defer it to the digest, which never drops anything. `urgent` alerts skip quiet hours and
the rate limit: they are the ones a desk wants to be woken for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.models import Alert, Mute, MuteKind, RuleSeverity

DEFAULT_DIGEST = "0 * * * *"  # every hour, on the hour
SEVERITY_ORDER = tuple(RuleSeverity)  # info < normal < high < urgent

_BUDGET = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class Verdict(StrEnum):
    """What becomes of one alert now."""

    SEND = "send"
    DIGEST = "digest"  # wait for the channel's next digest
    MUTE = "mute"  # stopped for good; recorded as muted


@dataclass(frozen=True)
class Budget:
    """A rate limit: at most `count` alerts per `per` seconds."""

    count: int
    per: float

    def __str__(self) -> str:
        for unit in "dhms":
            if self.per % _UNITS[unit] == 0:
                return f"{self.count}/{self.per // _UNITS[unit]:g}{unit}"
        return f"{self.count}/{self.per:g}s"


def parse_budget(value: str) -> Budget:
    """ "10/1h" → Budget(10, 3600). Raises ValueError for anything else."""
    m = _BUDGET.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a rate limit such as 10/1h (a count per duration)")
    count, amount, unit = int(m.group(1)), m.group(2) or "1", m.group(3)
    per = float(amount) * _UNITS[unit]
    if count < 1 or per <= 0:
        raise ValueError(f"{value!r}: a rate limit needs a count and a duration above zero")
    return Budget(count, per)


@dataclass(frozen=True)
class QuietHours:
    """A daily span of local time, e.g. 22:00-06:00 (which crosses midnight)."""

    start: time
    end: time

    def __contains__(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet_hours(value: str) -> QuietHours:
    """ "22:00-06:00" → QuietHours. Raises ValueError for anything else."""
    m = _QUIET.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a span of hours such as 22:00-06:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{value!r}: hours run 00:00 to 23:59")
    if (h1, m1) == (h2, m2):
        raise ValueError(f"{value!r} is empty: start and end are the same")
    return QuietHours(time(h1, m1), time(h2, m2))


def parse_digest(value: str, timezone: str | None = None) -> CronTrigger:
    """A digest schedule: a five-field cron expression in the channel's time zone.
    Raises ValueError when APScheduler cannot read it."""
    return CronTrigger.from_crontab(value, timezone=ZoneInfo(timezone or "UTC"))


@dataclass(frozen=True)
class ChannelPolicy:
    """What monitor.yaml says about when a channel may be sent to."""

    name: str
    muted: bool = False
    budget: Budget | None = None
    quiet: QuietHours | None = None
    timezone: str | None = None
    digest: str | None = DEFAULT_DIGEST  # cron; None: only `monitor digest --now`
    pace: float = 0.0  # seconds between two messages, where the service requires it
    timeout: float = 30.0  # seconds to wait for the service's answer
    group_wait: float = 0.0  # seconds an alert waits for the outlets that follow

    def waiting(self, created_at: datetime | None, now: datetime) -> bool:
        """Whether an alert queued at `created_at` is still in its group wait at `now`."""
        if self.group_wait <= 0 or created_at is None:
            return False
        return now < created_at + timedelta(seconds=self.group_wait)

    def local(self, now: datetime) -> datetime:
        """`now` in the channel's time zone."""
        return now.astimezone(ZoneInfo(self.timezone or "UTC"))

    def in_quiet_hours(self, now: datetime) -> bool:
        """Whether `now` falls in the channel's quiet hours."""
        return self.quiet is not None and self.local(now).time() in self.quiet


@dataclass(frozen=True)
class Decision:
    """The verdict on one alert, why, and whether the desk must now be told that the rate
    limit was reached (once per stretch of limiting)."""

    verdict: Verdict
    reason: str = ""
    notice: bool = False


def severity_rank(severity: str) -> int:
    """info 0, normal 1, high 2, urgent 3; an unknown severity counts as normal."""
    try:
        return SEVERITY_ORDER.index(RuleSeverity(severity))
    except ValueError:
        return 1


def alert_severity(alert: Alert) -> str:
    """The highest severity among the alert's rules."""
    if not alert.matches:
        return RuleSeverity.NORMAL.value
    return max((m.severity for m in alert.matches), key=severity_rank)


def muted_by(alert: Alert, mutes: Sequence[Mute], now: datetime) -> Mute | None:
    """The run-time mute that stops `alert` at `now`: one on its channel or its story, or
    rule mutes that together cover every rule that sent it. None if it may go."""
    active = [m for m in mutes if now < m.until]
    for mute in active:
        if mute.kind is MuteKind.CHANNEL and mute.value == alert.channel:
            return mute
        if mute.kind is MuteKind.STORY and mute.value == str(alert.story_id):
            return mute
    rules = {m.rule_id for m in alert.matches}
    by_rule = {m.value: m for m in active if m.kind is MuteKind.RULE}
    if rules and rules <= by_rule.keys():
        return by_rule[min(rules)]
    return None


def next_digest(policy: ChannelPolicy, now: datetime) -> datetime | None:
    """When the channel's next scheduled digest runs after `now` (None: no schedule)."""
    if policy.digest is None:
        return None
    # Strictly after: a digest due this very second may already have gone.
    trigger = parse_digest(policy.digest, policy.timezone)
    fire: datetime | None = trigger.get_next_fire_time(None, now + timedelta(seconds=1))
    return fire


def _at(policy: ChannelPolicy, when: datetime | None) -> str:
    if when is None:
        return "the next digest (`monitor digest --now`: no schedule is set)"
    return f"the {policy.local(when):%H:%M} digest"


def decide(
    alert: Alert,
    policy: ChannelPolicy,
    *,
    now: datetime,
    mutes: Sequence[Mute] = (),
    sent_recently: int = 0,
    digest_only: Collection[str] = (),
    noticed: bool = False,
) -> Decision:
    """Send, defer to the digest, or mute one alert at `now`.

    `sent_recently`: how many alerts the channel sent in the budget's window before now;
    `digest_only`: the ids of rules whose alerts only ever go in a digest; `noticed`:
    whether the desk was already told that this stretch of rate limiting began.
    """
    if policy.muted:
        return Decision(Verdict.MUTE, "channel muted in monitor.yaml")
    mute = muted_by(alert, mutes, now)
    if mute is not None:
        why = f": {mute.reason}" if mute.reason else ""
        return Decision(Verdict.MUTE, f"muted by mute {mute.id} ({mute.kind} {mute.value}){why}")
    rules = {m.rule_id for m in alert.matches}
    if rules and rules <= set(digest_only):
        when = next_digest(policy, now)
        return Decision(Verdict.DIGEST, f"digest-only rule: in {_at(policy, when)}")
    if severity_rank(alert_severity(alert)) >= severity_rank(RuleSeverity.URGENT):
        return Decision(Verdict.SEND)
    if policy.in_quiet_hours(now):
        when = next_digest(policy, now)
        return Decision(Verdict.DIGEST, f"quiet hours ({policy.quiet}): in {_at(policy, when)}")
    if policy.budget is not None and sent_recently >= policy.budget.count:
        when = next_digest(policy, now)
        return Decision(
            Verdict.DIGEST,
            f"rate limit reached ({policy.budget}): in {_at(policy, when)}",
            notice=not noticed,
        )
    return Decision(Verdict.SEND)


def rate_notice(policy: ChannelPolicy, now: datetime) -> str:
    """What the desk is told once when a channel's rate limit is reached."""
    when = next_digest(policy, now)
    budget = f"{policy.budget} on {policy.name}"
    return f"Rate limit reached ({budget}); the rest come in {_at(policy, when)}."


def window_start(policy: ChannelPolicy, now: datetime) -> datetime:
    """Where the budget's sliding window starts."""
    per = policy.budget.per if policy.budget is not None else 0.0
    return now - timedelta(seconds=per)


def digest_due(policy: ChannelPolicy, now: datetime) -> bool:
    """Whether a scheduled digest may go out at `now`: not in quiet hours (the digest
    after they end carries what waited)."""
    return not policy.in_quiet_hours(now)
