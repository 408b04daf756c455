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
    jsonable,
    match_json,
    match_line,
    print_backtest,
    print_backtest_json,
    when,
)
from monitor.cli.wiring import (
    delivering_meanwhile,
    load_checked,
    make_fetcher,
    open_store,
    pipeline_for,
    setup_logging,
    total,
)
from monitor.config import load_config, load_rules, parse_duration, rules_schema
from monitor.delivery.channels import Notifier, build_channels
from monitor.delivery.render import render
from monitor.errors import ConfigError, FetchError, ParseError, StoreError
from monitor.feeds.fetch import Fetcher
from monitor.models import Alert, AlertStatus, Match, PollStatus, Story
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
        Daemon(pipeline, config.feeds, tick=poll.tick, workers=poll.workers).run()


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
        + (f", {report.held} held for channels not set up" if report.held else ""),
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
    help="Only alerts in this state (held: waiting for their channel to be set up).",
)
def alerts(config_dir: str, db: str | None, as_json: bool, limit: int, state: str | None) -> None:
    """Recent alerts and their state: pending, held, sent, printed, failed or expired, and
    why."""
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
        reason = alert.note if alert.status in ("printed", "held") else alert.last_error
        why = f"  ({reason})" if reason and alert.status != "sent" else ""
        click.echo(
            f"{alert.id:>5} {alert.status:<8} {alert.channel:<12} {when(alert.created_at)}  "
            f"{alert.outlet}: {alert.story.title[:70]}  [{', '.join(row['rules'])}]{why}"
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


cli.add_command(feeds)


def main() -> None:
    """Entry point of the `monitor` command."""
    cli(prog_name="monitor")


if __name__ == "__main__":  # pragma: no cover
    main()
