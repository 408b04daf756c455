"""Timing as pure code: the next poll after each outcome, and the alert back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.timing import alert_backoff, gives_up, interrupted, too_old

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
