"""The polling policy: when to poll a feed next and how it is doing. Pure; the store applies.

- a good poll waits the feed's interval, raised (never lowered) by the publisher's own hints
  (RSS `<ttl>`, `Cache-Control: max-age`, `Expires`), capped at `max_interval`;
- 429 and 503 with `Retry-After` (seconds or an HTTP date) wait at least that long, capped at
  two days;
- any other failure backs off exponentially from `retry_after_error` (never below the
  interval), capped at `max_backoff` (6 h), reset by the next success;
- jitter only ever adds time, so it never brings a poll forward of what was asked;
- after `unhealthy_after` consecutive failures a feed is unhealthy; 410 Gone ends its polling.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from monitor.models import PollStatus
from monitor.timing import retry_after_seconds

PERMANENT_FACTOR = 6  # a 404 or a missing file starts its back-off this many times later
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class FeedHealth(StrEnum):
    """How a feed is doing, as `monitor feeds` shows it."""

    OK = "ok"  # its last poll worked
    FAILING = "failing"  # failed lately, fewer times in a row than `unhealthy_after`
    UNHEALTHY = "unhealthy"  # failed `unhealthy_after` times in a row or more
    GONE = "gone"  # answered 410 Gone: no longer polled until its URL changes


@dataclass(frozen=True)
class PollPolicy:
    """The knobs of the policy (from monitor.yaml's `poll:`)."""

    retry_after_error: float = 600.0  # the first back-off after a failure
    max_backoff: float = 6 * 3600.0
    max_interval: float = 86400.0  # the most a publisher's hint can stretch an interval to
    unhealthy_after: int = 5
    # Up to this fraction of the delay is added, at random (monitor.yaml's default is 0.1;
    # none here, so that a table of cases can name exact times).
    jitter: float = 0.0


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of a feed found, as far as timing cares."""

    status: PollStatus
    failures: int = 0  # consecutive failures, this one included (0 after a success)
    headers: Mapping[str, str] = field(default_factory=dict)
    ttl: float | None = None  # the feed's <ttl>, in seconds
    retry_after: str | None = None  # the Retry-After header of a 429 or 503
    http_status: int | None = None
    permanent: bool = False  # an error that will not mend by itself (404, bad URL)
    gone: bool = False  # 410 Gone


@dataclass(frozen=True)
class Decision:
    """When to poll next (None: never, the feed is gone) and how the feed is doing."""

    next_poll_at: datetime | None
    health: FeedHealth
    delay: float | None  # seconds, before jitter is what `next_poll_at - now` shows


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def freshness_hint(headers: Mapping[str, str], ttl: float | None, now: datetime) -> float | None:
    """The longest wait the publisher asks for: `<ttl>`, `Cache-Control: max-age`, or
    `Expires` (measured from the response's `Date` when it has one, so clocks may differ)."""
    hints: list[float] = []
    if ttl is not None and ttl > 0:
        hints.append(ttl)
    cache_control = _header(headers, "Cache-Control") or ""
    if "no-cache" not in cache_control.lower() and "no-store" not in cache_control.lower():
        found = _MAX_AGE.search(cache_control)
        if found:
            hints.append(float(found[1]))
    expires = _header(headers, "Expires")
    if expires:
        try:
            ends = parsedate_to_datetime(expires)
            date_header = _header(headers, "Date")
            base = parsedate_to_datetime(date_header) if date_header else now
            if ends.tzinfo is None:
                ends = ends.replace(tzinfo=UTC)
            if base.tzinfo is None:
                base = base.replace(tzinfo=UTC)
            hints.append((ends - base).total_seconds())
        except (TypeError, ValueError, IndexError):
            pass
    positive = [h for h in hints if h > 0]
    return max(positive) if positive else None


def good_interval(
    interval: float, headers: Mapping[str, str], ttl: float | None, now: datetime, cap: float
) -> float:
    """The wait after a good poll: the interval, raised by the publisher's hint up to `cap`
    (never above the cap unless the interval itself is)."""
    hint = freshness_hint(headers, ttl, now)
    if hint is None or hint <= interval:
        return interval
    return max(interval, min(hint, cap))


def backoff(failures: int, *, interval: float, policy: PollPolicy, permanent: bool) -> float:
    """The wait after the `failures`-th failure in a row: `retry_after_error` (at least the
    interval) doubling each time, six times that for an error that will not mend by itself
    (404, a missing file), at most `max_backoff` (or the interval, if that is longer)."""
    first = max(interval, policy.retry_after_error) * (PERMANENT_FACTOR if permanent else 1)
    steps = min(max(0, failures - 1), 32)
    return max(interval, min(policy.max_backoff, first * 2.0**steps))


def health(failures: int, *, gone: bool, unhealthy_after: int) -> FeedHealth:
    """How a feed with `failures` consecutive failures is doing."""
    if gone:
        return FeedHealth.GONE
    if failures <= 0:
        return FeedHealth.OK
    return FeedHealth.UNHEALTHY if failures >= unhealthy_after else FeedHealth.FAILING


def decide(
    now: datetime,
    outcome: PollOutcome,
    *,
    interval: float,
    policy: PollPolicy,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """When to poll a feed next after `outcome`, and how it is doing."""
    state = health(outcome.failures, gone=outcome.gone, unhealthy_after=policy.unhealthy_after)
    if outcome.gone:
        return Decision(None, state, None)
    if outcome.status is not PollStatus.ERROR:
        delay = good_interval(interval, outcome.headers, outcome.ttl, now, policy.max_interval)
    else:
        delay = backoff(
            outcome.failures, interval=interval, policy=policy, permanent=outcome.permanent
        )
        if outcome.http_status in (429, 503):
            asked = retry_after_seconds(outcome.retry_after, now)
            if asked is not None:  # at least as long as the server asked (two days at most)
                delay = max(delay, asked)
    # Jitter adds up to `jitter` of the delay: feeds polled together drift apart, and a
    # Retry-After or a back-off is never shortened by it.
    jittered = delay * (1.0 + policy.jitter * max(0.0, min(1.0, rand())))
    return Decision(now + timedelta(seconds=jittered), state, delay)
