"""Rendering and delivery: Slack at the HTTP boundary (its servers are out of reach), email
into a real SMTP server on loopback, and the console."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from monitor.config import ChannelSettings
from monitor.delivery.channels import Notifier, build_channels, expand_env
from monitor.delivery.render import render, snippet, story_age
from monitor.errors import DeliveryError
from monitor.models import Alert, Match, Story
from monitor.text import plural
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


def post_slack(
    alert: Alert,
    url: str = SLACK_URL,
    now: datetime | None = None,
    status: int = 200,
) -> list[httpx.Request]:
    """Send an alert to a Slack channel; the requests that reached Slack's side."""
    seen: list[httpx.Request] = []

    def slack(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text="ok" if status == 200 else "invalid_payload")

    channels = build_channels({"desk": ChannelSettings(url=url)}, {})
    Notifier(channels, http=httpx.MockTransport(slack)).send(
        "desk", render(alert, "slack", now=now)
    )
    return seen


def slack_payload_of(alert: Alert, now: datetime | None = None) -> dict[str, Any]:
    [request] = post_slack(alert, now=now)
    assert str(request.url) == SLACK_URL
    assert request.headers["content-type"] == "application/json"
    payload: dict[str, Any] = json.loads(request.content)
    return payload


def test_the_slack_payload_is_exactly_what_the_desk_should_see() -> None:
    alert = make_alert(title="*Breaking* <!channel> Misrata_truce & [x](http://evil.example)")
    assert slack_payload_of(alert) == {
        "text": "Libya cease-fire breach: *Breaking* &lt;!channel&gt; Misrata_truce &amp; "
        "[x](http://evil.example) — Example News",
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {
                                "type": "link",
                                "url": "https://news.example.org/libya/1",
                                "text": "*Breaking* <!channel> Misrata_truce & "
                                "[x](http://evil.example)",
                                "style": {"bold": True},
                            }
                        ],
                    }
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "plain_text", "text": "Example News", "emoji": False},
                    {"type": "plain_text", "text": "2020-01-26 14:05 UTC", "emoji": False},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "*Rule*"},
                    {"type": "plain_text", "text": "Libya cease-fire breach", "emoji": False},
                    {"type": "mrkdwn", "text": "*matched*"},
                    {"type": "plain_text", "text": "Misrata, ceasefire", "emoji": False},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "plain_text",
                    "text": "Fighting near Misrata broke the Libya ceasefire on Sunday.",
                    "emoji": False,
                },
            },
        ],
    }


@pytest.mark.parametrize(
    "url",
    [
        SLACK_URL,
        "slack://T1234ABCD/B1234ABCD/abcdefghijklmnopqrstuvwx",
        SLACK_URL + "?footer=no&image=yes",
    ],
)
def test_every_form_of_a_slack_webhook_url_posts_blocks_to_the_webhook(url: str) -> None:
    [request] = post_slack(make_alert(), url=url)
    assert str(request.url) == SLACK_URL
    payload = json.loads(request.content)
    assert set(payload) == {"text", "blocks"}  # no apprise icon, footer or attachment


def test_a_slack_url_naming_a_channel_posts_to_it() -> None:
    url = "slack://T1234ABCD/B1234ABCD/abcdefghijklmnopqrstuvwx/#news"
    [request] = post_slack(make_alert(), url=url)
    assert json.loads(request.content)["channel"] == "#news"


def test_a_non_http_link_is_never_made_clickable() -> None:
    payload = slack_payload_of(make_alert(link="javascript:alert(1)"))
    assert "javascript" not in json.dumps(payload)
    assert payload["blocks"][0]["elements"][0]["elements"][0]["type"] == "text"


def test_a_slack_error_response_raises_delivery_error() -> None:
    with pytest.raises(DeliveryError, match="HTTP 500 invalid_payload"):
        post_slack(make_alert(), status=500)


def test_an_email_alert_arrives_over_smtp_with_headline_rule_and_words(mailbox: Mailbox) -> None:
    channels = build_channels({"mail": ChannelSettings(url=mailbox.url())}, {})
    Notifier(channels).send("mail", render(make_alert(), "email"))
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "[monitor] Libya cease-fire breach: Ceasefire broken near Misrata"
    assert message["To"] == "desk@example.org"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    body = html_part(message)
    assert '<a href="https://news.example.org/libya/1" style="color:#1a1a1a;">' in body
    assert "<b>Libya cease-fire breach</b>" in body
    assert "<mark" in body and ">Misrata</mark>" in body
    text = next(p for p in message.iter_parts() if p.get_content_type() == "text/plain")
    plain = str(text.get_content())  # type: ignore[attr-defined]
    assert "Ceasefire broken near Misrata" in plain
    assert "Libya cease-fire breach (normal): Misrata, ceasefire" in plain
    assert "Fighting near Misrata broke the Libya ceasefire on Sunday." in plain


def test_feed_html_in_an_email_is_escaped_not_rendered(mailbox: Mailbox) -> None:
    channels = build_channels({"mail": ChannelSettings(url=mailbox.url())}, {})
    hostile = make_alert(title='<img src=x onerror="alert(1)">Misrata', summary="<b>bold</b>")
    Notifier(channels).send("mail", render(hostile, "email"))
    body = html_part(mailbox.wait_for(1)[0])
    assert "<img" not in body
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Misrata" in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body


def test_a_refused_email_raises_delivery_error_with_the_reason() -> None:
    url = f"mailto://127.0.0.1:{free_port()}?from=monitor@example.org&to=desk@example.org"
    channels = build_channels({"mail": ChannelSettings(url=url)}, {})
    with pytest.raises(DeliveryError) as caught:
        Notifier(channels).send("mail", render(make_alert(), "email"))
    assert str(caught.value) == "connection refused"


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


@pytest.mark.parametrize("kind", ["console", "slack"])
def test_every_form_says_how_old_an_older_story_is(kind: str) -> None:
    body = render(make_alert(), kind, now=PUBLISHED + timedelta(hours=3, minutes=10)).body
    assert "2020-01-26 14:05 UTC · published 3 h ago" in body
    older = render(make_alert(), kind, now=PUBLISHED + timedelta(days=2, hours=1)).body
    assert "2020-01-26 14:05 UTC · published 2 days ago" in older


@pytest.mark.parametrize("kind", ["console", "slack"])
def test_a_fresh_or_undated_story_gets_no_age(kind: str) -> None:
    fresh = render(make_alert(), kind, now=PUBLISHED + timedelta(minutes=20)).body
    assert "2020-01-26 14:05 UTC" in fresh and "ago" not in fresh
    alert = make_alert()
    undated = replace(alert, story=replace(alert.story, published=None))
    body = render(undated, kind, now=PUBLISHED + timedelta(days=3)).body
    assert "time not given" in body and "ago" not in body


def test_the_age_reaches_slack_and_email(mailbox: Mailbox) -> None:
    now = PUBLISHED + timedelta(hours=5)
    payload = slack_payload_of(make_alert(), now=now)
    assert payload["blocks"][1]["elements"][1]["text"] == "2020-01-26 14:05 UTC · published 5 h ago"
    channels = build_channels({"mail": ChannelSettings(url=mailbox.url())}, {})
    Notifier(channels).send("mail", render(make_alert(), "email", now=now))
    assert "<b>5 h ago</b>" in html_part(mailbox.wait_for(1)[0])
