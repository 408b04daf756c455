"""The polling policy as tables of cases: hints, Retry-After, back-off, jitter, health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.feeds.policy import (
    FeedHealth,
    PollOutcome,
    PollPolicy,
    backoff,
    decide,
    freshness_hint,
    good_interval,
    health,
    retry_after_seconds,
)
from monitor.models import PollStatus

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOUR = 3600.0
DAY = 86400.0
POLICY = PollPolicy(retry_after_error=600.0, max_backoff=6 * HOUR, max_interval=DAY)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("999999999", 2 * DAY),  # capped at two days
        ("Wed, 02 Dec 2026 13:00:00 GMT", HOUR),
        ("Wed, 02 Dec 2026 11:00:00 GMT", 0.0),  # in the past
        ("Sat, 02 Jan 2027 12:00:00 GMT", 2 * DAY),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    ("headers", "ttl", "hint"),
    [
        ({}, None, None),
        ({}, 1800.0, 1800.0),
        ({"Cache-Control": "public, max-age=900"}, None, 900.0),
        ({"cache-control": "max-age=900"}, 1200.0, 1200.0),  # the longest hint wins
        ({"Cache-Control": "no-cache, max-age=900"}, None, None),
        ({"Cache-Control": "max-age=0"}, None, None),
        ({"Expires": "Wed, 02 Dec 2026 14:00:00 GMT"}, None, 2 * HOUR),
        # Measured from the response's own Date: the two clocks may differ.
        (
            {"Expires": "Wed, 02 Dec 2026 14:00:00 GMT", "Date": "Wed, 02 Dec 2026 13:30:00 GMT"},
            None,
            1800.0,
        ),
        ({"Expires": "0"}, None, None),
        ({"Expires": "Wed, 02 Dec 2026 11:00:00 GMT"}, None, None),
    ],
)
def test_freshness_hint(headers: dict[str, str], ttl: float | None, hint: float | None) -> None:
    assert freshness_hint(headers, ttl, NOW) == hint


@pytest.mark.parametrize(
    ("interval", "headers", "ttl", "wait"),
    [
        (300.0, {}, None, 300.0),
        (300.0, {}, 3600.0, 3600.0),  # <ttl>60</ttl> raises it
        (3600.0, {}, 600.0, 3600.0),  # ... never lowers it
        (300.0, {"Cache-Control": "max-age=604800"}, None, DAY),  # capped
        (2 * DAY, {"Cache-Control": "max-age=604800"}, None, 2 * DAY),  # the interval stands
    ],
)
def test_good_interval(
    interval: float, headers: dict[str, str], ttl: float | None, wait: float
) -> None:
    assert good_interval(interval, headers, ttl, NOW, DAY) == wait


@pytest.mark.parametrize(
    ("failures", "interval", "permanent", "wait"),
    [
        (1, 60.0, False, 600.0),
        (2, 60.0, False, 1200.0),
        (3, 60.0, False, 2400.0),
        (6, 60.0, False, 19200.0),
        (7, 60.0, False, 6 * HOUR),  # capped
        (500, 60.0, False, 6 * HOUR),
        (1, 3600.0, False, 3600.0),  # never less than the interval
        (1, 60.0, True, 3600.0),  # a 404 starts six times later
        (2, 60.0, True, 7200.0),
        (1, 12 * HOUR, False, 12 * HOUR),  # an interval above the cap stands
    ],
)
def test_backoff(failures: int, interval: float, permanent: bool, wait: float) -> None:
    assert backoff(failures, interval=interval, policy=POLICY, permanent=permanent) == wait


@pytest.mark.parametrize(
    ("failures", "gone", "state"),
    [
        (0, False, FeedHealth.OK),
        (1, False, FeedHealth.FAILING),
        (4, False, FeedHealth.FAILING),
        (5, False, FeedHealth.UNHEALTHY),
        (50, False, FeedHealth.UNHEALTHY),
        (1, True, FeedHealth.GONE),
    ],
)
def test_health(failures: int, gone: bool, state: FeedHealth) -> None:
    assert health(failures, gone=gone, unhealthy_after=5) == state


def error(failures: int, **kw: object) -> PollOutcome:
    return PollOutcome(PollStatus.ERROR, failures=failures, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "delay", "state"),
    [
        (PollOutcome(PollStatus.OK), 300.0, FeedHealth.OK),
        (PollOutcome(PollStatus.NOT_MODIFIED, ttl=1200.0), 1200.0, FeedHealth.OK),
        (error(1), 600.0, FeedHealth.FAILING),
        (error(5), 9600.0, FeedHealth.UNHEALTHY),
        # 429/503 wait at least what the server asks, capped at two days.
        (error(1, http_status=429, retry_after="7200"), 7200.0, FeedHealth.FAILING),
        (error(1, http_status=503, retry_after="60"), 600.0, FeedHealth.FAILING),
        (error(1, http_status=503, retry_after="9999999"), 2 * DAY, FeedHealth.FAILING),
        (
            error(1, http_status=429, retry_after="Wed, 02 Dec 2026 15:00:00 GMT"),
            3 * HOUR,
            FeedHealth.FAILING,
        ),
        # Retry-After on another status is not a promise the policy keeps.
        (error(1, http_status=500, retry_after="7200"), 600.0, FeedHealth.FAILING),
        (error(1, http_status=410, gone=True, permanent=True), None, FeedHealth.GONE),
    ],
)
def test_decide(outcome: PollOutcome, delay: float | None, state: FeedHealth) -> None:
    decision = decide(NOW, outcome, interval=300.0, policy=POLICY)
    assert (decision.delay, decision.health) == (delay, state)
    expected = None if delay is None else NOW + timedelta(seconds=delay)
    assert decision.next_poll_at == expected


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999, 1.0])
@pytest.mark.parametrize(
    "outcome",
    [
        PollOutcome(PollStatus.OK),
        error(3),
        error(1, http_status=429, retry_after="7200"),
        error(1, http_status=503, retry_after="Wed, 02 Dec 2026 15:00:00 GMT"),
    ],
)
def test_jitter_only_ever_adds_time(outcome: PollOutcome, rand: float) -> None:
    policy = PollPolicy(retry_after_error=600.0, jitter=0.1)
    plain = decide(NOW, outcome, interval=300.0, policy=policy, rand=lambda: 0.0)
    jittered = decide(NOW, outcome, interval=300.0, policy=policy, rand=lambda: rand)
    assert plain.delay is not None and plain.next_poll_at is not None
    assert jittered.next_poll_at is not None
    assert plain.next_poll_at <= jittered.next_poll_at
    added = (jittered.next_poll_at - plain.next_poll_at).total_seconds()
    assert added == pytest.approx(plain.delay * 0.1 * rand)
