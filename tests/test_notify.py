"""Rendering and delivery: Slack at the HTTP boundary (its servers are out of reach), email
into a real SMTP server on loopback, and the console."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import responses

from monitor.config import ChannelSettings
from monitor.errors import DeliveryError
from monitor.models import Alert, Match, Story
from monitor.notify import Notifier, build_channels, expand_env
from monitor.render import escape_markdown, plural, render, snippet, story_age
from tests.conftest import Mailbox, free_port, html_part

SLACK_URL = "https://hooks.slack.com/services/T1234ABCD/B1234ABCD/abcdefghijklmnopqrstuvwx"
HOSTILE = "<!channel> Misrata & <@U123> *bold* [x](http://evil.example) <b>html</b>"


def make_alert(
    title: str = "Ceasefire broken near Misrata",
    link: str = "https://news.example.org/libya/1",
    summary: str = "Fighting near Misrata broke the Libya ceasefire on Sunday.",
    channel: str = "desk",
) -> Alert:
    return Alert(
        id=1,
        channel=channel,
        outlet="Example News",
        story=Story(
            feed="example",
            guid="g1",
            link=link,
            title=title,
            summary=summary,
            published=datetime(2020, 1, 26, 14, 5, tzinfo=UTC),
        ),
        matches=(Match("libya-ceasefire", "Libya cease-fire breach", ("Misrata", "ceasefire")),),
    )


def slack_text(alert: Alert) -> str:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, body="ok")
        channels = build_channels({"desk": ChannelSettings(url=SLACK_URL)}, {})
        Notifier(channels).send("desk", render(alert, "slack"))
        sent = json.loads(mock.calls[0].request.body or b"{}")
    return str(sent["attachments"][0]["text"])


def test_a_slack_alert_links_the_headline_and_names_outlet_rule_and_words() -> None:
    text = slack_text(make_alert())
    assert "<https://news.example.org/libya/1|Ceasefire broken near Misrata>" in text
    assert "Example News · 2020-01-26 14:05 UTC" in text
    assert "Libya cease-fire breach" in text
    assert "matched: Misrata, ceasefire" in text
    assert "Fighting near Misrata broke the Libya ceasefire" in text


def test_slack_mentions_and_links_in_feed_text_stay_inert() -> None:
    text = slack_text(make_alert(title=HOSTILE, summary=HOSTILE))
    # No live @channel, user mention or smuggled link survives.
    assert "<!channel>" not in text
    assert "<@U123>" not in text
    assert "<http://evil.example" not in text
    assert "&lt;!channel&gt;" in text
    assert "&lt;@U123&gt;" in text
    assert "&amp;" in text
    # The only link is the story's own.
    assert re.findall(r"<(https?://[^|>]+)", text) == ["https://news.example.org/libya/1"]


def test_a_non_http_link_is_never_made_clickable() -> None:
    text = slack_text(make_alert(link="javascript:alert(1)"))
    assert "javascript:" not in text
    assert "*Ceasefire broken near Misrata*" in text


def test_escape_markdown_leaves_no_markup_and_no_visible_backslash() -> None:
    assert escape_markdown("<!here> *a* _b_ ~c~ [d](e) `f` \\") == (
        "\\<!here\\> \u2217a\u2217 \u02cdb\u02cd \u223cc\u223c \\[d\\](e) \u02cbf\u02cb \u29f5"
    )


def test_the_slack_payload_is_exactly_what_the_desk_should_see() -> None:
    alert = make_alert(title="*Breaking* <!channel> Misrata_truce & [x](http://evil.example)")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, body="ok")
        channels = build_channels({"desk": ChannelSettings(url=SLACK_URL + "?footer=no")}, {})
        Notifier(channels).send("desk", render(alert, "slack"))
        payload = json.loads(mock.calls[0].request.body or b"{}")
    assert payload["attachments"][0]["text"] == (
        "*<https://news.example.org/libya/1|\u2217Breaking\u2217 &lt;!channel&gt; "
        "Misrata\u02cdtruce &amp; [x](http://evil.example)>*\n"
        "Example News · 2020-01-26 14:05 UTC\n"
        "Rule: *Libya cease-fire breach* — matched: Misrata, ceasefire\n"
        "> Fighting near Misrata broke the Libya ceasefire on Sunday."
    )


def test_an_email_alert_arrives_over_smtp_with_headline_rule_and_words(mailbox: Mailbox) -> None:
    channels = build_channels({"mail": ChannelSettings(url=mailbox.url())}, {})
    Notifier(channels).send("mail", render(make_alert(), "email"))
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "[monitor] Ceasefire broken near Misrata — Example News"
    assert message["To"] == "desk@example.org"
    body = html_part(message)
    assert '<a href="https://news.example.org/libya/1">Ceasefire broken near Misrata</a>' in body
    assert "Libya cease-fire breach" in body
    assert "<b>Misrata</b>, <b>ceasefire</b>" in body


def test_feed_html_in_an_email_is_escaped_not_rendered(mailbox: Mailbox) -> None:
    channels = build_channels({"mail": ChannelSettings(url=mailbox.url())}, {})
    hostile = make_alert(title='<img src=x onerror="alert(1)">Misrata', summary="<b>bold</b>")
    Notifier(channels).send("mail", render(hostile, "email"))
    body = html_part(mailbox.wait_for(1)[0])
    assert "<img" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Misrata" in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body


def test_a_refused_email_raises_delivery_error_with_the_reason() -> None:
    url = f"mailto://127.0.0.1:{free_port()}?from=monitor@example.org&to=desk@example.org"
    channels = build_channels({"mail": ChannelSettings(url=url)}, {})
    with pytest.raises(DeliveryError) as caught:
        Notifier(channels).send("mail", render(make_alert(), "email"))
    assert str(caught.value) == "connection refused"


def test_a_slack_error_response_raises_delivery_error() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, status=500, body="boom")
        channels = build_channels({"desk": ChannelSettings(url=SLACK_URL)}, {})
        with pytest.raises(DeliveryError):
            Notifier(channels).send("desk", render(make_alert(), "slack"))


def test_a_channel_with_an_unset_secret_prints_to_the_console_instead() -> None:
    channels = build_channels({"desk": ChannelSettings(url="${NOT_SET_ANYWHERE}")}, {})
    assert channels["desk"].kind == "console"
    assert channels["desk"].fallback == "NOT_SET_ANYWHERE not set"
    out = io.StringIO()
    note = Notifier(channels, console=out).send("desk", render(make_alert(), "console"))
    assert "Ceasefire broken near Misrata" in out.getvalue()
    assert "[desk]" in out.getvalue()
    assert note is not None and "NOT_SET_ANYWHERE" in note


def test_a_url_apprise_does_not_understand_falls_back_to_the_console() -> None:
    channels = build_channels({"desk": ChannelSettings(url="nonsense://x")}, {})
    assert channels["desk"].sender is None
    assert channels["desk"].fallback is not None


def test_channel_kinds_follow_the_apprise_service(mailbox: Mailbox) -> None:
    channels = build_channels(
        {"s": ChannelSettings(url=SLACK_URL), "m": ChannelSettings(url=mailbox.url())}, {}
    )
    assert channels["s"].kind == "slack"
    assert channels["m"].kind == "email"
    assert channels["console"].kind == "console"
    # Logs may show a channel's target, never its secret token.
    assert "abcdefghijklmnopqrstuvwx" not in channels["s"].target


def test_expand_env_fills_variables_and_defaults_and_lists_the_missing() -> None:
    assert expand_env("a${X}b${Y:-dflt}c${Z}", {"X": "1"}) == ("a1bdfltc", ["Z"])


def test_the_snippet_is_cut_around_the_first_matched_word() -> None:
    story = Story(
        feed="f",
        guid="g",
        link="",
        title="t",
        summary=("Lorem ipsum dolor sit amet. " * 30)
        + "Fighting near Misrata resumed."
        + " x" * 200,
    )
    text = snippet(story, ("Misrata",), width=120)
    assert "Misrata" in text
    assert text.startswith("…") and text.endswith("…")
    assert len(text) <= 122


PUBLISHED = datetime(2020, 1, 26, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "shown"),
    [
        pytest.param(timedelta(0), None, id="just-out"),
        pytest.param(timedelta(minutes=59, seconds=59), None, id="under-an-hour"),
        pytest.param(timedelta(hours=1), "1 h ago", id="one-hour"),
        pytest.param(timedelta(hours=3, minutes=59), "3 h ago", id="hours-round-down"),
        pytest.param(timedelta(hours=23, minutes=59), "23 h ago", id="almost-a-day"),
        pytest.param(timedelta(days=1), "1 day ago", id="one-day"),
        pytest.param(timedelta(days=2, hours=23), "2 days ago", id="days-round-down"),
        pytest.param(timedelta(days=400), "400 days ago", id="old"),
        pytest.param(timedelta(hours=-5), None, id="dated-in-the-future"),
    ],
)
def test_story_age_shows_only_ages_of_an_hour_or_more(age: timedelta, shown: str | None) -> None:
    assert story_age(PUBLISHED, PUBLISHED + age) == shown


@pytest.mark.parametrize(("published", "now"), [(None, PUBLISHED), (PUBLISHED, None), (None, None)])
def test_story_age_needs_a_date_and_a_clock(
    published: datetime | None, now: datetime | None
) -> None:
    assert story_age(published, now) is None


@pytest.mark.parametrize(
    ("count", "noun", "nouns", "text"),
    [
        (0, "story", "stories", "0 stories"),
        (1, "story", "stories", "1 story"),
        (2, "story", "stories", "2 stories"),
        (1, "new story", "new stories", "1 new story"),
        (1, "alert", None, "1 alert"),
        (3, "alert", None, "3 alerts"),
    ],
)
def test_plural_agrees_with_the_count(count: int, noun: str, nouns: str | None, text: str) -> None:
    assert plural(count, noun, nouns) == text


@pytest.mark.parametrize("kind", ["console", "slack", "email"])
def test_every_form_says_how_old_an_older_story_is(kind: str) -> None:
    body = render(make_alert(), kind, now=PUBLISHED + timedelta(hours=3, minutes=10)).body
    assert "2020-01-26 14:05 UTC · published 3 h ago" in body
    older = render(make_alert(), kind, now=PUBLISHED + timedelta(days=2, hours=1)).body
    assert "2020-01-26 14:05 UTC · published 2 days ago" in older


@pytest.mark.parametrize("kind", ["console", "slack", "email"])
def test_a_fresh_or_undated_story_gets_no_age(kind: str) -> None:
    fresh = render(make_alert(), kind, now=PUBLISHED + timedelta(minutes=20)).body
    assert "2020-01-26 14:05 UTC" in fresh and "ago" not in fresh
    alert = make_alert()
    undated = replace(alert, story=replace(alert.story, published=None))
    body = render(undated, kind, now=PUBLISHED + timedelta(days=3)).body
    assert "time not given" in body and "ago" not in body


def test_the_age_reaches_slack_and_email(mailbox: Mailbox) -> None:
    now = PUBLISHED + timedelta(hours=5)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, body="ok")
        channels = build_channels({"desk": ChannelSettings(url=SLACK_URL)}, {})
        Notifier(channels).send("desk", render(make_alert(), "slack", now=now))
        payload = json.loads(mock.calls[0].request.body or b"{}")
    assert "Example News · 2020-01-26 14:05 UTC · published 5 h ago" in str(payload)
    channels = build_channels({"mail": ChannelSettings(url=mailbox.url())}, {})
    Notifier(channels).send("mail", render(make_alert(), "email", now=now))
    assert "· published 5 h ago</p>" in html_part(mailbox.wait_for(1)[0])
