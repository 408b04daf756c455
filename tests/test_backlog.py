"""A new feed's backlog does not flood the desk: `monitor poll --once` against a feed served
on loopback, with 40 matching items from 2019 and one published minutes ago."""

from __future__ import annotations

import email.utils
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import MakeConfig, RunCli

ITEM = """<item><title>{title}</title><link>https://ex.org/{guid}</link><guid>{guid}</guid>
<pubDate>{published}</pubDate></item>"""


def backlog_feed(now: datetime) -> str:
    old = [
        ITEM.format(
            title=f"Misrata report {i}",
            guid=f"old-{i}",
            published=email.utils.format_datetime(datetime(2019, 3, 1 + i % 28, tzinfo=UTC)),
        )
        for i in range(40)
    ]
    fresh = ITEM.format(
        title="Misrata clashes break the truce",
        guid="fresh",
        published=email.utils.format_datetime(now - timedelta(minutes=7)),
    )
    return f'<rss version="2.0"><channel><title>W</title>{"".join(old)}{fresh}</channel></rss>'


@pytest.mark.parametrize(("policy", "alerts"), [("", 1), ("backlog: alert, ", 41)])
def test_a_new_feeds_backlog_alerts_nobody_but_todays_story_does(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    policy: str,
    alerts: int,
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        backlog_feed(datetime.now(UTC)), content_type="application/rss+xml"
    )
    url = httpserver.url_for("/feed.xml")
    config = make_config(
        # The numbered reports are one event to the clusterer; this test counts stories.
        monitor="clusters: {enabled: false}\n",
        feeds=f"feeds:\n  - {{name: wire, title: Wire, {policy}url: '{url}'}}\n",
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"},
    )
    db = tmp_path / "m.db"
    with caplog.at_level(logging.INFO, logger="monitor"):
        result = run_cli("poll", "--once", "--config", str(config), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("── alert [console]") == alerts
    assert "Misrata clashes break the truce" in result.stdout
    backlog_lines = [
        r.getMessage() for r in caplog.records if "older than poll.max_age" in r.getMessage()
    ]
    assert backlog_lines == (
        []
        if alerts == 41
        else [
            "feed=wire 40 matching stories older than poll.max_age kept without alerting "
            "(a backlog; `backlog: alert` on the feed turns this off)"
        ]
    )
    # Every story is stored as seen either way: a later poll alerts on none of them.
    [feed] = [
        json.loads(line)
        for line in run_cli(
            "feeds", "--json", "--config", str(config), "--db", str(db)
        ).stdout.splitlines()
    ]
    assert feed["stories"] == 41
    again = run_cli("poll", "--once", "--config", str(config), "--db", str(db))
    assert again.stdout.count("── alert [console]") == 0
