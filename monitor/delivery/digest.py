"""Digests: a channel's deferred alerts in one message, grouped under each alert's most
severe rule, rendered per channel kind with the same escaping as a single alert
(feed text only in plain_text on Slack, autoescaped templates by email). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.delivery.policy import severity_rank
from monitor.delivery.render import (
    SEVERITY_COLOURS,
    also_reported,
    by_severity,
    headline,
    local_time,
    mrkdwn,
    one_line,
    plain_text,
    published_line,
    safe_link,
    slack_escape,
    templates,
    terms_line,
    truncate,
)
from monitor.models import Alert, Message
from monitor.text import plural

DIGEST_ITEMS_PER_RULE = 15  # Slack allows 50 blocks; an email stays scannable


@dataclass(frozen=True)
class DigestGroup:
    """One rule's alerts in a digest, newest first."""

    rule: str
    severity: str
    alerts: tuple[Alert, ...]


def digest_groups(alerts: Sequence[Alert]) -> list[DigestGroup]:
    """Alerts grouped under their most severe rule (each alert once), the most severe
    rule first, then the biggest group; each group newest first."""
    grouped: dict[str, list[Alert]] = {}
    severity: dict[str, str] = {}
    for alert in alerts:
        ordered = by_severity(alert.matches)
        name = one_line(ordered[0].rule_name) if ordered else "alert"
        severity.setdefault(name, ordered[0].severity if ordered else "normal")
        grouped.setdefault(name, []).append(alert)
    groups = [
        DigestGroup(
            name,
            severity[name],
            tuple(sorted(items, key=lambda a: (_when(a), a.id), reverse=True)),
        )
        for name, items in grouped.items()
    ]
    return sorted(groups, key=lambda g: (-severity_rank(g.severity), -len(g.alerts), g.rule))


def _when(alert: Alert) -> datetime:
    return alert.story.published or alert.created_at or datetime.min.replace(tzinfo=UTC)


def digest_title(alerts: Sequence[Alert], channel: str) -> str:
    """ "[monitor] digest for desk-slack: 12 alerts, 3 rules" """
    rules = len(digest_groups(alerts))
    return (
        f"[monitor] digest for {channel}: {plural(len(alerts), 'alert')}, {plural(rules, 'rule')}"
    )


def _digest_line(alert: Alert, now: datetime | None) -> str:
    also = also_reported(alert.also)
    tail = f" · {also}" if also else ""
    return f"{headline(alert)} — {one_line(alert.outlet)} · {published_line(alert, now)}{tail}"


def digest_text(alerts: Sequence[Alert], *, channel: str, now: datetime | None = None) -> str:
    """A digest as plain text: each rule with its count, then its stories, newest first."""
    lines = [digest_title(alerts, channel)]
    for group in digest_groups(alerts):
        lines += ["", f"{group.rule} ({group.severity}): {plural(len(group.alerts), 'alert')}"]
        for alert in group.alerts[:DIGEST_ITEMS_PER_RULE]:
            lines.append(f"  • {_digest_line(alert, now)}")
            lines.append(f"    {alert.story.link or '(no link)'}")
        if len(group.alerts) > DIGEST_ITEMS_PER_RULE:
            lines.append(f"  … and {len(group.alerts) - DIGEST_ITEMS_PER_RULE} more")
    return "\n".join(lines)


def digest_payload(
    alerts: Sequence[Alert], *, channel: str, now: datetime | None = None
) -> dict[str, Any]:
    """A digest as Block Kit: our labels in mrkdwn, every headline as the text of a
    rich_text link and every outlet in plain_text, as in a single alert."""
    title = digest_title(alerts, channel)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": plain_text(truncate(title, 150))}]
    for group in digest_groups(alerts):
        count = plural(len(group.alerts), "alert")
        blocks.append(
            {
                "type": "context",
                "elements": [
                    mrkdwn(f"*{group.severity}* · {count}"),
                    plain_text(truncate(group.rule, 150)),
                ],
            }
        )
        items = []
        for alert in group.alerts[:DIGEST_ITEMS_PER_RULE]:
            link = safe_link(alert.story.link)
            head: dict[str, Any] = (
                {"type": "link", "url": link, "text": headline(alert)}
                if link
                else {"type": "text", "text": headline(alert)}
            )
            tail = {
                "type": "text",
                "text": f" — {one_line(alert.outlet)} · {published_line(alert, now)}",
            }
            items.append({"type": "rich_text_section", "elements": [head, tail]})
        blocks.append(
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_list", "style": "bullet", "elements": items}],
            }
        )
        if len(group.alerts) > DIGEST_ITEMS_PER_RULE:
            more = len(group.alerts) - DIGEST_ITEMS_PER_RULE
            blocks.append({"type": "context", "elements": [mrkdwn(f"_and {more} more_")]})
    return {"text": slack_escape(truncate(title, 400)), "blocks": blocks[:50]}


def digest_context(
    alerts: Sequence[Alert], *, channel: str, now: datetime | None, timezone: str | None
) -> dict[str, Any]:
    """What the digest email shows: a table per rule."""
    return {
        "subject": digest_title(alerts, channel),
        "when": local_time(now, timezone) or (f"{now:%Y-%m-%d %H:%M} UTC" if now else ""),
        "groups": [
            {
                "rule": group.rule,
                "severity": group.severity,
                "colour": SEVERITY_COLOURS.get(group.severity, SEVERITY_COLOURS["normal"]),
                "count": plural(len(group.alerts), "alert"),
                "more": max(0, len(group.alerts) - DIGEST_ITEMS_PER_RULE),
                "rows": [
                    {
                        "headline": headline(a),
                        "link": safe_link(a.story.link),
                        "outlet": one_line(a.outlet),
                        "published": published_line(a, now),
                        "terms": terms_line(a.terms),
                        "also": also_reported(a.also),
                    }
                    for a in group.alerts[:DIGEST_ITEMS_PER_RULE]
                ],
            }
            for group in digest_groups(alerts)
        ],
    }


def render_digest(
    alerts: Sequence[Alert],
    kind: str,
    *,
    channel: str,
    now: datetime | None = None,
    timezone: str | None = None,
) -> Message:
    """One message carrying a channel's deferred alerts, for its kind."""
    text = digest_text(alerts, channel=channel, now=now)
    title = digest_title(alerts, channel)
    if kind == "slack":
        payload = digest_payload(alerts, channel=channel, now=now)
        return Message(title=title, body=text, body_format="text", payload=payload)
    if kind == "email":
        context = digest_context(alerts, channel=channel, now=now, timezone=timezone)
        body = templates.get_template("digest.html").render(context)
        return Message(title=title, body=body, body_format="html", text=text)
    return Message(title=title, body=text, body_format="text")
