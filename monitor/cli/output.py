"""How the commands print: one line of text, or one JSON object, per row."""

import json
from datetime import UTC, datetime
from typing import Any

import click

from monitor.backtest import BacktestReport, Change
from monitor.models import Alert, Feed, Match, StoredStory, Story
from monitor.store import ClusterSummary, FeedStatus
from monitor.text import plural


def match_line(story: Story, match: Match) -> str:
    return f"{match.rule_id}\t{story.title}\t{story.link}\t{', '.join(match.terms)}"


def match_json(source: str, story: Story, match: Match) -> str:
    return json.dumps(
        {
            "rule": match.rule_id,
            "rule_name": match.rule_name,
            "title": story.title,
            "link": story.link,
            "terms": list(match.terms),
            "source": source,
            "published": story.published.isoformat() if story.published else None,
        },
        ensure_ascii=False,
    )


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def never_polled(feed: Feed) -> FeedStatus:
    return FeedStatus(feed.name, feed.title, feed.url, feed.interval, None, None, None, None, 0, 0)


def alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "story_id": alert.story_id,
        "channel": alert.channel,
        "state": alert.status,
        "status": alert.status,  # the name before `state`, kept for scripts that read it
        "attempts": alert.attempts,
        "last_error": alert.last_error,
        "note": alert.note,
        "created_at": alert.created_at,
        "sent_at": alert.sent_at,
        "title": alert.story.title,
        "link": alert.story.link,
        "outlet": alert.outlet,
        "rules": [m.rule_id for m in alert.matches],
        "terms": list(alert.terms),
        "cluster": alert.cluster_id,
        "also": list(alert.also),  # the other outlets that carry the same event
    }


def story_row(stored: StoredStory) -> dict[str, Any]:
    story = stored.story
    return {
        "id": stored.id,
        "feed": story.feed,
        "title": story.title,
        "link": story.link,
        "published": story.published,
        "first_seen": stored.first_seen,
        "cluster": stored.cluster_id,
        "alerts": stored.alerts,
    }


def cluster_row(cluster: ClusterSummary) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "size": cluster.stories,
        "outlets": list(cluster.outlets),
        "headline": cluster.headline,
        "first_seen": cluster.first_seen,
        "last_seen": cluster.last_seen,
    }


def print_backtest(report: BacktestReport, since: str, *, with_changes: bool) -> None:
    click.echo(f"{plural(report.stories, 'story', 'stories')} stored in the last {since}")
    for hits in report.hits.values():
        days = ", ".join(f"{d:%Y-%m-%d} {n}" for d, n in sorted(hits.per_day.items()))
        click.echo(f"\n{hits.rule} ({hits.name}): {plural(hits.total, 'hit')}")
        if days:
            click.echo(f"  per day: {days}")
        for stored in reversed(hits.sample):
            click.echo(f"  {when(stored.first_seen)}  {stored.story.title[:100]}")
    if with_changes:
        click.echo(
            f"\nthe edited rules gain and lose {plural(len(report.changes), 'story', 'stories')}:"
        )
        for changed in report.changes:
            sign = "+" if changed.change is Change.GAINED else "-"
            story = changed.story.story
            click.echo(f"  {sign} {changed.rule}  {story.title[:90]}  {story.link}")


def print_backtest_json(report: BacktestReport, *, with_changes: bool) -> None:
    if with_changes:
        for changed in report.changes:
            story = changed.story.story
            row = {
                "rule": changed.rule,
                "change": changed.change.value,
                "title": story.title,
                "link": story.link,
                "feed": story.feed,
                "first_seen": changed.story.first_seen,
            }
            click.echo(json.dumps(jsonable(row), ensure_ascii=False))
        return
    for hits in report.hits.values():
        totals: dict[str, Any] = {
            "rule": hits.rule,
            "hits": hits.total,
            "per_day": {f"{d:%Y-%m-%d}": n for d, n in sorted(hits.per_day.items())},
            "sample": [s.story.title for s in reversed(hits.sample)],
        }
        click.echo(json.dumps(totals, ensure_ascii=False))
