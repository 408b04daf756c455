"""Per-host limits: which feeds may start now, at most N requests at once in all and M per
host, so one publisher with fifty feeds is not hit fifty times at once, and a busy host's
queue never holds up another host's feeds (a feed waiting for its host takes no worker).

Pure bookkeeping: the poller asks `ready()` for what to start and says `done()` when a fetch
ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


def host_of(url: str) -> str:
    """The host a URL's requests go to (lower-cased, with its port); a local path is "".
    Subdomains count apart: they are usually separate servers."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return ""
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


class HostQueue(Generic[T]):
    """Items in order, each under a host; hands out those that may start."""

    def __init__(self, items: Iterable[tuple[str, T]], *, total: int, per_host: int) -> None:
        self.total = max(1, total)
        self.per_host = max(1, per_host)
        self._waiting: dict[str, deque[T]] = {}
        for host, item in items:
            self._waiting.setdefault(host, deque()).append(item)
        self._running: dict[str, int] = {}
        self._active = 0

    def __len__(self) -> int:
        """Items not started yet."""
        return sum(len(q) for q in self._waiting.values())

    @property
    def active(self) -> int:
        return self._active

    def ready(self) -> list[tuple[str, T]]:
        """Items to start now, taking turns between hosts (each host's first waiting item
        before any host's second); they count as running until `done`."""
        started: list[tuple[str, T]] = []
        progress = True
        while self._active < self.total and progress:
            progress = False
            for host in list(self._waiting):
                if self._active >= self.total:
                    break
                queue = self._waiting[host]
                if self._running.get(host, 0) >= self.per_host:
                    continue
                started.append((host, queue.popleft()))
                self._running[host] = self._running.get(host, 0) + 1
                self._active += 1
                progress = True
                if not queue:
                    del self._waiting[host]
        return started

    def done(self, host: str) -> None:
        """One item of `host` has finished."""
        self._running[host] -= 1
        self._active -= 1

    def drop_waiting(self) -> int:
        """Forget every item not started (on stop); returns how many."""
        count = len(self)
        self._waiting.clear()
        return count
