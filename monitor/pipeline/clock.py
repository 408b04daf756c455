"""The clock every job reads, so tests can set the time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
