"""`monitor feeds`: each feed's health, and the commands that edit feeds.yaml (add a feed,
import and export OPML). Edits keep feeds.yaml's comments (ruamel round-trip), run the
check first, and are undone if the edited configuration would not pass it."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import listparser
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.cli.output import jsonable, never_polled, when
from monitor.cli.wiring import load_checked, make_fetcher, open_store
from monitor.config import Config, load_config
from monitor.errors import ConfigError, FetchError, ParseError
from monitor.feeds.fetch import Source, source_kind
from monitor.feeds.parse import advertised_feeds, parse_feed
from monitor.models import ParsedFeed

_CONFIG_HELP = "Config directory [env MONITOR_CONFIG]"
_DB_HELP = "SQLite file [env MONITOR_DB; default: monitor.yaml's database, else ./monitor.db]"


F = TypeVar("F", bound=Callable[..., Any])


def _config_option(default: str | None) -> Callable[[F], F]:
    return click.option(
        "--config",
        "config_dir",
        envvar="MONITOR_CONFIG",
        default=default,
        show_default=default is not None,
        type=click.Path(file_okay=False),
        help=_CONFIG_HELP,
    )


@click.group(invoke_without_command=True)
@_config_option("config")
@click.option("--db", "db", envvar="MONITOR_DB", type=click.Path(dir_okay=False), help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def feeds(ctx: click.Context, config_dir: str, db: str | None, as_json: bool) -> None:
    """Each feed's health: status (ok, failing, unhealthy, gone), last success, last error,
    failures in a row, next poll, items per day, and where a permanent redirect moved it.

    `monitor feeds add URL`, `monitor feeds import FILE.opml` and `monitor feeds export`
    edit and write feeds.yaml.
    """
    ctx.ensure_object(dict)["config_dir"] = config_dir
    if ctx.invoked_subcommand is not None:
        return
    config = load_checked(config_dir)
    store = open_store(config, db)
    try:
        # Read-only: syncing here would unschedule the daemon's feeds on a config typo.
        stored = {s.name: s for s in store.feed_statuses()}
    finally:
        store.close()
    for feed in config.feeds:
        s = stored.get(feed.name) or never_polled(feed)
        status = s.health.value if s.health else "never polled"
        if as_json:
            row = asdict(s)
            row["status"] = s.health.value if s.health else None
            click.echo(json.dumps(jsonable(row), ensure_ascii=False))
            continue
        moved = f"  moved to {s.moved_to}" if s.moved_to else ""
        error = f"  error: {s.last_error}" if s.last_error and s.failures else ""
        warning = f"  warning: {s.last_error}" if s.last_error and not s.failures else ""
        delay = f"  alerts {s.alert_delay / 60:.0f} min after publication" if s.alert_delay else ""
        click.echo(
            f"{s.name:<20} {status:<12} ok {when(s.last_success_at)}  "
            f"next {when(s.next_poll_at)}  {s.failures} failures  "
            f"{s.items_per_day:g}/day{delay}  {s.url}{moved}{error}{warning}"
        )


def _config_dir(ctx: click.Context, own: str | None) -> str:
    return own or str(ctx.ensure_object(dict).get("config_dir") or "config")


# --- editing feeds.yaml --------------------------------------------------------------------


def _checked(config_dir: str) -> Config:
    """The configuration, refused (exit 1, every problem printed) if `check` finds an error."""
    try:
        config = load_config(config_dir)
    except ConfigError as e:
        for problem in e.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException("fix the configuration first (`monitor check`)") from e
    if config.errors:
        for problem in config.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException("fix the configuration first (`monitor check`)")
    return config


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quoting kept
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _edit_feeds(config_dir: str, entries: list[dict[str, str]]) -> None:
    """Append `entries` to feeds.yaml, keeping the rest of the file as it is; undone when the
    result does not pass the check."""
    path = Path(config_dir) / "feeds.yaml"
    original = path.read_text(encoding="utf-8") if path.exists() else "feeds: []\n"
    yaml = _yaml()
    data = yaml.load(original) or CommentedMap()
    seq = data.get("feeds")
    if not isinstance(seq, CommentedSeq):
        seq = CommentedSeq(list(seq or []))
        data["feeds"] = seq
    for entry in entries:
        item = CommentedMap()
        for key in ("name", "title", "url"):
            if entry.get(key):
                item[key] = entry[key]
        seq.append(item)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    try:
        config = load_config(config_dir)
        problems = [p for p in config.problems if p.is_error]
    except ConfigError as e:
        problems = list(e.problems)
    if problems:
        path.write_text(original, encoding="utf-8")
        for problem in problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            "the edit would break the configuration; feeds.yaml is unchanged"
        )


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return slug or "feed"


def _unique_name(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _default_name(title: str, url: str) -> str:
    return _slug(title) if title.strip() else _slug(urlsplit(url).hostname or url)


# --- feeds add -----------------------------------------------------------------------------


def _discover(config: Config, url: str) -> tuple[str, ParsedFeed]:
    """The feed at `url`, or the first one the web page at `url` advertises."""
    with make_fetcher(config) as fetcher:
        fetched = fetcher.fetch(url)
        assert fetched.content is not None
        try:
            return url, parse_feed(fetched.content, feed="new", base_url=fetched.url)
        except ParseError:
            found = advertised_feeds(fetched.content, fetched.url)
            if not found:
                raise
        feed_url = found[0]
        fetched = fetcher.fetch(feed_url)
        assert fetched.content is not None
        return feed_url, parse_feed(fetched.content, feed="new", base_url=fetched.url)


@feeds.command("add")
@_config_option(None)
@click.option("--name", help="The feed's name in feeds.yaml [default: from its title].")
@click.option("--title", help="The feed's title [default: the feed's own].")
@click.argument("url")
@click.pass_context
def add(
    ctx: click.Context, config_dir: str | None, name: str | None, title: str | None, url: str
) -> None:
    """Add the feed at URL to feeds.yaml; a web page's advertised feed if URL is a page."""
    directory = _config_dir(ctx, config_dir)
    config = _checked(directory)
    if source_kind(url) is not Source.HTTP:
        raise click.ClickException(f"{url} is not an http(s) URL")
    try:
        feed_url, parsed = _discover(config, url)
    except (FetchError, ParseError) as e:
        raise click.ClickException(f"{url}: {e}") from e
    if any(f.url == feed_url for f in config.feeds):
        raise click.ClickException(f"{feed_url} is in feeds.yaml already")
    title = title or parsed.title or (urlsplit(feed_url).hostname or feed_url)
    taken = {f.name for f in config.feeds}
    if name and name in taken:
        raise click.ClickException(f"a feed named {name!r} exists already")
    name = name or _unique_name(_default_name(title, feed_url), taken)
    _edit_feeds(directory, [{"name": name, "title": title, "url": feed_url}])
    via = f" (advertised by {url})" if feed_url != url else ""
    click.echo(f"added {name}: {title} <{feed_url}>{via}, {len(parsed.stories)} stories now")


