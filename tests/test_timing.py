"""Timing as pure code: the next poll after each outcome, and the alert back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import PollStatus
from monitor.timing import alert_backoff, next_poll, poll_delay

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "interval", "retry", "permanent", "delay"),
    [
        (PollStatus.OK, 300, 600, False, 300),
        (PollStatus.NOT_MODIFIED, 60, 600, False, 60),
        (PollStatus.ERROR, 60, 600, False, 600),  # a failure waits retry_after_error
        (PollStatus.ERROR, 3600, 600, False, 3600),  # ... never less than the interval
        (PollStatus.ERROR, 60, 600, True, 3600),  # a 404 or 410: six times longer
        (PollStatus.ERROR, 3600, 600, True, 21600),
        (PollStatus.OK, 300, 600, True, 300),  # "permanent" means nothing without an error
    ],
)
def test_poll_delay(
    status: PollStatus, interval: float, retry: float, permanent: bool, delay: float
) -> None:
    assert (
        poll_delay(status, interval=interval, retry_after_error=retry, permanent=permanent) == delay
    )
    when = next_poll(NOW, status, interval=interval, retry_after_error=retry, permanent=permanent)
    assert when == NOW + timedelta(seconds=delay)


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 30), (1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (10, 3600), (60, 3600)],
)
def test_alert_backoff_doubles_from_30_s_up_to_an_hour(attempts: int, seconds: float) -> None:
    assert alert_backoff(attempts) == timedelta(seconds=seconds)
