"""Timing: when to retry an alert and when to give it up. Pure. (When to poll a feed next
is `monitor.feeds.policy`.)

The orchestrator asks; the store remembers the answers, so a restart resumes the
schedule instead of polling everything at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

ALERT_RETRY_FIRST = 30.0  # seconds before the second attempt
ALERT_RETRY_MAX = 3600.0  # the backoff doubles up to this


def alert_backoff(attempts: int) -> timedelta:
    """How long an alert is hidden after its `attempts`-th attempt starts: 30 s, doubling,
    at most an hour. It is also the claim's lease, so a crash mid-send retries after it."""
    return timedelta(seconds=min(ALERT_RETRY_MAX, ALERT_RETRY_FIRST * 2 ** max(0, attempts - 1)))


def too_old(created_at: datetime | None, now: datetime, max_age: float) -> bool:
    """Whether an alert queued at `created_at` is past `delivery.max_age` at `now`: a held
    one then expires instead of being sent, a failing one is given up. No date: not too old."""
    return created_at is not None and now - created_at > timedelta(seconds=max_age)


def interrupted(claimed_at: datetime | None, started: datetime) -> bool:
    """Whether a claim still open was cut off by a crash. One process holds the writer lock,
    so a claim made before this process started belongs to a process that is gone."""
    return claimed_at is not None and claimed_at < started


def gives_up(
    attempts: int,
    created_at: datetime | None,
    now: datetime,
    *,
    max_attempts: int,
    max_age: float,
) -> bool:
    """Whether a failed attempt (the `attempts`-th) is the last: too many, or too late."""
    return attempts >= max_attempts or too_old(created_at, now, max_age)
