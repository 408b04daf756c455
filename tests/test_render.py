"""Rendering rules: the subject, highlighting, and hostile feed text in every channel kind."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.delivery.render import highlight, render, subject
from monitor.models import Alert, Match, Story

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from screenshot_email import founding_alert

PUBLISHED = datetime(2020, 1, 26, 14, 5, tzinfo=UTC)


def alert_with(title: str = "Ceasefire broken", summary: str = "Misrata fighting.") -> Alert:
    return Alert(
        id=1,
        channel="desk",
        outlet="Example News",
        story=Story("f", "g", "https://news.example.org/1", title, summary, published=PUBLISHED),
        matches=(Match("r", "Libya", ("Misrata",)),),
    )


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <mark>, <p> and <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: dict[str, list[str]] = {"mark": [], "p": [], "title": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)
        if tag in self.text:
            self.text[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        for tag in {t for t in self.open if t in self.text}:
            self.text[tag][-1] += data


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        (["normal"], "[monitor] A: Headline"),
        (["normal", "high"], "[monitor] B +1 rule: Headline"),
        (["info", "normal", "urgent"], "[monitor] C +2 rules: Headline"),
        (["high", "high"], "[monitor] A +1 rule: Headline"),  # a tie keeps the rules' order
    ],
)
def test_the_subject_names_the_most_severe_rule_then_the_count(
    severities: list[str], expected: str
) -> None:
    matches = tuple(Match("id", "ABC"[i], ("x",), (), s) for i, s in enumerate(severities))
    assert subject(replace(alert_with("Headline"), matches=matches)) == expected


@pytest.mark.parametrize(
    ("text", "terms", "pieces"),
    [
        ("Libya's truce", ("Libya",), [("Libya", True), ("'s truce", False)]),
        ("Libyan truce", ("Libya",), [("Libyan truce", False)]),  # whole words only
        ("libya LIBYA", ("Libya",), [("libya", True), (" ", False), ("LIBYA", True)]),
        ("Abu Qurayn", ("Abu", "Abu Qurayn"), [("Abu Qurayn", True)]),  # longest first
        ("no words", (), [("no words", False)]),
    ],
)
def test_matched_words_are_highlighted_as_whole_words(
    text: str, terms: tuple[str, ...], pieces: list[tuple[str, bool]]
) -> None:
    assert highlight(text, terms) == pieces


def test_the_founding_email_has_marks_paragraphs_times_and_no_script() -> None:
    alert = founding_alert()
    now = PUBLISHED.replace(year=2020, month=1, day=28, hour=15, minute=20)
    message = render(alert, "email", now=now, timezone="Asia/Tokyo")
    assert message.title == (
        "[monitor] Libya cease-fire breach +2 rules: "
        "11 Libyan soldiers killed in clashes with Haftar loyalists"
    )
    page = parse(message.body)
    assert page.text["title"] == [message.title]
    assert "script" not in {tag for tag, _ in page.tags}
    assert {"Misrata", "Libya", "ceasefire", "Haftar"} <= set(page.text["mark"])
    paragraphs = page.text["p"]
    assert any(p.startswith("Libya's fragile ceasefire is broken") for p in paragraphs)
    assert not any("is broken Libya's" in p for p in paragraphs)  # no run-together
    assert "2020-01-28 12:00 UTC · 2020-01-28 21:00 JST (Asia/Tokyo) · 3 h ago" in " ".join(
        paragraphs
    )
    why = [tag for tag, attrs in page.tags if attrs.get("class") == "why"]
    assert len(why) == 3  # one line per rule
    assert "Libya cease-fire breach (high): Libyan, clashes, Haftar" in message.text


HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123ABC>",
    "<https://evil.example|click here>",
    "*bold* `code`",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "Misrata\r\nBcc: victim@example.org",
    "\u202eMisrata gnp.exe",
    "مصراتة Misrata ليبيا",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_feed_text_stays_inert_in_every_channel(hostile: str) -> None:
    alert = alert_with(title=f"{hostile} Misrata", summary=f"{hostile} fighting in Misrata.")
    console = render(alert, "console").body
    slack = render(alert, "slack").payload
    email = render(alert, "email")
    assert slack is not None
    # Slack: feed text only in plain_text or a rich_text link's text; mrkdwn is our labels.
    for block in slack["blocks"]:
        for element in block.get("elements", []):
            if element["type"] == "mrkdwn":
                assert element["text"] in ("*Rule*", "*matched*")
    assert "<" not in slack["text"] and ">" not in slack["text"]
    links = [
        e
        for b in slack["blocks"]
        if b["type"] == "rich_text"
        for s in b["elements"]
        for e in s["elements"]
    ]
    assert [e["url"] for e in links] == ["https://news.example.org/1"]
    # Email: no feed tag survives, no header break, no bidi override.
    page = parse(email.body)
    assert {tag for tag, _ in page.tags} <= {
        "html", "head", "meta", "title", "body", "div", "p", "h1", "h2", "a", "span",
        "time", "b", "ul", "li", "mark",
    }  # fmt: skip
    assert [a["href"] for t, a in page.tags if t == "a"] == ["https://news.example.org/1"] * 2
    for text in (email.title, console.splitlines()[0], links[0]["text"], slack["text"]):
        assert "\r" not in text and "\n" not in text and "\u202e" not in text
    assert "Misrata" in email.title and "Misrata" in console  # nothing the reader needs lost
    assert "\u202e" not in json.dumps(slack, ensure_ascii=False) + email.body + console


def test_a_20000_character_title_is_cut_with_an_ellipsis_everywhere() -> None:
    alert = alert_with(title="Misrata " * 2500)
    slack = render(alert, "slack").payload
    assert slack is not None
    head = slack["blocks"][0]["elements"][0]["elements"][0]["text"]
    assert len(head) <= 300 and head.endswith("…")
    assert len(slack["text"]) <= 400 and slack["text"].endswith("Misrata… — Example News")
    email = render(alert, "email")
    assert len(email.title) <= 200 and email.title.endswith("…")
    assert len(render(alert, "console").body.splitlines()[0]) <= 300
    assert len(json.dumps(slack)) < 4000


def test_the_slack_snippet_is_at_most_300_characters() -> None:
    long = " ".join(["The fighting near Misrata went on all day."] * 40)
    slack = render(alert_with(summary=long), "slack").payload
    assert slack is not None
    text = slack["blocks"][-1]["text"]["text"]
    assert len(text) <= 300 and "Misrata" in text


def test_an_email_gives_the_age_even_of_a_fresh_story() -> None:
    body = render(alert_with(), "email", now=PUBLISHED + timedelta(minutes=5)).body
    assert "under an hour ago" in body
