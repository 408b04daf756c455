"""The command line (click): one function per command. Errors become messages only here.

Every command takes --config DIR (env MONITOR_CONFIG, default ./config) and --db PATH
(env MONITOR_DB, default: monitor.yaml's `database`, else ./monitor.db).
"""

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor.backtest import backtest as run_backtest
from monitor.cli.feeds import feeds
from monitor.cli.output import (
    alert_row,
    cluster_row,
    jsonable,
    match_json,
    match_line,
    print_backtest,
    print_backtest_json,
    story_row,
    when,
)
from monitor.cli.wiring import (
    delivering_meanwhile,
    load_checked,
    make_fetcher,
    open_store,
    pipeline_for,
    reloader,
    setup_logging,
    total,
)
from monitor.config import load_config, load_rules, parse_duration, rules_schema
from monitor.delivery.channels import Notifier, build_channels
from monitor.delivery.render import also_reported, render
from monitor.errors import ConfigError, FetchError, ParseError, StoreError
from monitor.feeds.fetch import Fetcher
from monitor.models import Alert, AlertStatus, Match, Mute, MuteKind, PollStatus, Story
from monitor.pipeline import read_feed, utcnow
from monitor.pipeline.daemon import Daemon
from monitor.rules import Matcher
from monitor.rules import explain as explain_rule
from monitor.rules.places import PlaceError, resolve_place
from monitor.text import plural

log = logging.getLogger("monitor")
F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """--config and --db, shared by every command."""
    func = click.option(
        "--db",
        "db",
        envvar="MONITOR_DB",
        type=click.Path(dir_okay=False),
        help="SQLite file [env MONITOR_DB; default: monitor.yaml's database, else ./monitor.db]",
    )(func)
    func = click.option(
        "--config",
        "config_dir",
        envvar="MONITOR_CONFIG",
        default="config",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Config directory [env MONITOR_CONFIG]",
    )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    envvar="MONITOR_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="How much to log (to stderr) [env MONITOR_LOG_LEVEL]",
)
@click.version_option(package_name="monitor")
def cli(log_level: str) -> None:
    """monitor: polls news feeds, matches watch rules, alerts once on Slack or email."""
    setup_logging(log_level)


