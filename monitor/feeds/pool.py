"""Connection pools for the fetcher: one small httpcore pool per host, so that a request
costs the same with 2 hosts kept alive as with 200. An adapter, used only by `fetch`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

import httpcore

_Origin = tuple[bytes, bytes, int | None]


class PoolPerHost:
    """httpcore connection pools, one per origin (scheme, host, port).

    httpcore's pool walks all its connections on every request and every release, and
    counts them again for each one it looks at: with connections to many hosts kept alive,
    that walk took two thirds of the CPU of fetching whole feeds. A pool per origin holds
    only that host's few connections. A host's pool is closed, least recently
    used first, when more hosts than `hosts` are kept and none of its requests is running.
    """

    def __init__(self, make: Callable[[], httpcore.ConnectionPool], hosts: int) -> None:
        self._make = make
        self._hosts = max(1, hosts)
        self._lock = threading.Lock()
        self._pools: OrderedDict[_Origin, httpcore.ConnectionPool] = OrderedDict()
        self._running: dict[_Origin, int] = {}

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send the request on its origin's pool; the response holds it until closed."""
        origin = (request.url.scheme, request.url.host, request.url.port)
        with self._lock:
            pool = self._pools.get(origin)
            if pool is None:
                pool = self._pools[origin] = self._make()
            self._pools.move_to_end(origin)
            self._running[origin] = self._running.get(origin, 0) + 1
            idle = self._evict()
        for old in idle:
            old.close()
        try:
            response = pool.handle_request(request)
        except BaseException:
            self._release(origin)
            raise
        stream = response.stream
        assert isinstance(stream, Iterable)  # a sync pool's
        response.stream = _Releasing(stream, lambda: self._release(origin))
        return response

    def _evict(self) -> list[httpcore.ConnectionPool]:
        """Under the lock: take out the pools of the least recently used hosts past the
        limit that have no request running, to be closed."""
        evicted: list[httpcore.ConnectionPool] = []
        for origin in list(self._pools):
            if len(self._pools) <= self._hosts:
                break
            if not self._running.get(origin):
                evicted.append(self._pools.pop(origin))
                self._running.pop(origin, None)
        return evicted

    def _release(self, origin: _Origin) -> None:
        with self._lock:
            left = self._running.get(origin, 0) - 1
            if left > 0:
                self._running[origin] = left
            else:
                self._running.pop(origin, None)

    def close(self) -> None:
        """Close every host's connections."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
            self._running.clear()
        for pool in pools:
            pool.close()


class _Releasing:
    """A response's body stream that tells its pool, once, when it is closed."""

    def __init__(self, inner: Iterable[bytes], done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        try:
            closer = getattr(self._inner, "close", None)
            if closer is not None:
                closer()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()
