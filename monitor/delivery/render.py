"""Rendering: an alert → the message a channel sends, with feed text escaped for it. Pure.

Feed text is hostile until proven otherwise. In Slack mrkdwn, `<!channel>` in a headline
is a live @channel ping and `<url|text>` a disguised link; in email, feed HTML would be
shown as HTML. So feed text reaches Slack only in elements Slack shows as written
(plain_text, a rich_text link's text), email through autoescaped templates, and only
http(s) links are ever made clickable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2

from monitor.delivery.policy import severity_rank
from monitor.models import Alert, Match, Message, Story
from monitor.text import plural

SNIPPET_CHARS = 300  # the ellipses included
HEADLINE_CHARS = 300
MAX_TERMS = 12
MAX_RULES_SHOWN = 10  # Slack allows 50 blocks; past ten rules a count says the rest
MIN_PARAGRAPH_WORDS = 5
SEVERITY_COLOURS = {"urgent": "#b00020", "high": "#d35400", "normal": "#2c6db5", "info": "#777777"}

# Explicit bidi embeddings, overrides and isolates: an RLO in a headline turns the text
# after it backwards, which can disguise a link or a name. Right-to-left letters stay.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], None)

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.delivery", "templates"),
    # Feed text is hostile: every value in the HTML template is escaped unless marked safe
    # (nothing is). The text template is not HTML, so it is not escaped.
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def safe_link(link: str) -> str | None:
    """The link if it is http(s), else None: javascript: and friends are never linked."""
    scheme = urlsplit(link).scheme.lower() if link else ""
    return link if scheme in ("http", "https") else None


def one_line(text: str) -> str:
    """Text with its line breaks (CR, LF and the rest) folded to spaces and its bidi
    controls removed: for titles, subjects and names."""
    return " ".join(text.translate(_BIDI_CONTROLS).split())


def truncate(text: str, width: int) -> str:
    """Text cut to at most `width` characters, at a space if one is near, with "…"."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    cut = cut if cut > width * 2 // 3 else width - 1
    return text[:cut].rstrip() + "…"


def paragraphs(story: Story) -> list[str]:
    """The story's paragraphs, each on one line, without the short lines of page furniture
    ("3 min read", a date, a photo credit) that would otherwise open the snippet."""
    lines = [one_line(line) for line in (story.summary or story.content).split("\n")]
    lines = [line for line in lines if line]
    prose = [line for line in lines if len(line.split()) >= MIN_PARAGRAPH_WORDS]
    return prose or lines or [one_line(story.title)]