@cli.command()
@common_options
def run(config_dir: str, db: str | None) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    Exits 2 without starting if `monitor check` finds an error in the configuration.
    """
    config = load_checked(config_dir, strict=True)
    with pipeline_for(config, db) as pipeline:
        poll = config.settings.poll
        reload = reloader(config_dir, pipeline)
        Daemon(pipeline, config.feeds, tick=poll.tick, workers=poll.workers, reload=reload).run()


@cli.command()
@common_options
@click.option("--once", is_flag=True, required=True, help="One cycle over every feed, then exit.")
def poll(config_dir: str, db: str | None, once: bool) -> None:
    """Poll every feed once, deliver the alerts, and exit.

    Exits 2 without polling if `monitor check` finds an error in the configuration.
    """
    config = load_checked(config_dir, strict=True)
    with pipeline_for(config, db) as pipeline:
        # Alerts go out as feeds are stored, not after the slowest feed's deadline.
        with delivering_meanwhile(pipeline) as passes:
            results = pipeline.poll(config.feeds, workers=config.settings.poll.workers)
        report = total([*passes, pipeline.deliver()])
    errors = [r for r in results if r.status is PollStatus.ERROR]
    new = sum(r.new_stories for r in results)
    # "Sent" means it left this machine: console output is counted as printed, apart.
    click.echo(
        f"polled {plural(len(results), 'feed')} ({len(errors)} failed): "
        f"{plural(new, 'new story', 'new stories')}, {plural(report.sent, 'alert')} sent, "
        f"{report.printed} printed to the console, {report.failed} failed"
        + (f", {report.held} held for channels not set up" if report.held else "")
        + (f", {report.deferred} waiting for a digest" if report.deferred else "")
        + (f", {report.muted} muted" if report.muted else ""),
        err=True,
    )


@cli.command()
@common_options
def check(config_dir: str, db: str | None) -> None:
    """Check the configuration; print every problem as path:line:col: message.

    Exits 1 if any is an error (`run` and `poll` would refuse to start), 0 if there are
    only warnings (printed as path:line:col: warning: message).
    """
    try:
        config = load_config(config_dir, os.environ)
    except ConfigError as e:
        for problem in e.problems:
            click.echo(str(problem))
        sys.exit(1)
    for problem in config.problems:
        click.echo(str(problem))
    if config.errors:
        sys.exit(1)
    warnings = len(config.problems)
    click.echo(
        f"ok: {len(config.feeds)} feeds, {len(config.rules)} rules, "
        f"{len(config.channels)} channels"
        + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""),
        err=True,
    )


@cli.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.argument("sources", nargs=-1, required=True, metavar="PATH_OR_URL...")
def match(config_dir: str, db: str | None, as_json: bool, sources: tuple[str, ...]) -> None:
    """Match feed files or URLs against the rules; store nothing, send nothing.

    Prints one line per (item, rule) match: rule, title, link and matched words,
    tab-separated; with --json, objects with rule, title, link and terms.
    """
    config = load_checked(config_dir)
    matcher = Matcher(config.rules)
    failed = 0
    with make_fetcher(config) as fetcher:
        for source in sources:
            try:
                parsed, _ = read_feed(fetcher, source, source)
            except (FetchError, ParseError) as e:
                click.echo(f"{source}: {e}", err=True)
                failed += 1
                continue
            if parsed is None:  # pragma: no cover - 304 needs validators, and none were sent
                continue
            if parsed.warning:
                click.echo(f"{source}: {parsed.warning}", err=True)
            for story in parsed.stories:
                for m in matcher.match(story):
                    click.echo(match_json(source, story, m) if as_json else match_line(story, m))
    if failed:
        sys.exit(1)


def _explain_sources(fetcher: Fetcher, source: str) -> list[tuple[str, Story]]:
    """The stories to explain: a feed file or URL's items, or the argument as a headline."""
    if "://" in source or Path(source).exists():
        parsed, _ = read_feed(fetcher, source, source)
        return [(source, s) for s in (parsed.stories if parsed else ())]
    return [("text", Story(feed="text", guid="text", link="", title=source))]


@cli.command()
@common_options
@click.option("--rule", "rule_id", required=True, help="The id of the rule to explain.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item.")
@click.argument("source", metavar="PATH_OR_URL_OR_TEXT")
def explain(config_dir: str, db: str | None, rule_id: str, as_json: bool, source: str) -> None:
    """Why a rule did or did not match each item of a feed (file or URL), or a text: each
    term with the words it matched, their field and why, and the parts that failed."""
    config = load_checked(config_dir)
    rules = {r.id: r for r in config.rules}
    if rule_id not in rules:
        raise click.ClickException(
            f"no rule {rule_id!r}; rules are {', '.join(sorted(rules)) or 'none'}"
        )
    with make_fetcher(config) as fetcher:
        try:
            items = _explain_sources(fetcher, source)
        except (FetchError, ParseError) as e:
            raise click.ClickException(f"{source}: {e}") from e
    for origin, story in items:
        why = explain_rule(rules[rule_id], story)
        if as_json:
            row = {
                "rule": rule_id,
                "title": story.title,
                "link": story.link,
                "matched": why.matched,
                "terms": list(why.terms),
                "failed": [" ".join(part.split()) for part in why.failed],
                "hits": [asdict(h) for h in why.hits],
                "source": origin,
            }
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        click.echo(f"{'MATCH' if why.matched else 'no match'}  {story.title}")
        for hit in why.hits:
            click.echo(f"  + {hit.query}  →  {hit.text!r} in {hit.field} ({hit.why})")
        for part in why.failed:
            click.echo(f"  - not satisfied: {' '.join(part.split())}")


