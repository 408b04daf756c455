"""`monitor feeds` and its subcommands against real parts: a loopback server, a SQLite file,
a config directory whose feeds.yaml keeps its comments through every edit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import listparser
from pytest_httpserver import HTTPServer

from tests.conftest import DATA, MakeConfig, RunCli

RULES = {"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"}
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Libya Wire</title>'
    b"<item><title>Misrata port reopens</title><guid>w1</guid></item></channel></rss>"
)
FEEDS_YAML = """\
# Our feeds. This comment must survive every edit.
feeds:
  # the wire, polled often
  - name: wire
    title: Wire
    url: {url}
    interval: 1m   # keep this note too
"""


def listing(run_cli: RunCli, config: Path, db: Path) -> dict[str, dict[str, Any]]:
    result = run_cli("feeds", "--json", "--config", str(config), "--db", str(db))
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_feeds_shows_each_feeds_health_and_where_it_moved(
    make_config: MakeConfig, run_cli: RunCli, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/wire").respond_with_data(FEED)
    httpserver.expect_request("/old").respond_with_data(
        b"", status=301, headers={"Location": "/moved"}
    )
    httpserver.expect_request("/moved").respond_with_data(FEED.replace(b"w1", b"m1"))
    httpserver.expect_request("/gone").respond_with_data(b"", status=410)
    httpserver.expect_request("/broken").respond_with_data(b"", status=500)
    feeds = "feeds:\n" + "".join(
        f"  - {{name: {n}, title: {n}, url: '{httpserver.url_for('/' + n)}'}}\n"
        for n in ("wire", "old", "gone", "broken")
    )
    feeds += "  - {name: later, title: later, url: 'http://127.0.0.1:9/never'}\n"
    config = make_config(feeds=feeds, rules=RULES)
    db = tmp_path / "m.db"
    polled = run_cli(
        "poll", "--once", "--config", str(config), "--db", str(db), env={"MONITOR_DB": ""}
    )
    assert polled.exit_code == 0, polled.output

    rows = listing(run_cli, config, db)

    assert {n: r["status"] for n, r in rows.items()} == {
        "wire": "ok",
        "old": "ok",
        "gone": "gone",
        "broken": "failing",
        "later": "failing",  # nothing listens on port 9
    }
    assert rows["old"]["moved_to"] == httpserver.url_for("/moved")
    assert rows["broken"]["last_error"] == "HTTP 500 INTERNAL SERVER ERROR"
    assert rows["broken"]["failures"] == 1
    assert rows["wire"]["last_success_at"] is not None
    assert rows["wire"]["items_per_day"] == round(1 / 7, 1)
    assert rows["gone"]["next_poll_at"] is None

    text = run_cli("feeds", "--config", str(config), "--db", str(db)).stdout
    line = next(x for x in text.splitlines() if x.startswith("old "))
    assert f"moved to {httpserver.url_for('/moved')}" in line
    assert "error: HTTP 500" in next(x for x in text.splitlines() if x.startswith("broken "))


def test_feeds_add_finds_the_feed_a_page_advertises_and_keeps_the_comments(
    make_config: MakeConfig, run_cli: RunCli, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/wire").respond_with_data(FEED)
    httpserver.expect_request("/news").respond_with_data(
        b'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" '
        b'href="/libya.rss"></head><body>Libya news</body></html>',
        content_type="text/html",
    )
    httpserver.expect_request("/libya.rss").respond_with_data(FEED)
    config = make_config(feeds=FEEDS_YAML.format(url=httpserver.url_for("/wire")), rules=RULES)

    result = run_cli("feeds", "add", "--config", str(config), httpserver.url_for("/news"))

    assert result.exit_code == 0, result.output
    assert "added libya-wire: Libya Wire" in result.stdout
    text = (config / "feeds.yaml").read_text()
    assert "# Our feeds. This comment must survive every edit." in text
    assert "# the wire, polled often" in text and "# keep this note too" in text
    assert f"url: {httpserver.url_for('/libya.rss')}" in text
    assert run_cli("check", "--config", str(config)).exit_code == 0
    # The same feed again is refused, and the file is left alone.
    again = run_cli("feeds", "add", "--config", str(config), httpserver.url_for("/libya.rss"))
    assert again.exit_code == 1 and "in feeds.yaml already" in again.output
    assert (config / "feeds.yaml").read_text() == text


def test_feeds_add_runs_the_check_first(
    make_config: MakeConfig, run_cli: RunCli, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/wire").respond_with_data(FEED)
    config = make_config(feeds="feeds:\n  - {name: bad name, url: x}\n", rules=RULES)
    before = (config / "feeds.yaml").read_text()
    result = run_cli("feeds", "add", "--config", str(config), httpserver.url_for("/wire"))
    assert result.exit_code == 1
    assert "fix the configuration first" in result.output
    assert "feeds.yaml:2:" in result.output  # the problem, at path:line:col
    assert (config / "feeds.yaml").read_text() == before
    assert httpserver.log == []


def test_opml_import_then_export_round_trips_a_real_subscription_list(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    opml = DATA / "subscriptions.opml"
    config = make_config(feeds="# the desk's feeds\nfeeds: []\n", rules=RULES)

    imported = run_cli("feeds", "import", "--config", str(config), str(opml))

    assert imported.exit_code == 0, imported.output
    # Nine distinct feeds: Al Jazeera, listed under two categories, is one feed.
    assert "imported 9 feeds" in imported.stdout and "skipped 0" in imported.stdout
    assert (config / "feeds.yaml").read_text().startswith("# the desk's feeds\n")
    assert run_cli("check", "--config", str(config)).exit_code == 0
    out = tmp_path / "out.opml"
    exported = run_cli("feeds", "export", "--config", str(config), "-o", str(out))
    assert exported.exit_code == 0, exported.output

    def pairs(data: bytes) -> set[tuple[str, str]]:
        return {(f.url, f.title) for f in listparser.parse(data).feeds}

    assert pairs(out.read_bytes()) == pairs(opml.read_bytes())
    assert len(pairs(out.read_bytes())) == 9
    # Importing the export again adds nothing: every feed is known.
    again = run_cli("feeds", "import", "--config", str(config), str(out))
    assert "imported 0 feeds" in again.stdout
    # stdout by default, and MONITOR_CONFIG is read like everywhere else.
    printed = run_cli("feeds", "export", env={"MONITOR_CONFIG": str(config)})
    assert pairs(printed.stdout.encode()) == pairs(opml.read_bytes())


def test_export_leaves_local_files_out(make_config: MakeConfig, run_cli: RunCli) -> None:
    config = make_config(
        feeds="feeds:\n  - {name: seed, title: Seed, url: seed.xml}\n"
        "  - {name: web, title: Web, url: 'https://ex.org/rss'}\n",
        rules=RULES,
    )
    (config / "seed.xml").write_bytes(FEED)
    printed = run_cli("feeds", "export", "--config", str(config))
    assert [f.url for f in listparser.parse(printed.stdout.encode()).feeds] == [
        "https://ex.org/rss"
    ]
