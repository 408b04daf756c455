"""Parsing in worker processes: the same stories as parsing in place, and a time and a
memory budget that cost the one document, never the daemon."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.feeds.parse import parse_feed
from monitor.feeds.workers import ParsePool
from tests.conftest import ROOT

SMALL = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
    b"<item><title>Clashes in Misrata</title><guid>g1</guid><description>&lt;p&gt;Fighting"
    b"&lt;/p&gt;</description><pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate></item>"
    b"</channel></rss>"
)
# About a second of feedparser's time: 2,000 items of 200 words.
SLOW = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    + b"".join(
        b"<item><title>Story %d</title><guid>g%d</guid><description>&lt;p&gt;%s&lt;/p&gt;"
        b"</description></item>" % (i, i, b"word " * 200)
        for i in range(2000)
    )
    + b"</channel></rss>"
)
# One 10 MB description: feedparser needs well over 200 MB of address space for it.
HUGE = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</title>'
    b"<guid>g</guid><description>" + b"word " * 2_000_000 + b"</description></item></channel></rss>"
)


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    with ParsePool(2, seconds=30) as p:
        yield p


def test_a_worker_process_reads_what_parsing_in_place_reads(pool: ParsePool) -> None:
    assert pool.parse(SMALL, feed="wire", base_url="https://ex.org/") == parse_feed(
        SMALL, feed="wire", base_url="https://ex.org/"
    )


def test_a_parse_error_comes_back_as_itself(pool: ParsePool) -> None:
    with pytest.raises(ParseError, match="the document is empty"):
        pool.parse(b"", feed="x")


def test_a_parse_over_its_time_budget_is_given_up_and_the_pool_goes_on() -> None:
    with ParsePool(1, seconds=0.2) as slow_pool:
        started = time.monotonic()
        with pytest.raises(ParseError, match=r"parsing took longer than 0.2s; given up"):
            slow_pool.parse(SLOW, feed="slow")
        assert time.monotonic() - started < 5.0
        assert len(slow_pool.parse(SMALL, feed="wire").stories) == 1


def test_a_parse_over_its_memory_budget_is_given_up_and_the_pool_goes_on() -> None:
    with ParsePool(1, seconds=60, memory_mb=200) as small_pool:
        with pytest.raises(ParseError, match=r"parsing needed more than 200 MB; given up"):
            small_pool.parse(HUGE, feed="huge")
        assert len(small_pool.parse(SMALL, feed="wire").stories) == 1


def test_a_worker_that_dies_costs_its_feed_and_is_replaced() -> None:
    with ParsePool(1, seconds=60) as pool:
        pool.parse(SMALL, feed="warm-up")  # the worker process is running
        errors: list[BaseException] = []

        def parse_slowly() -> None:
            try:
                pool.parse(SLOW, feed="slow")
            except ParseError as e:
                errors.append(e)

        thread = threading.Thread(target=parse_slowly)
        thread.start()
        time.sleep(0.3)
        children = multiprocessing.active_children()
        assert children
        for child in children:
            child.kill()
        thread.join(30)

        assert [str(e) for e in errors] in (
            [],  # the retry in a fresh process finished it
            ["the parser's process died (over its memory budget?); given up"],
        )
        assert len(pool.parse(SMALL, feed="wire").stories) == 1


def test_worker_processes_do_not_import_the_parents_main_module(tmp_path: Path) -> None:
    # Run as a script, like the `monitor` console script that imports the whole CLI: a
    # spawned worker would import it again (as __mp_main__) before parsing anything.
    marks = tmp_path / "imported-by"
    script = tmp_path / "daemon.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(marks)!r}, 'a').write(str(os.getpid()) + '\\n')\n"
        "from monitor.feeds.workers import ParsePool\n"
        "if __name__ == '__main__':\n"
        "    with ParsePool(2) as pool:\n"
        f"        parsed = [pool.parse({SMALL!r}, feed='w') for _ in range(4)]\n"
        "    print(len(parsed[-1].stories), os.getpid())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    assert done.returncode == 0, done.stderr
    stories, parent = done.stdout.split()
    assert stories == "1"
    assert marks.read_text().split() == [parent]  # imported once: by the parent alone