@cli.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option(
    "--state",
    type=click.Choice([s.value for s in AlertStatus]),
    help="Only alerts in this state (held: waiting for their channel to be set up; "
    "digest: waiting for the channel's digest; muted: stopped by a mute).",
)
def alerts(config_dir: str, db: str | None, as_json: bool, limit: int, state: str | None) -> None:
    """Recent alerts and their state: pending, held, digest, sent, printed, muted, failed
    or expired, and why."""
    config = load_checked(config_dir)
    store = open_store(config, db)
    try:
        recent = store.recent_alerts(limit, AlertStatus(state) if state else None)
    finally:
        store.close()
    for alert in recent:
        row = alert_row(alert)
        if as_json:
            click.echo(json.dumps(jsonable(row), ensure_ascii=False))
            continue
        noted = ("printed", "held", "digest", "muted")
        reason = alert.note if alert.status in noted else alert.last_error
        why = f"  ({reason})" if reason and alert.status != "sent" else ""
        also = also_reported(alert.also)
        click.echo(
            f"{alert.id:>5} {alert.status:<8} {alert.channel:<12} {when(alert.created_at)}  "
            f"{alert.outlet}: {alert.story.title[:70]}  [{', '.join(row['rules'])}]{why}"
            + (f"  {also}" if also else "")
        )


@cli.command()
@common_options
@click.option("--cluster", "cluster_id", type=int, help="Only the stories of this cluster.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def stories(
    config_dir: str, db: str | None, cluster_id: int | None, limit: int, as_json: bool
) -> None:
    """Stored stories, newest first, with the cluster (event) each belongs to."""
    config = load_checked(config_dir)
    store = open_store(config, db)
    try:
        found = store.stories(limit, cluster_id)
    finally:
        store.close()
    for stored in found:
        row = story_row(stored)
        if as_json:
            click.echo(json.dumps(jsonable(row), ensure_ascii=False))
            continue
        cluster = f"#{stored.cluster_id}" if stored.cluster_id is not None else "-"
        click.echo(
            f"{stored.id:>6} {cluster:>7} {when(stored.first_seen)}  "
            f"{stored.story.feed}: {stored.story.title[:90]}"
        )


@cli.command()
@common_options
@click.option(
    "--since", default="24h", show_default=True, help="Clusters with a story this recent."
)
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def clusters(config_dir: str, db: str | None, since: str, limit: int, as_json: bool) -> None:
    """Events: stories from several outlets grouped as one, with their size and outlets."""
    config = load_checked(config_dir)
    store = open_store(config, db)
    try:
        found = store.clusters(utcnow() - timedelta(seconds=_since(since)), limit)
    finally:
        store.close()
    for cluster in found:
        if as_json:
            click.echo(json.dumps(jsonable(cluster_row(cluster)), ensure_ascii=False))
            continue
        outlets = ", ".join(cluster.outlets[:4]) + (" …" if len(cluster.outlets) > 4 else "")
        click.echo(
            f"#{cluster.id:<6} {plural(cluster.stories, 'story', 'stories'):<11} "
            f"{plural(len(cluster.outlets), 'outlet'):<10} {when(cluster.last_seen)}  "
            f"{cluster.headline[:80]}  ({outlets})"
        )


def _since(value: str) -> float:
    try:
        return parse_duration(value, longest=10 * 365 * 86400)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


@cli.command()
@common_options
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="How far back, by when stories were stored: 12h, 30d, 365d.",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True),
    help="An edited rules file or directory, tried instead of the rules in force and compared.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def backtest(
    config_dir: str, db: str | None, since: str, rules_path: str | None, as_json: bool
) -> None:
    """Run the rules over stories already stored: hits per rule and day, a sample of
    headlines; with --rules, the stories an edit of the rules gains and loses."""
    config = load_checked(config_dir)
    start = utcnow() - timedelta(seconds=_since(since))
    tried, baseline = config.rules, None
    if rules_path is not None:
        tried, problems = load_rules(rules_path)
        for problem in problems:  # failing rule tests too: trying an edit is the point
            click.echo(str(problem), err=True)
        baseline = Matcher(config.rules)
    store = open_store(config, db)
    try:
        # Only on a terminal: a script reading stderr wants the problems, not a label.
        with click.progressbar(
            store.stories_since(start),
            label="backtest",
            file=sys.stderr,
            hidden=not sys.stderr.isatty(),
        ) as stories:
            report = run_backtest(stories, Matcher(tried), baseline)
    finally:
        store.close()
    if as_json:
        print_backtest_json(report, with_changes=baseline is not None)
    else:
        print_backtest(report, since, with_changes=baseline is not None)


