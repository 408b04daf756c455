"""Loading a config directory: monitor.yaml, feeds.yaml and rules/ → one `Config` with every
problem located as path:line:col (an unusable monitor.yaml raises ConfigError)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap

from monitor.config.rules import _load_rules
from monitor.config.schema import (
    _HOST_NAME,
    _HOST_PORT,
    CONSOLE,
    ChannelSettings,
    FeedSettings,
    MonitorFile,
)
from monitor.config.yaml_source import (
    FileReader,
    position,
    shown_path,
    validate,
)
from monitor.errors import ConfigError, Problem, Severity
from monitor.feeds.fetch import Source, local_path, source_kind
from monitor.models import Feed
from monitor.rules import Rule
from monitor.rules.places import PlaceNames


@dataclass
class Config:
    """Everything loaded from a config directory, and everything wrong with it."""

    directory: Path
    settings: MonitorFile
    feeds: list[Feed] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    places: dict[str, PlaceNames] = field(default_factory=dict)
    rule_tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    digest_only: frozenset[str] = frozenset()
    escalate_at: dict[str, int] = field(default_factory=dict)  # rule id → outlets

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop `run` and `poll` from starting."""
        return [p for p in self.problems if p.is_error]

    @property
    def channels(self) -> dict[str, ChannelSettings]:
        return self.settings.channels

    @property
    def database_path(self) -> Path | None:
        """monitor.yaml's `database`, a relative path taken from the config directory, or
        None when unset (the CLI then picks ./monitor.db).

        Not from the working directory: under systemd that is `/`, so the same monitor.yaml
        would put the database somewhere else depending on how the daemon was started.
        """
        database = self.settings.database
        if database is None:
            return None
        if database == ":memory:":  # SQLite's name for a database that is never written out
            return Path(database)
        path = Path(database).expanduser()
        return path if path.is_absolute() else (self.directory / path).resolve()


def _load_monitor_file(
    directory: Path,
) -> tuple[MonitorFile, Any, list[Problem], list[str] | None]:
    """monitor.yaml (defaults when it does not exist), its YAML tree, its problems, and
    its channel names, or None when they cannot be known (the file is not readable YAML,
    or `channels` is not a mapping)."""
    path = directory / "monitor.yaml"
    if not path.exists():
        return MonitorFile(), None, [], []
    reader = FileReader(path, shown_path(path))
    data = reader.load()
    settings = None
    if not reader.problems:
        settings = validate(reader, MonitorFile, data if data is not None else {})
    if settings is not None and CONSOLE in settings.channels:
        where = position(data["channels"], CONSOLE)
        reader.problem(*where, "'console' is built in; pick another name")
    # Even when monitor.yaml is unusable, the rules are checked against the channel names
    # of the raw YAML where it has them. Where it has none (a tab, a typo in the YAML),
    # every rule's channel would be reported unknown, hiding the one real error.
    channels: list[str] | None = None
    if data is None and not reader.problems:  # an empty file: the defaults
        channels = []
    elif isinstance(data, dict):
        raw = data.get("channels", {})
        channels = list(raw) if isinstance(raw, dict) else None
    return settings or MonitorFile(), data, reader.problems, channels


def _load_feeds(directory: Path, default_interval: float) -> tuple[list[Feed], list[Problem]]:
    path = directory / "feeds.yaml"
    reader = FileReader(path, shown_path(path))
    feeds: list[Feed] = []
    seen: set[str] = set()
    for entry in reader.items(reader.load(), "feeds"):
        settings = validate(reader, FeedSettings, entry)
        if settings is None:
            continue
        if settings.name in seen:
            reader.problem(
                *position(entry, "name", of_value=True), f"duplicate feed name {settings.name!r}"
            )
            continue
        seen.add(settings.name)
        url = _feed_url(reader, entry, settings, directory)
        if url is not None and settings.enabled:
            feeds.append(
                Feed(
                    name=settings.name,
                    url=url,
                    title=settings.title or settings.name,
                    interval=settings.interval or default_interval,
                    tags=tuple(settings.tags),
                    backlog=settings.backlog,
                )
            )
    return feeds, reader.problems


def _feed_url(
    reader: FileReader, entry: CommentedMap, settings: FeedSettings, directory: Path
) -> str | None:
    """The feed's URL as fetch will be given it, or None after reporting why fetch could
    not read it. A missing file is only a problem for an enabled feed."""
    url = settings.url
    where = position(entry, "url", of_value=True)
    kind = source_kind(url)
    if kind is None:
        if _HOST_PORT.match(url):
            reader.problem(*where, f"url: {url!r} has no scheme; write http://{url}")
        else:
            scheme = urlsplit(url).scheme
            reader.problem(
                *where,
                f"url: monitor cannot fetch {scheme}: URLs; "
                "use http://, https://, file:// or a file path",
            )
        return None
    if kind is Source.HTTP:
        if not urlsplit(url).hostname:
            reader.problem(*where, f"url: {url!r} has no host name")
            return None
        return url
    resolved = _resolve_url(url, directory)
    path = local_path(resolved)
    if not settings.enabled or path.is_file():
        return resolved
    if _HOST_NAME.match(url):
        # Both readings are named: it may be a file that is missing, or a web address.
        message = (
            f"url: {url!r} is read as a file path, and there is no such file; "
            f"for a web address write https://{url}"
        )
    elif path.is_dir():
        message = f"url: {path} is a directory, not a feed file"
    else:
        message = f"url: no such file {path}"
    reader.problem(*where, message)
    return None