# --- OPML ----------------------------------------------------------------------------------


@feeds.command("import")
@_config_option(None)
@click.argument("opml", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def import_opml(ctx: click.Context, config_dir: str | None, opml: str) -> None:
    """Add every feed of an OPML file to feeds.yaml (those listed already are skipped)."""
    directory = _config_dir(ctx, config_dir)
    config = _checked(directory)
    result = listparser.parse(Path(opml).read_bytes())
    if result.bozo and not result.feeds:
        raise click.ClickException(
            f"{opml}: not an OPML subscription list ({result.bozo_exception})"
        )
    known = {f.url for f in config.feeds}
    taken = {f.name for f in config.feeds}
    entries: list[dict[str, str]] = []
    skipped = 0
    for item in result.feeds:
        url = str(item.get("url") or "").strip()
        if source_kind(url) is not Source.HTTP or url in known:
            skipped += 1
            continue
        known.add(url)
        title = str(item.get("title") or "").strip() or (urlsplit(url).hostname or url)
        entries.append(
            {"name": _unique_name(_default_name(title, url), taken), "title": title, "url": url}
        )
    if entries:
        _edit_feeds(directory, entries)
    click.echo(f"imported {len(entries)} feeds from {opml}; skipped {skipped} (known or not http)")


def opml_document(config: Config) -> bytes:
    """The configured http(s) feeds as an OPML 2.0 subscription list."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "monitor feeds"
    body = ET.SubElement(root, "body")
    for feed in config.feeds:
        if source_kind(feed.url) is not Source.HTTP:
            continue
        ET.SubElement(
            body, "outline", type="rss", text=feed.title, title=feed.title, xmlUrl=feed.url
        )
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


@feeds.command("export")
@_config_option(None)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file [default: stdout].",
)
@click.pass_context
def export_opml(ctx: click.Context, config_dir: str | None, output: str | None) -> None:
    """Write the configured feeds as OPML (stdout by default); local files are left out."""
    config = _checked(_config_dir(ctx, config_dir))
    document = opml_document(config)
    if output:
        Path(output).write_bytes(document)
    else:
        click.echo(document.decode("utf-8"), nl=False)
