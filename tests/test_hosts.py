"""HostQueue: at most N at once in all and M per host, hosts taking turns."""

from __future__ import annotations

import pytest

from monitor.feeds.hosts import HostQueue, host_of


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Feeds.BBCI.co.uk/news/rss.xml", "feeds.bbci.co.uk"),
        ("http://127.0.0.5:8080/a", "127.0.0.5:8080"),
        ("http://[::1]:81/a", "::1:81"),
        ("/var/feeds/a.xml", ""),
        ("file:///var/feeds/a.xml", ""),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_a_busy_host_waits_while_other_hosts_go_ahead() -> None:
    items = [("big", f"big{i}") for i in range(50)] + [("a", "a0"), ("b", "b0"), ("b", "b1")]
    queue = HostQueue(items, total=6, per_host=2)

    first = queue.ready()

    # Hosts take turns: each host's first item before any host's second.
    assert [i for _, i in first] == ["big0", "a0", "b0", "big1", "b1"]
    assert queue.active == 5 and len(queue) == 48
    assert queue.ready() == []  # big has two running; nothing else waits
    queue.done("a")
    assert queue.ready() == []
    queue.done("big")
    assert queue.ready() == [("big", "big2")]


def test_the_total_limit_holds_across_hosts() -> None:
    items = [(f"h{i}", i) for i in range(10)]
    queue = HostQueue(items, total=3, per_host=2)
    assert [i for _, i in queue.ready()] == [0, 1, 2]
    queue.done("h1")
    assert [i for _, i in queue.ready()] == [3]
    assert queue.drop_waiting() == 6
    assert len(queue) == 0 and queue.active == 3