def _resolve_url(url: str, directory: Path) -> str:
    """Relative paths in feeds.yaml are relative to the config directory."""
    if urlsplit(url).scheme.lower() == "file":
        return url
    path = Path(url).expanduser()
    return str(path if path.is_absolute() else (directory / path).resolve())


def load_config(directory: Path | str, env: Mapping[str, str] | None = None) -> Config:
    """Load a config directory. Raises ConfigError only when monitor.yaml is unusable;
    every other problem is recorded in `Config.problems` and its feed or rule left out.

    With `env`, a channel URL's `${VAR}` unset in it is a warning (the CLI passes
    os.environ; without it, loading does not depend on the environment).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), 1, 1, "config directory not found")])
    settings, data, monitor_problems, channels = _load_monitor_file(directory)
    # Even when monitor.yaml is unusable, read the rest so that one `monitor check` shows
    # every problem.
    feeds, feed_problems = _load_feeds(directory, settings.poll.interval)
    rule_set = _load_rules(directory, channels)
    rules, rule_problems, routed = rule_set.rules, rule_set.problems, rule_set.routed
    if monitor_problems:
        raise ConfigError(monitor_problems + feed_problems + rule_problems)
    route_problems = _route_problems(directory, settings, data)
    routed |= {c for r in settings.routes for c in r.channels}
    if settings.poll.health_channel is not None:
        routed.add(settings.poll.health_channel)
    # A rule that failed to load may well use a channel: "unused" would be a false lead.
    rules_complete = not any(p.is_error for p in rule_problems)
    channel_problems = _channel_warnings(
        directory, settings, data, routed if rules_complete else None, env
    )
    return Config(
        directory,
        settings,
        feeds,
        rules,
        feed_problems + rule_problems + route_problems + channel_problems,
        rule_set.places,
        rule_set.tags,
        frozenset(rule_set.digest_only),
        rule_set.escalate_at,
    )


def _route_problems(directory: Path, settings: MonitorFile, data: Any) -> list[Problem]:
    """monitor.yaml's routes that name a channel it does not define."""
    known = {*settings.channels, CONSOLE}
    problems = []
    path = shown_path(directory / "monitor.yaml")
    for i, route in enumerate(settings.routes):
        for j, channel in enumerate(route.channels):
            if channel not in known:
                problems.append(
                    Problem(
                        path,
                        *position(data["routes"][i]["channels"], j),
                        f"route: unknown channel {channel!r}; channels are "
                        f"{', '.join(sorted(known))}",
                    )
                )
    health = settings.poll.health_channel
    if health is not None and health not in known:
        problems.append(
            Problem(
                path,
                *position(data["poll"], "health_channel", of_value=True),
                f"poll.health_channel: unknown channel {health!r}; channels are "
                f"{', '.join(sorted(known))}",
            )
        )
    return problems


def _channel_warnings(
    directory: Path,
    settings: MonitorFile,
    data: Any,
    routed: set[str] | None,
    env: Mapping[str, str] | None,
) -> list[Problem]:
    """Warnings about channels: one no rule routes to (unless `routed` is None, i.e. not
    known), and one whose `${VAR}` is unset in `env` (its alerts are held, not lost). An
    error for a URL that apprise cannot read once its variables are filled in."""
    # notify imports this module (ChannelSettings), so its helpers are imported when used.
    from monitor.delivery.channels import expand_env, url_understood

    shown = shown_path(directory / "monitor.yaml")
    problems: list[Problem] = []
    for name, channel in settings.channels.items():
        if routed is not None and name not in routed:
            problems.append(
                Problem(
                    shown,
                    *position(data["channels"], name),
                    f"channel {name!r} is not used by any rule, so nothing can reach it",
                    Severity.WARNING,
                )
            )
        missing = expand_env(channel.url, env)[1] if env is not None else []
        if missing:
            problems.append(
                Problem(
                    shown,
                    *position(data["channels"][name], "url", of_value=True),
                    f"channel {name!r}: {', '.join(missing)} not set in the environment, "
                    "so this channel cannot send (its alerts are held)",
                    Severity.WARNING,
                )
            )
        elif env is not None and not url_understood(expand_env(channel.url, env)[0]):
            problems.append(
                Problem(
                    shown,
                    *position(data["channels"][name], "url", of_value=True),
                    f"channel {name!r}: apprise does not understand this URL, "
                    "so this channel cannot send",
                    Severity.ERROR,
                )
            )
    return problems