def snippet(story: Story, terms: tuple[str, ...], width: int = SNIPPET_CHARS) -> str:
    """A short piece of the story around the first matched word outside the headline;
    paragraphs are separated by a newline. At most `width` characters, ellipses included."""
    body = "\n".join(paragraphs(story)).strip()
    if len(body) <= width:
        return body
    width -= 2  # room for the ellipses
    hits = [
        m.start()
        for term in terms
        if (m := re.search(rf"(?<!\w){re.escape(term)}(?!\w)", body, re.IGNORECASE))
    ]
    start = max(0, min(hits) - width // 3) if hits else 0
    if start:
        space = _next_space(body, start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(body), start + width)
    if end < len(body):
        space = max(body.rfind(" ", start, end), body.rfind("\n", start, end))
        end = space if space > start + width // 2 else end
    return ("…" if start else "") + body[start:end].strip() + ("…" if end < len(body) else "")


def _next_space(text: str, start: int) -> int:
    found = [i for i in (text.find(" ", start), text.find("\n", start)) if i >= 0]
    return min(found) if found else -1


def highlight(text: str, terms: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Text in pieces, each marked whether it is one of the matched words (whole words,
    any case; the longest first, so "Libya ceasefire" wins over "Libya")."""
    words = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return [(text, False)] if text else []
    pattern = re.compile(
        "(?<!\\w)(" + "|".join(re.escape(w) for w in words) + ")(?!\\w)", re.IGNORECASE
    )
    pieces: list[tuple[str, bool]] = []
    at = 0
    for m in pattern.finditer(text):
        if m.start() > at:
            pieces.append((text[at : m.start()], False))
        pieces.append((m.group(0), True))
        at = m.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def story_age(published: datetime | None, now: datetime | None) -> str | None:
    """How long ago a story came out ("3 h ago", "2 days ago"); None when under an hour
    old, undated, or when there is no clock to tell."""
    if published is None or now is None:
        return None
    age = now - published
    if age < timedelta(hours=1):  # fresh news needs no age, nor does a date in the future
        return None
    if age < timedelta(days=1):
        return f"{age // timedelta(hours=1)} h ago"
    return f"{plural(age.days, 'day')} ago"


def published_line(alert: Alert, now: datetime | None) -> str:
    published = alert.story.published
    if published is None:
        return "time not given"
    age = story_age(published, now)
    when = published.strftime("%Y-%m-%d %H:%M UTC")
    return f"{when} · published {age}" if age else when


def local_time(published: datetime | None, timezone: str | None) -> str | None:
    """The published time in a channel's zone ("15:05 CET (Europe/Berlin)"); None in UTC."""
    if published is None or timezone is None or timezone == "UTC":
        return None
    local = published.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({timezone})"


def terms_line(terms: tuple[str, ...], show: Callable[[str], str] = str) -> str:
    """The matched words as a list to read, each once (whatever its case), the first
    MAX_TERMS of them."""
    distinct = list({t.casefold(): t for t in terms}.values())
    more = ", …" if len(distinct) > MAX_TERMS else ""
    return ", ".join(show(t) for t in distinct[:MAX_TERMS]) + more


def also_reported(outlets: Sequence[str], shown: int = 2) -> str:
    """ "also reported by: BBC, Sky News (+2)", or "" when no other outlet carries it."""
    if not outlets:
        return ""
    names = [truncate(one_line(o), 60) for o in outlets]
    more = f" (+{len(names) - shown})" if len(names) > shown else ""
    return f"also reported by: {', '.join(names[:shown])}{more}"


def headline(alert: Alert) -> str:
    """The story's title on one line and at most HEADLINE_CHARS long, or a stand-in when
    the feed gave none."""
    return truncate(one_line(alert.story.title), HEADLINE_CHARS) or "(untitled story)"


def by_severity(matches: tuple[Match, ...]) -> list[Match]:
    """The rules that fired, the most severe first (ties keep the rules' order)."""
    return sorted(matches, key=lambda m: -severity_rank(m.severity))


def lead_rule(alert: Alert) -> str:
    """ "Libya cease-fire breach", or "Libya cease-fire breach +2 rules" when more fired."""
    ordered = by_severity(alert.matches)
    if not ordered:
        return "alert"
    more = len(ordered) - 1
    name = truncate(one_line(ordered[0].rule_name), 80)
    return f"{name} +{plural(more, 'rule')}" if more else name


def subject(alert: Alert) -> str:
    """The email subject: `[monitor] <rule name>: <headline>`, one line, under 200 chars;
    a follow-up says so."""
    follow = f" (follow-up: {alert.follow_up})" if alert.follow_up else ""
    head = f"[monitor] {lead_rule(alert)}{follow}: "
    return head + truncate(headline(alert), 200 - len(head))


def render_text(alert: Alert, *, now: datetime | None = None) -> Message:
    """Plain text, for the console and for channels that take no markup."""
    lines = [f"Follow-up: {alert.follow_up}"] if alert.follow_up else []
    lines += [
        headline(alert),
        f"{one_line(alert.outlet)} · {published_line(alert, now)}",
        alert.story.link or "(no link)",
    ]
    for m in by_severity(alert.matches):
        lines.append(f"rule {one_line(m.rule_name)} [{m.rule_id}] matched: {terms_line(m.terms)}")
    text = snippet(alert.story, alert.terms)
    if text:
        lines.append("> " + text.replace("\n", "\n> "))
    title = f"{headline(alert)} — {one_line(alert.outlet)}"
    return Message(title=title, body="\n".join(lines), body_format="text")


def slack_escape(text: str) -> str:
    """Text for a Slack mrkdwn field: Slack's three entities, nothing else. In a direct
    webhook post `&lt;!channel&gt;` is shown as written, never as a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(text: str) -> dict[str, Any]:
    # emoji off: a feed's ":rotating_light:" is shown as written, not turned into a picture.
    return {"type": "plain_text", "text": text, "emoji": False}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}  # our own words only, never feed text


def slack_payload(alert: Alert, *, now: datetime | None = None) -> dict[str, Any]:
    """A Block Kit message. Feed text goes only into plain_text elements and into the
    text of a rich_text link, which Slack shows as written: nothing in it is parsed, so
    no mention, link or emphasis can come out of it. The top-level `text` (what phone and
    desktop notifications show) is mrkdwn, so it gets Slack's entities."""
    title = headline(alert)
    link = safe_link(alert.story.link)
    style = {"bold": True}
    head: dict[str, Any] = (
        {"type": "link", "url": link, "text": title, "style": style}
        if link
        else {"type": "text", "text": title, "style": style}
    )
    blocks: list[dict[str, Any]] = []
    if alert.follow_up:  # our words: "now reported by 5 outlets"
        follow = {"type": "context", "elements": [mrkdwn(f"*Follow-up:* {alert.follow_up}")]}
        blocks.append(follow)
    blocks += [
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [head]}]},
        {
            "type": "context",
            "elements": [
                plain_text(truncate(one_line(alert.outlet), 150) or "(unnamed feed)"),
                plain_text(published_line(alert, now)),
            ],
        },
    ]
    ordered = by_severity(alert.matches)
    for m in ordered[:MAX_RULES_SHOWN]:
        elements = [mrkdwn("*Rule*"), plain_text(truncate(one_line(m.rule_name), 150))]
        if m.terms:
            elements += [mrkdwn("*matched*"), plain_text(truncate(terms_line(m.terms), 300))]
        blocks.append({"type": "context", "elements": elements})
    if len(ordered) > MAX_RULES_SHOWN:
        more = plural(len(ordered) - MAX_RULES_SHOWN, "more rule")
        blocks.append({"type": "context", "elements": [mrkdwn(f"_and {more}_")]})
    text = snippet(alert.story, alert.terms)
    if text:
        blocks.append({"type": "section", "text": plain_text(text)})
    notice = f"{lead_rule(alert)}: {title} — {one_line(alert.outlet)}"
    if alert.follow_up:
        notice = f"Follow-up ({alert.follow_up}): {notice}"
    return {"text": slack_escape(truncate(notice, 400)), "blocks": blocks}


