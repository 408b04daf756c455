"""Rendering: an alert → the message a channel sends, with feed text escaped for it. Pure.

Feed text is hostile until proven otherwise. In Slack, `<!channel>` in a headline is a
live @channel ping and `<url|text>` a disguised link; in email, feed HTML would be shown
as HTML. Every piece of feed text therefore goes through the escaper of its channel,
and only http(s) links are ever made clickable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor.models import Alert, Message, Story

SNIPPET_CHARS = 280
MAX_TERMS = 12
MIN_PARAGRAPH_WORDS = 5

# Feed text on its way to Slack through apprise's Markdown conversion. apprise turns "\<"
# and "\>" into "&lt;"/"&gt;" and "\[" "\]" into plain brackets, and entity-escapes "&"
# itself: so a feed's "<!channel>" or "[x](http://evil)" arrives inert. Slack has no escape
# for its emphasis marks (a backslash would show), so those become look-alikes instead.
_MARKDOWN_ESCAPED = re.compile(r"([\[\]<>])")
_SLACK_LOOKALIKES = str.maketrans(
    # asterisk operator, modifier letter low macron, tilde operator, modifier grave accent,
    # reverse solidus operator: they read the same and format nothing.
    {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb", "\\": "\u29f5"}
)


def escape_markdown(text: str) -> str:
    """Make feed text inert for apprise's Markdown-to-Slack conversion: no mention, link
    or emphasis can come out of it."""
    return _MARKDOWN_ESCAPED.sub(r"\\\1", text.translate(_SLACK_LOOKALIKES))


def safe_link(link: str) -> str | None:
    """The link if it is http(s), else None: javascript: and friends are never linked."""
    scheme = urlsplit(link).scheme.lower() if link else ""
    return link if scheme in ("http", "https") else None


def one_line(text: str) -> str:
    """Text with its line breaks folded to spaces (for titles and subjects)."""
    return " ".join(text.split())


def _body_text(story: Story) -> str:
    """The story's text as one line, without the short lines of page furniture
    ("3 min read", a date, a photo credit) that would otherwise open the snippet."""
    lines = [line.strip() for line in (story.summary or story.content).split("\n")]
    prose = [line for line in lines if len(line.split()) >= MIN_PARAGRAPH_WORDS]
    return " ".join(prose or lines).strip() or one_line(story.title)


def snippet(story: Story, terms: tuple[str, ...], width: int = SNIPPET_CHARS) -> str:
    """A short piece of the story around the first matched word outside the headline."""
    body = one_line(_body_text(story))
    if len(body) <= width:
        return body
    hits = [
        m.start()
        for term in terms
        if (m := re.search(rf"(?<!\w){re.escape(term)}(?!\w)", body, re.IGNORECASE))
    ]
    start = max(0, min(hits) - width // 3) if hits else 0
    if start:
        space = body.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(body), start + width)
    if end < len(body):
        space = body.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("…" if start else "") + body[start:end].strip() + ("…" if end < len(body) else "")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 story", "2 stories": the count with its noun in the right number."""
    word = noun if count == 1 else (nouns or f"{noun}s")
    return f"{count} {word}"


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


def _published(alert: Alert, now: datetime | None) -> str:
    published = alert.story.published
    if published is None:
        return "time not given"
    age = story_age(published, now)
    when = published.strftime("%Y-%m-%d %H:%M UTC")
    return f"{when} · published {age}" if age else when


def _terms(terms: tuple[str, ...], show: Callable[[str], str] = str) -> str:
    """The matched words as a list to read, the first MAX_TERMS of them."""
    more = ", …" if len(terms) > MAX_TERMS else ""
    return ", ".join(show(t) for t in terms[:MAX_TERMS]) + more


def headline(alert: Alert) -> str:
    """The story's title, or a stand-in when the feed gave none."""
    return one_line(alert.story.title) or "(untitled story)"


def render_text(alert: Alert, *, now: datetime | None = None) -> Message:
    """Plain text, for the console and for channels that take no markup."""
    lines = [
        headline(alert),
        f"{alert.outlet} · {_published(alert, now)}",
        alert.story.link or "(no link)",
    ]
    for m in alert.matches:
        lines.append(f"rule {m.rule_name} [{m.rule_id}] matched: {_terms(m.terms)}")
    text = snippet(alert.story, alert.terms)
    if text:
        lines.append(f"> {text}")
    return Message(
        title=f"{headline(alert)} — {alert.outlet}", body="\n".join(lines), body_format="text"
    )


def render_slack(alert: Alert, *, now: datetime | None = None) -> Message:
    """Markdown that apprise turns into Slack mrkdwn; every feed string escaped."""
    title = escape_markdown(headline(alert))
    link = safe_link(alert.story.link)
    lines = [f"**[{title}](<{link}>)**" if link else f"**{title}**"]
    lines.append(f"{escape_markdown(alert.outlet)} · {_published(alert, now)}")
    for m in alert.matches:
        terms = _terms(m.terms, escape_markdown)
        lines.append(f"Rule: **{escape_markdown(m.rule_name)}** — matched: {terms}")
    text = snippet(alert.story, alert.terms)
    if text:
        lines.append(f"> {escape_markdown(text)}")
    return Message(title="", body="\n".join(lines), body_format="markdown")


def render_email(alert: Alert, *, now: datetime | None = None) -> Message:
    """An HTML email; feed text is escaped, never passed through as markup."""
    e = html.escape
    link = safe_link(alert.story.link)
    title = e(headline(alert))
    parts = [f'<h2><a href="{e(link)}">{title}</a></h2>' if link else f"<h2>{title}</h2>"]
    parts.append(f"<p>{e(alert.outlet)} · {e(_published(alert, now))}</p>")
    parts.append("<ul>")
    for m in alert.matches:
        terms = _terms(m.terms, lambda t: f"<b>{e(t)}</b>")
        parts.append(f"<li>Rule <b>{e(m.rule_name)}</b> ({e(m.rule_id)}) matched: {terms}</li>")
    parts.append("</ul>")
    text = snippet(alert.story, alert.terms)
    if text:
        parts.append(f"<blockquote>{e(text)}</blockquote>")
    if link:
        parts.append(f'<p><a href="{e(link)}">{e(link)}</a></p>')
    subject = f"[monitor] {headline(alert)} — {alert.outlet}"
    return Message(title=subject, body="\n".join(parts), body_format="html")


def render(alert: Alert, kind: str, *, now: datetime | None = None) -> Message:
    """The message for a channel kind: slack, email, or text (console and the rest).

    With `now` (the delivery time), a story older than an hour says how old it is."""
    if kind == "slack":
        return render_slack(alert, now=now)
    if kind == "email":
        return render_email(alert, now=now)
    return render_text(alert, now=now)
