"""Timing as pure code: the next poll after each outcome, and the alert back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.timing import (
    alert_backoff,
    alert_delay,
    gives_up,
    interrupted,
    median_delay,
    too_old,
)

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 30), (1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (10, 3600), (60, 3600)],
)
def test_alert_backoff_doubles_from_30_s_up_to_an_hour(attempts: int, seconds: float) -> None:
    assert alert_backoff(attempts) == timedelta(seconds=seconds)


HOUR = 3600.0


@pytest.mark.parametrize(
    ("age", "max_age", "old"),
    [
        (None, HOUR, False),  # no date: never expired on a guess
        (timedelta(0), HOUR, False),
        (timedelta(hours=1), HOUR, False),  # exactly max_age: still deliverable
        (timedelta(hours=1, seconds=1), HOUR, True),
        (timedelta(days=2), 24 * HOUR, True),
    ],
)
def test_too_old(age: timedelta | None, max_age: float, old: bool) -> None:
    created = None if age is None else NOW - age
    assert too_old(created, NOW, max_age) is old


@pytest.mark.parametrize(
    ("claimed", "interrupted_", "why"),
    [
        (None, False, "no claim open"),
        (NOW - timedelta(seconds=1), True, "claimed by the process before this one"),
        (NOW - timedelta(microseconds=1), True, "a restart within the same second"),
        (NOW, False, "claimed as this process started: its own"),
        (NOW + timedelta(seconds=5), False, "claimed by this process"),
    ],
)
def test_interrupted(claimed: datetime | None, interrupted_: bool, why: str) -> None:
    assert interrupted(claimed, NOW) is interrupted_, why


@pytest.mark.parametrize(
    ("attempts", "age", "final"),
    [
        (1, timedelta(0), False),
        (9, timedelta(hours=3), False),
        (10, timedelta(0), True),  # max_attempts reached
        (2, timedelta(hours=25), True),  # past max_age, however few attempts
    ],
)
def test_gives_up(attempts: int, age: timedelta, final: bool) -> None:
    assert gives_up(attempts, NOW - age, NOW, max_attempts=10, max_age=24 * HOUR) is final


@pytest.mark.parametrize(
    ("published", "first_seen", "sent", "delay"),
    [
        (T0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=4), 240.0),
        (None, T0, T0 + timedelta(seconds=30), 30.0),
        (T0 + timedelta(hours=5), T0, T0 + timedelta(minutes=1), 60.0),  # a future date
        (None, None, T0, None),
        (T0, None, T0 - timedelta(seconds=5), 0.0),  # clocks disagree: never negative
    ],
)
def test_alert_delay_counts_from_publication(
    published: datetime | None, first_seen: datetime | None, sent: datetime, delay: float | None
) -> None:
    assert alert_delay(published, first_seen, sent) == delay


def test_median_delay_ignores_unknowns() -> None:
    assert median_delay([60.0, None, 180.0, 120.0]) == 120.0
    assert median_delay([None]) is None