@cli.command()
@common_options
@click.option("--gazetteer", help='Look a city up directly: "Misratah, LY" or a geonameid.')
@click.argument("place", required=False)
def places(config_dir: str, db: str | None, gazetteer: str | None, place: str | None) -> None:
    """The names a place set will match: PLACE from the rule files' `places:` (all of them
    when omitted), or a gazetteer city with --gazetteer."""
    if gazetteer is not None:
        reference: str | int = int(gazetteer) if gazetteer.isdigit() else gazetteer
        try:
            found = [resolve_place(gazetteer, gazetteer=reference, aliases=())]
        except PlaceError as e:
            raise click.ClickException(str(e)) from e
    else:
        config = load_checked(config_dir)
        if place is not None and place not in config.places:
            known = ", ".join(sorted(config.places)) or "none"
            raise click.ClickException(f"no place {place!r} in the rule files; places: {known}")
        found = [p for p in config.places.values() if place in (None, p.id)]
    for names in found:
        click.echo(f"@{names.id}: {plural(len(names.names), 'name')}")
        for name in names.names:
            click.echo(f"  {name}")


@cli.command()
@common_options
def schema(config_dir: str, db: str | None) -> None:
    """Print the JSON Schema of a rules file (config/rules.schema.json is this output), for
    an editor's YAML language server to complete and check rules as they are typed."""
    click.echo(rules_schema())


@cli.command("send-test")
@common_options
@click.argument("channel")
def send_test(config_dir: str, db: str | None, channel: str) -> None:
    """Send a sample alert to CHANNEL (or `console`) to check it is set up."""
    config = load_checked(config_dir)
    channels = build_channels(config.channels, os.environ)
    if channel not in channels:
        raise click.ClickException(
            f"no channel {channel!r}; channels are {', '.join(sorted(channels))}"
        )
    sample = Alert(
        id=0,
        channel=channel,
        outlet="monitor",
        story=Story(
            feed="monitor",
            guid="send-test",
            link="https://example.org/monitor-send-test",
            title="Test alert from monitor",
            summary="If you can read this, the channel works. <!channel> stays inert text.",
            published=utcnow(),
        ),
        matches=(Match("send-test", "Channel test", ("monitor",)),),
    )
    notifier = Notifier(channels)
    try:
        notifier.send(channel, render(sample, notifier.kind(channel)))
    except Exception as e:
        raise click.ClickException(f"{channel}: {e}") from e
    fallback = notifier.fallback(channel) if channel != "console" else None
    if fallback:
        raise click.ClickException(f"{channel} is not set up ({fallback}); printed above instead")
    click.echo(f"sent to {channel}", err=True)


@cli.command()
@common_options
@click.argument("alert_ids", nargs=-1, required=True, type=int, metavar="ALERT_ID...")
def resend(config_dir: str, db: str | None, alert_ids: tuple[int, ...]) -> None:
    """Send chosen alerts again, whatever their state, then deliver what is due.

    Takes the writer's lock, as `poll` does: stop the daemon first, or it refuses.
    """
    config = load_checked(config_dir, strict=True)
    with pipeline_for(config, db) as pipeline:
        try:
            pipeline.resend(alert_ids)
        except StoreError as e:
            raise click.ClickException(str(e)) from e
        report = pipeline.deliver()
    click.echo(
        f"resent {plural(len(alert_ids), 'alert')}: {report.sent} sent, "
        f"{report.printed} printed to the console, {report.held} held, {report.failed} failed",
        err=True,
    )


