"""Rate limits fall into digests, quiet hours defer, mutes stop, routes add channels: the
deliverer applying the policy over a real store, with the clock injected, not slept."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli.wiring import health_notices
from monitor.delivery.channels import Notifier, build_channels
from monitor.delivery.digest import render_digest
from monitor.delivery.policy import Budget, ChannelPolicy, parse_quiet_hours
from monitor.delivery.route import Route
from monitor.feeds.fetch import Fetcher
from monitor.feeds.policy import PollPolicy
from monitor.models import (
    Alert,
    AlertStatus,
    Feed,
    Match,
    Message,
    Mute,
    MuteKind,
    NewStory,
    PlannedAlert,
    Story,
)
from monitor.pipeline import Pipeline
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store import Store
from tests.conftest import Mailbox, MakeConfig, RunCli


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 15, 0, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Recorder(Notifier):
    """Every channel counts as set up; what each was sent is kept, in order."""

    def __init__(self) -> None:
        super().__init__(build_channels({}, {}), console=io.StringIO())
        self.sent: list[tuple[str, Message]] = []

    def fallback(self, channel: str) -> str | None:
        return None

    def send(
        self,
        channel: str,
        message: Message,
        *,
        msgid: str | None = None,
        timeout: float | None = None,
    ) -> str | None:
        self.sent.append((channel, message))
        return None

    def titles(self, channel: str = "desk") -> list[str]:
        return [m.title for c, m in self.sent if c == channel]


def queue(
    store: Store, now: datetime, *titles: str, rule: str = "libya", severity: str = "normal"
) -> None:
    store.add_stories(
        [
            NewStory(
                Story(
                    feed="wire",
                    guid=title,
                    link=f"https://ex.org/{i}-{title.replace(' ', '-')}",
                    title=title,
                ),
                (m := (Match(rule, f"Rule {rule}", ("Misrata",), ("desk",), severity),)),
                (PlannedAlert("desk", m),),
            )
            for i, title in enumerate(titles)
        ],
        now,
    )


def pipeline(store: Store, notifier: Notifier, clock: Clock, **policy: object) -> Pipeline:
    return Pipeline(
        store=store,
        fetcher=Fetcher(),
        matcher=Matcher([]),
        notifier=notifier,
        policies={"desk": ChannelPolicy("desk", **policy)},  # type: ignore[arg-type]
        clock=clock,
        sleep=lambda seconds: None,
    )


def states(store: Store) -> list[str]:
    return [a.status.value for a in reversed(store.recent_alerts(None))]


def test_past_the_rate_limit_alerts_wait_for_the_digest_and_the_desk_is_told_once(
    backend: Store,
) -> None:
    clock, notifier = Clock(), Recorder()
    p = pipeline(backend, notifier, clock, budget=Budget(2, 3600))
    queue(backend, clock.now, "one", "two", "three", "four")
    report = p.deliver()
    assert (report.sent, report.deferred) == (2, 2)
    assert states(backend) == ["sent", "sent", "digest", "digest"]
    sent = notifier.titles()
    # Two alerts, then one notice (not counted against the budget), naming the digest.
    assert len(sent) == 3 and sent[2].startswith("[monitor] Rate limit reached (2/1h on desk)")
    assert "the 16:00 digest" in notifier.sent[2][1].body
    [waiting] = backend.recent_alerts(1)
    assert waiting.note == "rate limit reached (2/1h): in the 16:00 digest"
    # More alerts in the same stretch: deferred, and no second notice.
    queue(backend, clock.now, "five")
    assert p.deliver().deferred == 1 and len(notifier.sent) == 3
    # The digest carries the three waiting alerts, newest first, in one message.
    clock.now += timedelta(minutes=30)
    assert p.send_digest("desk") == 3
    channel, digest = notifier.sent[-1]
    assert channel == "desk" and digest.title == "[monitor] digest for desk: 3 alerts, 1 rule"
    lines = [line.strip() for line in digest.body.splitlines()]
    assert lines.index("• five — wire · time not given") < lines.index(
        "• three — wire · time not given"
    )
    assert states(backend) == ["sent"] * 5
    assert backend.recent_alerts(1)[0].note == "in the digest of 2026-12-02 15:30"
    # Nothing left: no empty digest.
    assert p.send_digest("desk") == 0 and len(notifier.sent) == 4


def test_the_budget_is_a_sliding_window(backend: Store) -> None:
    clock, notifier = Clock(), Recorder()
    p = pipeline(backend, notifier, clock, budget=Budget(1, 3600))
    queue(backend, clock.now, "one")
    p.deliver()
    clock.now += timedelta(minutes=61)
    queue(backend, clock.now, "two")
    assert p.deliver().sent == 1


def test_quiet_hours_defer_all_but_urgent_and_the_digest_waits_for_them_to_end(
    backend: Store,
) -> None:
    clock, notifier = Clock(), Recorder()
    quiet = parse_quiet_hours("22:00-06:00")
    p = pipeline(backend, notifier, clock, quiet=quiet, timezone="Asia/Tokyo")  # 00:00 there
    queue(backend, clock.now, "calm")
    queue(backend, clock.now, "breaking", rule="flash", severity="urgent")
    report = p.deliver()
    assert (report.sent, report.deferred) == (1, 1)
    assert notifier.titles() == ["breaking — wire"]
    assert p.send_digest("desk") == 0  # a scheduled digest in quiet hours waits
    clock.now += timedelta(hours=6)  # 06:00:30 in Tokyo
    assert p.send_digest("desk") == 1
    assert "calm" in notifier.sent[-1][1].body


def test_a_mute_stops_alerts_for_good_and_expires_by_itself(backend: Store) -> None:
    clock, notifier = Clock(), Recorder()
    p = pipeline(backend, notifier, clock)
    backend.add_mute(Mute(MuteKind.RULE, "libya", clock.now + timedelta(hours=2), "presser"))
    queue(backend, clock.now, "muted one")
    assert p.deliver().muted == 1
    [muted] = backend.recent_alerts(1)
    assert muted.status is AlertStatus.MUTED and muted.note is not None
    assert "presser" in muted.note
    clock.now += timedelta(hours=3)
    queue(backend, clock.now, "after the mute")
    assert p.deliver().sent == 1
    assert notifier.titles() == ["after the mute — wire"]  # the muted one never went
    assert p.send_digest("desk") == 0


def test_a_digest_only_rule_never_sends_alone(backend: Store) -> None:
    clock, notifier = Clock(), Recorder()
    p = Pipeline(
        store=backend,
        fetcher=Fetcher(),
        matcher=Matcher([]),
        notifier=notifier,
        policies={"desk": ChannelPolicy("desk")},
        digest_only={"roundup"},
        clock=clock,
    )
    queue(backend, clock.now, "weekly", rule="roundup")
    assert p.deliver().deferred == 1 and notifier.sent == []
    assert p.send_digest("desk", scheduled=False) == 1


def test_routes_add_channels_by_severity_and_tag(tmp_path: Path, backend: Store) -> None:
    feed = tmp_path / "f.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>W</title><item><title>Misrata shelled</title>'
        "<link>https://ex.org/1</link><guid>1</guid></item></channel></rss>"
    )
    feeds = [Feed("wire", str(feed), "Wire", 60)]
    backend.sync_feeds(feeds)
    rules = [
        Rule("flash", "Flash", parse_query("Misrata").node, ("desk",), "urgent"),
        Rule("libya", "Libya", parse_query("shelled").node, ("desk",), "normal"),
    ]
    p = Pipeline(
        store=backend,
        fetcher=Fetcher(),
        matcher=Matcher(rules),
        notifier=Recorder(),
        routes=[Route(("duty",), severity="high"), Route(("africa",), tags=frozenset({"libya"}))],
        rule_tags={"libya": ("libya", "maghreb")},
        max_age=1e9,
    )
    [result] = p.poll(feeds)
    assert result.alerts == 3
    by_channel = {a.channel: [m.rule_id for m in a.matches] for a in backend.recent_alerts(None)}
    assert by_channel == {"desk": ["flash", "libya"], "duty": ["flash"], "africa": ["libya"]}


def digest_alerts() -> list[Alert]:
    hostile = "<!channel> *bold* <https://evil.example|click> <script>alert(1)</script>"
    return [
        Alert(
            id=i,
            channel="desk",
            outlet="Wire <b>",
            story=Story(
                feed="wire",
                guid=str(i),
                link=f"https://ex.org/{i}",
                title=f"{hostile} {i}",
                published=datetime(2026, 12, 2, 14, i, tzinfo=UTC),
            ),
            matches=(Match(rule, name, ("Misrata",), ("desk",), sev),),
        )
        for i, rule, name, sev in (
            (1, "libya", "Libya & co", "normal"),
            (2, "flash", "Flash", "urgent"),
            (3, "libya", "Libya & co", "normal"),
        )
    ]


def test_a_slack_digest_keeps_feed_text_out_of_mrkdwn() -> None:
    message = render_digest(
        digest_alerts(), "slack", channel="desk", now=datetime(2026, 12, 2, 15, tzinfo=UTC)
    )
    assert message.payload is not None
    blocks = message.payload["blocks"]
    mrkdwn = [
        e["text"]
        for b in blocks
        for e in (b.get("elements") or [])
        if isinstance(e, dict) and e.get("type") == "mrkdwn"
    ]
    assert mrkdwn and all("<" not in t and "evil" not in t for t in mrkdwn)
    assert "<!channel>" not in message.payload["text"]
    links = [
        el
        for b in blocks
        if b["type"] == "rich_text"
        for lst in b["elements"]
        for section in lst["elements"]
        for el in section["elements"]
        if el["type"] == "link"
    ]
    # The urgent group first; each headline a link to its own story, shown as written.
    assert links[0]["url"] == "https://ex.org/2" and links[0]["text"].startswith(
        "<!channel> *bold*"
    )
    assert json.dumps(message.payload).count("https://evil.example") == 3  # only as text


def test_a_digest_email_is_a_table_with_feed_text_escaped() -> None:
    message = render_digest(
        digest_alerts(),
        "email",
        channel="desk",
        now=datetime(2026, 12, 2, 15, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert message.body_format == "html" and message.text
    assert message.body.count('<table class="digest"') == 2  # urgent, then normal
    assert "<script>" not in message.body and "&lt;script&gt;" in message.body
    assert 'href="https://ex.org/3"' in message.body
    assert 'href="https://evil.example' not in message.body  # a link only to our own story
    assert "Libya &amp; co" in message.body and "16:00" in message.body  # Berlin time


def test_monitor_digest_now_sends_the_waiting_alerts_by_email(
    make_config: MakeConfig, run_cli: RunCli, mailbox: Mailbox, tmp_path: Path
) -> None:
    feed = tmp_path / "f.xml"
    items = "".join(
        f"<item><title>Misrata report {i}</title><link>https://ex.org/{i}</link><guid>{i}</guid></item>"
        for i in range(3)
    )
    feed.write_text(f'<rss version="2.0"><channel><title>W</title>{items}</channel></rss>')
    config = make_config(
        monitor=(
            f"channels:\n  mail:\n    url: '{mailbox.url()}'\n"
            "    rate_limit: 1/1h\n    digest: null\n"
            "clusters: {enabled: false}\n"  # the numbered reports are one event otherwise
        ),
        feeds=f"feeds:\n  - {{name: wire, title: Wire, url: '{feed}', backlog: alert}}\n",
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [mail]}\n"},
    )
    args = ("--config", str(config), "--db", str(tmp_path / "m.db"))
    polled = run_cli("poll", "--once", *args)
    assert polled.exit_code == 0, polled.output
    assert "2 waiting for a digest" in polled.stderr
    assert len(mailbox.wait_for(2)) == 2  # one alert, one notice
    out = run_cli("digest", "--channel", "mail", "--now", *args)
    assert out.exit_code == 0, out.output
    assert "2 alerts sent" in out.stderr
    digest = mailbox.wait_for(3)[-1]
    assert digest["Subject"] == "[monitor] digest for mail: 2 alerts, 1 rule"
    listed = run_cli("alerts", "--json", *args)
    assert [json.loads(line)["state"] for line in listed.stdout.splitlines()] == ["sent"] * 3


def test_mute_from_the_cli_is_listed_and_stops_the_alert(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    feed = tmp_path / "f.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>W</title><item><title>Misrata shelled</title>'
        "<link>https://ex.org/1</link><guid>1</guid></item></channel></rss>"
    )
    config = make_config(
        feeds=f"feeds:\n  - {{name: wire, url: '{feed}', backlog: alert}}\n",
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"},
    )
    args = ("--config", str(config), "--db", str(tmp_path / "m.db"))
    made = run_cli("mute", "--rule", "misrata", "--for", "2h", "--reason", "presser", *args)
    assert made.exit_code == 0, made.output
    assert made.stderr.startswith("mute 1: rule misrata until ")
    listed = run_cli("mutes", "--json", *args)
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["kind"], row["value"], row["reason"], row["active"]) == (
        "rule",
        "misrata",
        "presser",
        True,
    )
    polled = run_cli("poll", "--once", *args)
    assert "1 muted" in polled.stderr and "Misrata shelled" not in polled.stdout
    [alert] = [
        json.loads(line)
        for line in run_cli("alerts", "--json", "--state", "muted", *args).stdout.splitlines()
    ]
    assert alert["title"] == "Misrata shelled" and "presser" in alert["note"]
    for bad in (("--rule", "nope"), ("--channel", "nope")):
        refused = run_cli("mute", *bad, "--for", "1h", *args)
        assert refused.exit_code != 0 and "no " in refused.output
    both = run_cli("mute", "--rule", "misrata", "--channel", "console", "--for", "1h", *args)
    assert both.exit_code == 2 and "exactly one" in both.output


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("rate_limit: ten", "is not a rate limit such as 10/1h"),
        ("quiet_hours: '22-06'", "is not a span of hours such as 22:00-06:00"),
        ("digest: 'every hour'", "digest"),
    ],
)
def test_check_names_the_line_of_a_bad_delivery_setting(
    make_config: MakeConfig, run_cli: RunCli, setting: str, message: str
) -> None:
    config = make_config(
        monitor=f"channels:\n  hook:\n    url: 'json://127.0.0.1:9/'\n    {setting}\n",
        rules={"r.yaml": "rules:\n  - {id: r, query: Misrata, channels: [hook]}\n"},
    )
    out = run_cli("check", "--config", str(config))
    assert out.exit_code != 0
    assert "monitor.yaml:4:" in out.output and message in out.output


def test_check_refuses_a_route_to_an_unknown_channel(
    make_config: MakeConfig, run_cli: RunCli
) -> None:
    config = make_config(
        monitor="routes:\n  - {severity: urgent, channels: [duty-editor]}\n",
        rules={"r.yaml": "rules:\n  - {id: r, query: Misrata, channels: [console]}\n"},
    )
    out = run_cli("check", "--config", str(config))
    assert out.exit_code != 0
    assert "monitor.yaml:2:" in out.output and "route: unknown channel 'duty-editor'" in out.output


def test_the_operators_channel_hears_once_when_a_feed_turns_unhealthy_and_recovers(
    tmp_path: Path, backend: Store
) -> None:
    feed_file = tmp_path / "f.xml"
    feeds = [Feed("wire", str(feed_file), "Wire", 60)]
    backend.sync_feeds(feeds)
    notifier = Recorder()
    p = Pipeline(
        store=backend,
        fetcher=Fetcher(),
        matcher=Matcher([]),
        notifier=notifier,
        poll_policy=PollPolicy(unhealthy_after=2),
    )
    p.poller.on_health = health_notices(p, "ops")

    def told() -> list[str]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(notifier.sent) < expected:
            time.sleep(0.01)
        return [m.body for c, m in notifier.sent if c == "ops"]

    expected = 0
    for _ in range(3):  # missing file: failing, unhealthy (told), still unhealthy
        p.poll(feeds)
    expected = 1
    [unhealthy] = told()
    assert unhealthy.startswith("Feed wire (") and " is unhealthy: " in unhealthy
    feed_file.write_text('<rss version="2.0"><channel><title>W</title></channel></rss>')
    p.poll(feeds)
    expected = 2
    assert told()[1] == f"Feed wire ({feed_file}) recovered after being unhealthy."


def test_group_wait_holds_alerts_so_the_outlets_that_follow_are_listed(backend: Store) -> None:
    clock, notifier = Clock(), Recorder()
    p = pipeline(backend, notifier, clock, group_wait=120.0)
    queue(backend, clock.now, "first")
    assert p.deliver().sent == 0 and notifier.sent == []
    clock.now += timedelta(seconds=60)
    queue(backend, clock.now, "second")
    assert p.deliver().sent == 0  # still inside the first one's wait
    clock.now += timedelta(seconds=61)
    assert p.deliver().sent == 1 and notifier.titles() == ["first — wire"]
    clock.now += timedelta(seconds=60)
    assert p.deliver().sent == 1
