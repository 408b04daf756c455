"""Configuration: the YAML in a config directory → validated, plain settings, with every
problem located as path:line:col.

    <dir>/monitor.yaml     database, poll defaults, delivery, channels
    <dir>/feeds.yaml       the feeds to poll
    <dir>/rules/*.yaml     the watch rules

ruamel.yaml keeps each node's line and column; pydantic checks the shape. A broken
feed or rule costs only itself: it is reported and left out, and everything else loads.
Only an unreadable monitor.yaml stops the daemon from starting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from ruamel.yaml.comments import CommentedMap

from monitor.errors import ConfigError, Problem, QueryError
from monitor.match import Rule
from monitor.models import BacklogPolicy, Feed
from monitor.query import parse_query
from monitor.yaml_source import (
    FileReader,
    position,
    shown_path,
    validate,
    value_position,
)

CONSOLE = "console"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
# Longer than this is a typo, not a schedule; it also keeps every duration far inside what
# timedelta and datetime arithmetic can hold.
MAX_DURATION = 30 * 86400
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def parse_duration(value: object) -> float:
    """Seconds from 90, "90s", "5m", "1h" or "1d": positive, finite, at most 30 days."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as 90s, 5m, 1h")
    if isinstance(value, float) and not math.isfinite(value):
        # YAML reads .inf and .nan as floats. inf overflows timedelta when the next poll is
        # scheduled, and nan compares false with everything, so both slip past the checks below.
        raise ValueError(f"a duration must be a finite number of seconds (got {value})")
    seconds: float
    shown: str
    if isinstance(value, int | float):
        # An int stays an int until it is known to be in range: float() of a huge one raises.
        seconds, shown = value, f"{value} seconds"
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration such as 90s, 5m, 1h")
        # Enough digits make this inf, which the range check below refuses.
        seconds, shown = float(m.group(1)) * _UNITS[m.group(2) or "s"], repr(value)
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    if seconds > MAX_DURATION:
        raise ValueError(f"{shown} is longer than 30 days")
    return float(seconds)


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollSettings(_Strict):
    interval: Duration = 300.0
    tick: Duration = 5.0
    workers: int = Field(default=4, ge=1, le=64)
    connect_timeout: Duration = 10.0
    timeout: Duration = 30.0
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    retry_after_error: Duration = 600.0
    max_age: Duration = 86400.0  # older stories are kept as seen but alert nobody


class DeliverySettings(_Strict):
    max_attempts: int = Field(default=10, ge=1)


class ChannelSettings(_Strict):
    url: str = Field(min_length=1)


class MonitorFile(_Strict):
    # As written; `Config.database_path` is where it points. Empty would name the directory.
    database: str | None = Field(default=None, min_length=1)
    poll: PollSettings = PollSettings()
    delivery: DeliverySettings = DeliverySettings()
    channels: dict[str, ChannelSettings] = {}


class FeedSettings(_Strict):
    name: str = Field(pattern=_NAME)
    url: str = Field(min_length=1)
    title: str | None = None
    interval: Duration | None = None
    tags: list[str] = []
    enabled: bool = True
    backlog: BacklogPolicy = BacklogPolicy.SKIP


class RuleSettings(_Strict):
    id: str = Field(pattern=_NAME)
    query: str = Field(min_length=1)
    channels: list[str] = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    enabled: bool = True


@dataclass
class Config:
    """Everything loaded from a config directory, and everything wrong with it."""

    directory: Path
    settings: MonitorFile
    feeds: list[Feed] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

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


def _load_monitor_file(directory: Path) -> tuple[MonitorFile, Any, list[Problem]]:
    """monitor.yaml (defaults when it does not exist), its YAML tree and its problems."""
    path = directory / "monitor.yaml"
    if not path.exists():
        return MonitorFile(), None, []
    reader = FileReader(path, shown_path(path))
    data = reader.load()
    settings = None
    if not reader.problems:
        settings = validate(reader, MonitorFile, data if data is not None else {})
    if settings is not None and CONSOLE in settings.channels:
        where = position(data["channels"], CONSOLE)
        reader.problem(*where, "'console' is built in; pick another name")
    return settings or MonitorFile(), data, reader.problems


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
        if settings.enabled:
            feeds.append(
                Feed(
                    name=settings.name,
                    url=_resolve_url(settings.url, directory),
                    title=settings.title or settings.name,
                    interval=settings.interval or default_interval,
                    tags=tuple(settings.tags),
                    backlog=settings.backlog,
                )
            )
    return feeds, reader.problems


