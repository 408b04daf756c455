"""Timing: when to retry an alert and when to give it up. Pure. (When to poll a feed next
is `monitor.feeds.policy`.)

The orchestrator asks; the store remembers the answers, so a restart resumes the
schedule instead of polling everything at once.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

ALERT_RETRY_FIRST = 30.0  # seconds before the second attempt
ALERT_RETRY_MAX = 3600.0  # the backoff doubles up to this
# A service (a feed, a channel) asking us to wait longer than this is not taken at its word.
RETRY_AFTER_MAX = 2 * 86400.0


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


def alert_delay(
    published: datetime | None, first_seen: datetime | None, sent: datetime
) -> float | None:
    """Seconds from a story's publication to its alert leaving: the desk's wait. From when
    it was first seen when the feed gave no date, or a date after it was seen (a wrong
    time zone); None when neither is known."""
    start = (
        published
        if published is not None and (first_seen is None or published <= first_seen)
        else first_seen
    )
    if start is None:
        return None
    return max(0.0, (sent - start).total_seconds())


def median_delay(delays: Iterable[float | None]) -> float | None:
    """The median of the known delays, or None when there are none."""
    known = [d for d in delays if d is not None]
    return statistics.median(known) if known else None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header in seconds from `now` (a number, or an HTTP date), capped at two
    days; None when absent or unreadable. A date in the past is 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), RETRY_AFTER_MAX)