@cli.command()
@common_options
@click.option("--channel", required=True, help="The channel whose digest to send.")
@click.option("--now", "at_once", is_flag=True, required=True, help="Send it now.")
def digest(config_dir: str, db: str | None, channel: str, at_once: bool) -> None:
    """Send CHANNEL's digest now: every alert waiting for it (rate limit, quiet hours,
    digest-only rules), grouped by rule, in one message; with or without a schedule.

    Takes the writer's lock, as `poll` does: stop the daemon first, or it refuses.
    """
    config = load_checked(config_dir, strict=True)
    if channel not in config.channels:
        names = ", ".join(sorted(config.channels)) or "none"
        raise click.ClickException(f"no channel {channel!r}; channels are {names}")
    with pipeline_for(config, db) as pipeline:
        waiting = len(pipeline.store.recent_alerts(None, AlertStatus.DIGEST, channel=channel))
        sent = pipeline.send_digest(channel, scheduled=False)
    if waiting and not sent:
        raise click.ClickException(
            f"the digest of {plural(waiting, 'alert')} for {channel} was not sent (see the log)"
        )
    click.echo(f"digest for {channel}: {plural(sent, 'alert')} sent", err=True)


def _mute_target(rule: str | None, channel: str | None, story: int | None) -> tuple[MuteKind, str]:
    given = [
        (kind, str(value))
        for kind, value in (
            (MuteKind.RULE, rule),
            (MuteKind.CHANNEL, channel),
            (MuteKind.STORY, story),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --rule, --channel or --story")
    return given[0]


@cli.command()
@common_options
@click.option(
    "--rule",
    help="Mute this rule's alerts (an alert of several rules is muted when all of them are).",
)
@click.option("--channel", help="Mute everything to this channel.")
@click.option("--story", type=int, help="Mute the alerts of this story (its id).")
@click.option("--for", "duration", required=True, help="How long: 30m, 2h, 1d.")
@click.option("--reason", default="", help="Why, for the others on the desk.")
def mute(
    config_dir: str,
    db: str | None,
    rule: str | None,
    channel: str | None,
    story: int | None,
    duration: str,
    reason: str,
) -> None:
    """Silence a rule, a channel or a story for a while, without editing YAML. Alerts it
    stops are kept as `muted` and never sent later; it expires by itself. Works while the
    daemon runs."""
    kind, value = _mute_target(rule, channel, story)
    config = load_checked(config_dir)
    if kind is MuteKind.RULE and value not in {r.id for r in config.rules}:
        raise click.ClickException(f"no rule {value!r} in {config_dir}")
    if kind is MuteKind.CHANNEL and value not in {*config.channels, "console"}:
        raise click.ClickException(f"no channel {value!r} in {config_dir}")
    try:
        seconds = parse_duration(duration, longest=90 * 86400)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--for") from e
    now = utcnow()
    # Not the writer's lock: a mute is one row, and the daemon holding the lock must see it.
    store = open_store(config, db, writer=False, shared=True)
    try:
        until = now + timedelta(seconds=seconds)
        mute_id = store.add_mute(Mute(kind, value, until, reason, now))
    finally:
        store.close()
    click.echo(f"mute {mute_id}: {kind} {value} until {until:%Y-%m-%d %H:%M} UTC", err=True)


@cli.command()
@common_options
@click.option("--all", "show_all", is_flag=True, help="Expired mutes too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def mutes(config_dir: str, db: str | None, show_all: bool, as_json: bool) -> None:
    """The mutes in force (with --all, expired ones too)."""
    config = load_checked(config_dir)
    store = open_store(config, db)
    try:
        now = utcnow()
        found = store.mutes(None if show_all else now)
    finally:
        store.close()
    for m in found:
        row = {
            "id": m.id,
            "kind": m.kind,
            "value": m.value,
            "until": m.until,
            "reason": m.reason,
            "created_at": m.created_at,
            "active": m.until > now,
        }
        if as_json:
            click.echo(json.dumps(jsonable(row), ensure_ascii=False))
            continue
        state = "active " if m.until > now else "expired"
        why = f"  ({m.reason})" if m.reason else ""
        click.echo(f"{m.id:>4} {state} {m.kind:<7} {m.value:<24} until {when(m.until)}{why}")


cli.add_command(feeds)


def main() -> None:
    """Entry point of the `monitor` command."""
    cli(prog_name="monitor")


if __name__ == "__main__":  # pragma: no cover
    main()