def _resolve_url(url: str, directory: Path) -> str:
    """Relative paths in feeds.yaml are relative to the config directory."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        return url
    path = Path(url).expanduser()
    return str(path if path.is_absolute() else (directory / path).resolve())


def _load_rules(
    directory: Path, channels: Sequence[str]
) -> tuple[list[Rule], list[Problem], set[str]]:
    rule_dir = directory / "rules"
    files = sorted(rule_dir.glob("*.yaml")) + sorted(rule_dir.glob("*.yml"))
    problems: list[Problem] = []
    rules: list[Rule] = []
    routed: set[str] = set()
    seen: dict[str, str] = {}
    known = {*channels, CONSOLE}
    for path in files:
        reader = FileReader(path, shown_path(path))
        for entry in reader.items(reader.load(), "rules"):
            settings = validate(reader, RuleSettings, entry)
            if settings is None:
                continue
            rule = _compile_rule(reader, entry, settings, known, seen)
            if rule is not None and settings.enabled:
                rules.append(rule)
                routed.update(rule.channels)
        problems.extend(reader.problems)
    if not files:
        problems.append(Problem(shown_path(rule_dir), 1, 1, "no rule files (rules/*.yaml)"))
    return rules, problems, routed


def _compile_rule(
    reader: FileReader,
    entry: CommentedMap,
    settings: RuleSettings,
    known: set[str],
    seen: dict[str, str],
) -> Rule | None:
    """The rule ready to match, or None after reporting why it cannot be (duplicate id,
    unknown channel, a query that does not parse)."""
    ok = True
    if settings.id in seen:
        reader.problem(
            *position(entry, "id", of_value=True),
            f"duplicate rule id {settings.id!r} (first defined in {seen[settings.id]})",
        )
        ok = False
    else:
        line, _ = position(entry, "id", of_value=True)
        seen[settings.id] = f"{reader.shown}:{line}"
    for i, channel in enumerate(settings.channels):
        if channel not in known:
            reader.problem(
                *position(entry["channels"], i),
                f"unknown channel {channel!r}; channels are {', '.join(sorted(known))}",
            )
            ok = False
    try:
        query = parse_query(settings.query)
    except QueryError as e:
        reader.problem(*value_position(reader, entry, "query", e.column), f"query: {e.message}")
        return None
    if not ok:
        return None
    return Rule(
        id=settings.id,
        name=settings.name or settings.id,
        query=query,
        channels=tuple(dict.fromkeys(settings.channels)),
    )


def load_config(directory: Path | str) -> Config:
    """Load a config directory. Raises ConfigError only when monitor.yaml is unusable;
    every other problem is recorded in `Config.problems` and its feed or rule left out."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), 1, 1, "config directory not found")])
    settings, data, monitor_problems = _load_monitor_file(directory)
    # Even when monitor.yaml is unusable, read the rest so that one `monitor check` shows
    # every problem; the channel names are taken from the raw YAML where it has them.
    raw_channels = data.get("channels") if isinstance(data, dict) else None
    channels = list(raw_channels) if isinstance(raw_channels, dict) else list(settings.channels)
    feeds, feed_problems = _load_feeds(directory, settings.poll.interval)
    rules, rule_problems, routed = _load_rules(directory, channels)
    if monitor_problems:
        raise ConfigError(monitor_problems + feed_problems + rule_problems)
    problems = feed_problems + rule_problems
    for name in settings.channels:
        if name not in routed:
            problems.append(
                Problem(
                    shown_path(directory / "monitor.yaml"),
                    *position(data["channels"], name),
                    f"channel {name!r} is not used by any rule, so nothing can reach it",
                )
            )
    return Config(directory, settings, feeds, rules, problems)
