"""The operator's commands against a real SQLite file: poll, feeds, alerts, send-test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.store.sqlite import SQLiteStore
from tests.conftest import Mailbox, MakeConfig, RunCli, html_part

ITEM = "<item><title>{t}</title><link>https://ex.org/{i}</link><guid>{i}</guid></item>"


def feed_file(path: Path, count: int, title: str = "Misrata report") -> Path:
    items = "".join(ITEM.format(t=f"{title} {i}", i=i) for i in range(count))
    path.write_text(f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>')
    return path


# Numbered "Misrata report N" items are one event to the clusterer; these tests count stories.
NO_CLUSTERS = "clusters: {enabled: false}\n"


def config_with_feed(make_config: MakeConfig, feed: Path, monitor: str = "channels: {}\n") -> Path:
    return make_config(
        monitor=NO_CLUSTERS + monitor,
        feeds=f"feeds:\n  - {{name: wire, title: Wire, url: '{feed}'}}\n",
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"},
    )


def polled_listing(run_cli: RunCli, config: Path, db: Path, command: str) -> list[dict[str, Any]]:
    """Poll once, then the rows of `monitor <command> --json`."""
    run_cli("poll", "--once", "--config", str(config), "--db", str(db))
    listing = run_cli(command, "--json", "--config", str(config), "--db", str(db))
    return [json.loads(line) for line in listing.stdout.splitlines()]


def test_poll_once_delivers_every_alert_not_just_a_first_batch(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 250))
    db = tmp_path / "m.db"
    result = run_cli("poll", "--once", "--config", str(config), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "250 new stories, 0 alerts sent, 250 printed to the console, 0 failed" in result.stderr
    assert result.stdout.count("── alert [console]") == 250


def test_feeds_lists_every_configured_feed_and_changes_nothing(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 1))
    db = tmp_path / "m.db"
    [row] = polled_listing(run_cli, config, db, "feeds")
    assert row["name"] == "wire" and row["last_status"] == "ok" and row["stories"] == 1
    # With feeds.yaml broken, `feeds` must not unschedule the daemon's feeds.
    (config / "feeds.yaml").write_text("feeds: [oops\n")
    run_cli("feeds", "--config", str(config), "--db", str(db))
    store = SQLiteStore(db)
    try:
        assert [s.name for s in store.feed_statuses()] == ["wire"]
        assert store.db.execute("SELECT configured FROM feeds").fetchone()[0] == 1
    finally:
        store.close()


def test_a_second_writer_gets_a_clear_error_naming_the_database(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 1))
    db = tmp_path / "m.db"
    daemon = SQLiteStore(db, writer=True)
    try:
        result = run_cli("poll", "--once", "--config", str(config), "--db", str(db))
    finally:
        daemon.close()
    assert result.exit_code == 1
    assert "m.db is in use by monitor pid" in result.stderr
    assert "Traceback" not in result.output


def test_an_unusable_database_is_one_line_naming_it(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 1))
    result = run_cli("alerts", "--config", str(config), "--db", str(config / "feeds.yaml"))
    assert result.exit_code == 1
    assert "cannot read the database" in result.stderr and "feeds.yaml" in result.stderr


def test_alerts_shows_state_and_why(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 2))
    db = tmp_path / "m.db"
    rows = polled_listing(run_cli, config, db, "alerts")
    assert [(r["status"], r["channel"], r["rules"]) for r in rows] == [
        ("printed", "console", ["misrata"]),
        ("printed", "console", ["misrata"]),
    ]
    assert rows[0]["terms"] == ["Misrata"]
    text = run_cli("alerts", "--config", str(config), "--db", str(db)).stdout
    assert "printed" in text and "Wire: Misrata report" in text


def test_send_test_reaches_a_real_smtp_server(
    make_config: MakeConfig, run_cli: RunCli, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = config_with_feed(
        make_config,
        feed_file(tmp_path / "f.xml", 1),
        monitor="channels:\n  mail:\n    url: '${MAIL_URL}'\n",
    )
    result = run_cli("send-test", "mail", "--config", str(config), env={"MAIL_URL": mailbox.url()})
    assert result.exit_code == 0, result.output
    [message] = mailbox.wait_for(1)
    assert "Test alert from monitor" in message["Subject"]
    assert "&lt;!channel&gt;" in html_part(message)


def test_send_test_to_an_unknown_channel_lists_the_channels(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 1))
    result = run_cli("send-test", "nope", "--config", str(config))
    assert result.exit_code == 1
    assert "no channel 'nope'; channels are console" in result.stderr


def test_send_test_fails_when_the_channels_secret_is_unset(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = config_with_feed(
        make_config,
        feed_file(tmp_path / "f.xml", 1),
        monitor="channels:\n  slack:\n    url: '${UNSET_SLACK_FOR_TEST}'\n",
    )
    result = run_cli("send-test", "slack", "--config", str(config))
    assert result.exit_code == 1
    assert "slack is not set up (UNSET_SLACK_FOR_TEST not set)" in result.stderr
    assert "Test alert from monitor" in result.stdout  # the sample, printed instead


def test_a_json_feed_is_named_as_such(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    json_feed = tmp_path / "feed.json"
    json_feed.write_text('{"version": "https://jsonfeed.org/version/1.1", "items": []}')
    config = config_with_feed(make_config, feed_file(tmp_path / "f.xml", 1))
    result = run_cli("match", "--config", str(config), str(json_feed))
    assert result.exit_code == 1
    assert "this is JSON (a JSON Feed?)" in result.stderr