def render_slack(alert: Alert, *, now: datetime | None = None) -> Message:
    """A Slack message: the Block Kit payload, and plain text for a console preview."""
    text = render_text(alert, now=now)
    return replace(text, payload=slack_payload(alert, now=now))


def email_context(
    alert: Alert, *, now: datetime | None = None, timezone: str | None = None
) -> dict[str, Any]:
    """What the email templates show; every value is feed text or ours, none is markup."""
    link = safe_link(alert.story.link)
    published = alert.story.published
    ordered = by_severity(alert.matches)
    lead = ordered[0].severity if ordered else "normal"
    more = len(ordered) - 1
    text = snippet(alert.story, alert.terms, width=1200)
    age = (story_age(published, now) or "under an hour ago") if published and now else None
    return {
        "subject": subject(alert),
        "follow_up": alert.follow_up,
        "headline": headline(alert),
        "link": link,
        "link_host": urlsplit(link).hostname if link else None,
        "outlet": one_line(alert.outlet),
        "published_iso": published.isoformat() if published else "",
        "published_utc": f"{published:%Y-%m-%d %H:%M} UTC" if published else "time not given",
        "published_local": local_time(published, timezone),
        "age": age,
        "lead_rule": truncate(one_line(ordered[0].rule_name), 80) if ordered else "alert",
        "lead_severity": lead,
        "more_rules": f"+{plural(more, 'rule')}" if more > 0 else "",
        "colour": SEVERITY_COLOURS.get(lead, SEVERITY_COLOURS["normal"]),
        "rules": [
            {"name": one_line(m.rule_name), "severity": m.severity, "terms": terms_line(m.terms)}
            for m in ordered
        ],
        "paragraphs": [highlight(p, alert.terms) for p in text.split("\n") if p],
    }


def render_email(
    alert: Alert, *, now: datetime | None = None, timezone: str | None = None
) -> Message:
    """An HTML email and its plain-text alternative, both from templates."""
    context = email_context(alert, now=now, timezone=timezone)
    return Message(
        title=context["subject"],
        body=templates.get_template("email.html").render(context),
        body_format="html",
        text=templates.get_template("email.txt").render(context),
    )


def render(
    alert: Alert, kind: str, *, now: datetime | None = None, timezone: str | None = None
) -> Message:
    """The message for a channel kind: slack, email, or text (console and the rest).

    With `now` (the delivery time), a story older than an hour says how old it is; with
    `timezone` (the channel's), an email also gives the published time there."""
    if kind == "slack":
        return render_slack(alert, now=now)
    if kind == "email":
        return render_email(alert, now=now, timezone=timezone)
    return render_text(alert, now=now)


def render_notice(text: str, kind: str) -> Message:
    """A word from monitor itself (no feed text in it), e.g. that a rate limit was reached."""
    title = "[monitor] " + truncate(one_line(text), 150)
    if kind == "slack":
        payload = {
            "text": slack_escape(text),
            "blocks": [{"type": "section", "text": plain_text(text)}],
        }
        return Message(title=title, body=text, body_format="text", payload=payload)
    return Message(title=title, body=text, body_format="text")
