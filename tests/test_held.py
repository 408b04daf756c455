"""A channel that is not set up holds its alerts: previewed on the console, delivered once
the channel is configured (or expired when too old), listed by `alerts --state`, sent again
by `resend`. The mail server is real (aiosmtpd); the CLI runs in-process."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import ChannelSettings
from monitor.delivery.channels import Notifier, build_channels
from monitor.feeds.fetch import Fetcher
from monitor.models import AlertStatus, Feed, Match, NewStory, PlannedAlert, Story
from monitor.pipeline import Pipeline
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store.memory import MemoryStore
from tests.conftest import Mailbox, MakeConfig, RunCli

FEED = (
    '<rss version="2.0"><channel><title>T</title><item><title>Misrata shelled</title>'
    "<link>https://ex.org/1</link><guid>1</guid></item></channel></rss>"
)


def mail_config(make_config: MakeConfig, tmp_path: Path, url: str = "${MAIL_URL}") -> Path:
    feed = tmp_path / "f.xml"
    feed.write_text(FEED)
    return make_config(
        monitor=f"channels:\n  mail:\n    url: '{url}'\n",
        feeds=f"feeds:\n  - {{name: wire, title: Wire, url: '{feed}', backlog: alert}}\n",
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [mail]}\n"},
    )


def rows(run_cli: RunCli, config: Path, db: Path, *args: str) -> list[dict[str, object]]:
    out = run_cli("alerts", "--json", *args, "--config", str(config), "--db", str(db))
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_an_unset_secret_holds_then_poll_delivers_once_when_it_is_set(
    make_config: MakeConfig, run_cli: RunCli, mailbox: Mailbox, tmp_path: Path
) -> None:
    config, db = mail_config(make_config, tmp_path), tmp_path / "m.db"
    args = ("--config", str(config), "--db", str(db))
    held = run_cli("poll", "--once", *args, env={"MAIL_URL": ""})
    assert held.exit_code == 0, held.output
    assert "Misrata shelled" in held.stdout  # the preview
    assert "1 held for channels not set up" in held.stderr
    [row] = rows(run_cli, config, db, "--state", "held")
    assert row["state"] == "held" and row["channel"] == "mail"
    assert (row["rules"], row["title"], row["link"]) == (
        ["misrata"],
        "Misrata shelled",
        "https://ex.org/1",
    )
    assert row["last_error"] is None and row["note"] == "held: MAIL_URL not set"
    assert rows(run_cli, config, db, "--state", "sent") == []
    # Still unset: a second pass neither sends nor previews it again.
    again = run_cli("poll", "--once", *args, env={"MAIL_URL": ""})
    assert "Misrata shelled" not in again.stdout
    sent = run_cli("poll", "--once", *args, env={"MAIL_URL": mailbox.url()})
    assert "1 alert sent" in sent.stderr, sent.output
    run_cli("poll", "--once", *args, env={"MAIL_URL": mailbox.url()})
    [message] = mailbox.wait_for(1)
    assert "Misrata shelled" in str(message["Subject"])
    assert len(mailbox.wait_for(2, timeout=0.5)) == 1  # exactly once
    assert rows(run_cli, config, db, "--state", "held") == []
    assert [r["state"] for r in rows(run_cli, config, db)] == ["sent"]


def test_resend_sends_again_with_the_same_message_id(
    make_config: MakeConfig, run_cli: RunCli, mailbox: Mailbox, tmp_path: Path
) -> None:
    config, db = mail_config(make_config, tmp_path), tmp_path / "m.db"
    args = ("--config", str(config), "--db", str(db))
    env = {"MAIL_URL": mailbox.url()}
    assert run_cli("poll", "--once", *args, env=env).exit_code == 0
    [row] = rows(run_cli, config, db)
    resent = run_cli("resend", str(row["id"]), *args, env=env)
    assert resent.exit_code == 0, resent.output
    assert "resent 1 alert: 1 sent" in resent.stderr
    first, second = mailbox.wait_for(2)
    ids = [m.get_all("Message-ID") for m in (first, second)]
    assert ids[0] == ids[1] and len(ids[0]) == 1  # one header, the same on both sends
    assert str(ids[0][0]).startswith(f"<alert-{row['id']}.")
    unknown = run_cli("resend", "999", *args, env=env)
    assert unknown.exit_code == 1 and "no alert 999" in unknown.output


def test_a_held_alert_older_than_max_age_expires_and_is_listed() -> None:
    now = [datetime(2026, 12, 2, 12, 0, tzinfo=UTC)]
    store = MemoryStore()
    rule = Rule("misrata", "Misrata", parse_query("Misrata").node, ("mail",))

    def pipeline(env: dict[str, str]) -> Pipeline:
        channels = build_channels({"mail": ChannelSettings(url="${MAIL_URL}")}, env)
        return Pipeline(
            store=store,
            fetcher=Fetcher(),
            matcher=Matcher([rule]),
            notifier=Notifier(channels, console=io.StringIO()),
            alert_max_age=3600.0,
            clock=lambda: now[0],
        )

    first = pipeline({})
    store.sync_feeds([Feed("wire", "unused", "Wire", 60)])
    match = Match("misrata", "Misrata", ("Misrata",), ("mail",))
    planned = (PlannedAlert("mail", (match,)),)
    young, old = (
        NewStory(Story("wire", g, f"https://ex.org/{g}", "Misrata"), (match,), planned)
        for g in ("young", "old")
    )
    store.add_stories([old], now[0])
    now[0] += timedelta(minutes=50)
    store.add_stories([young], now[0])
    assert first.deliver().held == 2
    now[0] += timedelta(minutes=20)  # the old one is 70 min old, the young one 20
    recovery = pipeline({"MAIL_URL": "json://127.0.0.1:9/"}).recover()
    assert (recovery.released, recovery.expired) == (1, 1)
    [expired] = store.recent_alerts(None, AlertStatus.EXPIRED)
    assert expired.story.guid == "old"
    assert expired.last_error is not None and "delivery.max_age (1 h)" in expired.last_error
    assert [a.story.guid for a in store.pending_alerts(now[0])] == ["young"]


def test_check_errors_on_a_url_apprise_cannot_read(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = mail_config(make_config, tmp_path, url="nonsense://x")
    result = run_cli("check", "--config", str(config))
    assert result.exit_code == 1
    assert "monitor.yaml:3:" in result.stdout and "apprise does not understand" in result.stdout
    unset = mail_config(make_config, tmp_path)
    warned = run_cli("check", "--config", str(unset), env={"MAIL_URL": ""})
    assert warned.exit_code == 0 and "warning: channel 'mail': MAIL_URL not set" in warned.stdout
