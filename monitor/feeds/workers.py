"""Parsing in worker processes, each with a time and a memory budget.

feedparser is pure Python and holds the GIL, so parsing in threads uses one core; and a
document that makes it run away (deep nesting, a pathological encoding guess) must cost its
own feed, never the daemon. `ParsePool` sends each document to one of a few processes
(started with `spawn`, so no lock of the parent's threads is inherited). Each process caps its
address space (`RLIMIT_AS`); each parse has a timer (`SIGALRM`) that ends it with a
ParseError. A process that dies anyway (killed, or stuck in C code past the timer) is
replaced and its feed gets a ParseError; the other feeds' parses are retried once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
import types
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from types import FrameType

from monitor.errors import ParseError
from monitor.feeds.parse import parse_feed
from monitor.models import ParsedFeed

# A parse that outlives its own timer by this much is stuck outside Python: its process is
# killed.
_GRACE = 5.0


class _OverTime(BaseException):
    """The parse's timer ran out. Not an Exception: parse_feed's `except Exception` (for
    feedparser's own failures) must not take it for one."""


def _limit_memory(memory_bytes: int) -> None:
    """Run in each worker process as it starts: cap its address space, and leave with the
    daemon."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    # A daemon killed with SIGKILL cannot stop its workers; orphaned, they would hold its
    # stdout and stderr (the journal's pipe) open and keep their memory.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _OverTime


def _parse_with_budget(
    data: bytes,
    feed: str,
    base_url: str,
    headers: dict[str, str],
    seconds: float,
    mb: int,
    known: Collection[int] = (),
) -> ParsedFeed:
    """In a worker process: parse, or raise ParseError when over the time or memory budget."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return parse_feed(data, feed=feed, base_url=base_url, headers=headers, known=known)
    except _OverTime:
        raise ParseError(f"parsing took longer than {seconds:g}s; given up") from None
    except MemoryError:
        raise ParseError(f"parsing needed more than {mb} MB; given up") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class ParsePool:
    """A few worker processes that parse feeds, each parse with a time and memory budget.
    Thread-safe: the fetch threads call `parse` and wait for their own document."""

    def __init__(
        self, workers: int | None = None, *, seconds: float = 20.0, memory_mb: int = 1024
    ) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.seconds = seconds
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_limit_memory,
                    initargs=(self.memory_mb * 1024 * 1024,),
                )
            return self._pool

    def _starting(self, pool: ProcessPoolExecutor) -> bool:
        """Whether submitting to the pool may start a process (not all of them run yet)."""
        running = getattr(pool, "_processes", None)
        return running is None or len(running) < self.workers

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Stop a pool whose process died or is stuck; the next parse starts a new one."""
        with self._lock:
            if self._pool is not broken:
                return  # another thread replaced it already
            self._pool = None
        _kill(broken)

    def parse(
        self,
        data: bytes,
        *,
        feed: str,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        known: Collection[int] = (),
    ) -> ParsedFeed:
        """parse_feed in a worker process. Raises ParseError, also when over budget."""
        for attempt in (1, 2):
            pool = self._current()
            try:
                with _lean_start(self._starting(pool)):
                    future = pool.submit(
                        _parse_with_budget,
                        data,
                        feed,
                        base_url,
                        dict(headers or {}),
                        self.seconds,
                        self.memory_mb,
                        known,
                    )
                return future.result(timeout=self.seconds + _GRACE)
            except FutureTimeout:
                self._replace(pool)
                raise ParseError(
                    f"parsing did not end within {self.seconds + _GRACE:g}s; its process was "
                    "stopped"
                ) from None
            except BrokenProcessPool:
                # Some process of the pool died: perhaps this document's, perhaps another's.
                self._replace(pool)
                if attempt == 2:
                    raise ParseError(
                        "the parser's process died (over its memory budget?); given up"
                    ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Held while a task is submitted: submitting is when ProcessPoolExecutor starts a process.
_STARTING = threading.Lock()


@contextlib.contextmanager
def _lean_start(starting: bool = True) -> Iterator[None]:
    """Hide the parent's `__main__` from `spawn` while a worker may be started.

    A spawned process first imports its parent's main module. Started as the `monitor`
    console script (as systemd starts the daemon), that is the whole CLI, and each parser
    process held 66 MB instead of 26 MB, for nothing: a worker needs only
    `monitor.feeds.workers`. With a blank `__main__` in its place, spawn passes no main
    module at all. (`python -m monitor` is already skipped by multiprocessing itself.)
    """
    if not starting:
        yield
        return
    with _STARTING:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _kill(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor cannot stop a running task (3.14 adds terminate_workers): the
    # processes are killed, which breaks the pool for every task still in it.
    processes = dict(getattr(pool, "_processes", None) or {})
    for process in processes.values():
        with contextlib.suppress(Exception):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
