"""Configuration: the YAML in a config directory → validated, plain settings, with every
problem located as path:line:col.

    <dir>/monitor.yaml     database, poll defaults, delivery, channels
    <dir>/feeds.yaml       the feeds to poll
    <dir>/rules/*.yaml     the watch rules

ruamel.yaml keeps each node's line and column; pydantic checks the shape. A broken
feed or rule is reported as an error and left out, and everything else loads; an unusable
monitor.yaml raises ConfigError. `monitor run` and `poll` refuse to start on any error,
because a left-out rule would mark its stories as seen without alerting. Warnings (a
channel nothing reaches, a channel's unset secret) never stop anything.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from ruamel.yaml.comments import CommentedMap

from monitor.errors import ConfigError, Problem, QueryError, Severity
from monitor.fetch import Source, local_path, source_kind
from monitor.models import BacklogPolicy, Feed, RuleSeverity, Story
from monitor.rules import Matcher, Rule, explain, parse_query
from monitor.rules.places import PlaceError, PlaceNames, resolve_place
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
# `localhost:8080/feed.xml`: urlsplit reads "localhost" as the scheme.
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d+(?:[/?#]|$)")
# `www.bbc.co.uk/feed.xml`: read as a relative path unless it is written with its scheme.
# A host, then a path; or www. (plain `feed.xml` is a file name, not a host).
_HOST_NAME = re.compile(r"^(?:www\.|(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}/)")


def parse_duration(value: object, *, longest: float = MAX_DURATION) -> float:
    """Seconds from "90s", "5m", "1h" or "1d": positive, finite, at most `longest` (30 days
    for the configuration's durations).

    A number without a unit is refused: `interval: 5` was five seconds, where the writer
    most likely meant five minutes.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is text such as 90s, 5m, 1h")
    if isinstance(value, float) and not math.isfinite(value):
        # YAML reads .inf and .nan as floats; "no unit" would be a puzzling answer to them.
        raise ValueError(f"a duration must be finite (got {value})")
    if isinstance(value, int | float):
        raise ValueError(_no_unit(str(value)))
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration such as 90s, 5m, 1h")
    if not m.group(2):
        raise ValueError(_no_unit(m.group(1), quoted=True))
    # Enough digits make this inf, which the range check below refuses.
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    if seconds > longest:
        raise ValueError(f"{value!r} is longer than {longest / 86400:g} days")
    return seconds


def _no_unit(number: str, *, quoted: bool = False) -> str:
    shown = repr(number) if quoted else number
    return f"{shown} has no unit; write e.g. {number}s or {number}m"


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
    # A story published longer ago than this is stored as seen but not alerted (a new
    # feed's backlog); feeds.yaml's `backlog: alert` turns that off for one feed.
    max_age: Duration = 86400.0


class DeliverySettings(_Strict):
    max_attempts: int = Field(default=10, ge=1)
    # An alert not delivered this long after it was queued is given up: a failing one is
    # marked failed, a held one (its channel was not set up) expired. Old news is noise.
    max_age: Duration = 86400.0


def _time_zone(value: Any) -> Any:
    """An IANA time zone name ("Europe/London"), checked against the zone database."""
    if value is None:
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("a time zone is an IANA name such as Europe/London")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name such as Europe/London)"
        ) from None
    return value


class ChannelSettings(_Strict):
    url: str = Field(min_length=1)
    # Where the channel's readers are: emails show the published time there as well as UTC.
    timezone: Annotated[str | None, BeforeValidator(_time_zone)] = None


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


class PlaceSettings(_Strict):
    """A place set in a rule file: a GeoNames city and/or the names written out."""

    gazetteer: str | int | None = Field(
        default=None, description='a GeoNames city: "Misratah, LY" or a geonameid'
    )
    aliases: list[str] = Field(default=[], description="more names, as the news spells them")

    @model_validator(mode="after")
    def _has_names(self) -> PlaceSettings:
        if self.gazetteer is None and not self.aliases:
            raise ValueError("a place needs a gazetteer city or aliases")
        return self


class ExampleStory(_Strict):
    """A rule test's story given field by field."""

    title: str = ""
    summary: str = ""
    content: str = ""


# A plain string is a headline.
RuleExample = str | ExampleStory


class RuleTests(_Strict):
    match: list[RuleExample] = Field(default=[], description="texts the rule must match")
    reject: list[RuleExample] = Field(default=[], description="texts the rule must not match")


class RuleSettings(_Strict):
    id: str = Field(pattern=_NAME)
    query: str = Field(min_length=1)
    channels: list[str] = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    enabled: bool = True
    severity: RuleSeverity = RuleSeverity.NORMAL
    tests: RuleTests = RuleTests()


class RulesFile(_Strict):
    """One file of rules/: what `monitor schema` describes to editors."""

    places: dict[str, PlaceSettings] = {}
    rules: list[RuleSettings] = []


@dataclass
class Config:
    """Everything loaded from a config directory, and everything wrong with it."""

    directory: Path
    settings: MonitorFile
    feeds: list[Feed] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    places: dict[str, PlaceNames] = field(default_factory=dict)

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


@dataclass
class RuleSet:
    """What a set of rule files holds: the enabled rules, the place sets they may use, the
    channels the rules route to, and every problem found."""

    rules: list[Rule] = field(default_factory=list)
    places: dict[str, PlaceNames] = field(default_factory=dict)
    routed: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def _load_rules(directory: Path, channels: Sequence[str] | None) -> RuleSet:
    """The config directory's rules/. With `channels` None (monitor.yaml unreadable)
    channel names are not checked."""
    rule_dir = directory / "rules"
    files = rule_files(rule_dir)
    loaded = _load_rule_files(files, channels)
    if not files:
        loaded.problems.append(Problem(shown_path(rule_dir), 1, 1, "no rule files (rules/*.yaml)"))
    return loaded


def rule_files(path: Path) -> list[Path]:
    """A rules directory's *.yaml and *.yml files, in name order; a file is itself."""
    if not path.is_dir():
        return [path]
    return sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))


def load_rules(
    path: Path | str, channels: Sequence[str] | None = None
) -> tuple[list[Rule], list[Problem]]:
    """The enabled rules of one rule file or a directory of them (an edited rule set for
    `monitor backtest`), and their problems; channel names are checked only if given."""
    files = rule_files(Path(path))
    if not files or not files[0].exists():
        return [], [Problem(shown_path(Path(path)), 1, 1, "no rule files here")]
    loaded = _load_rule_files(files, channels)
    return loaded.rules, loaded.problems


def _load_rule_files(files: Sequence[Path], channels: Sequence[str] | None) -> RuleSet:
    found = RuleSet()
    seen: dict[str, str] = {}
    where: dict[str, tuple[str, int, int]] = {}  # rule id → its query's position
    known = None if channels is None else {*channels, CONSOLE}
    loaded = [(reader, reader.load()) for reader in (FileReader(p, shown_path(p)) for p in files)]
    # Places first, from every file: a rule may use a place set defined in another file.
    for reader, root in loaded:
        _read_places(reader, root, found.places)
    for reader, root in loaded:
        for entry in reader.items(root, "rules", beside=("places",)):
            settings = validate(reader, RuleSettings, entry)
            if settings is None:
                continue
            rule = _compile_rule(reader, entry, settings, known, seen, found.places)
            if rule is not None:
                _run_rule_tests(reader, entry, settings.tests, rule)
            if rule is not None and settings.enabled:
                found.rules.append(rule)
                found.routed.update(rule.channels)
                where[rule.id] = (reader.shown, *position(entry, "query", of_value=True))
        found.problems.extend(reader.problems)
    for rule_id in Matcher(found.rules).unindexed:
        found.problems.append(
            Problem(
                *where[rule_id],
                "query: no term every match must contain (e.g. `a OR NOT b`), so this rule "
                "is checked against every story; it works, but thousands like it would be slow",
                Severity.WARNING,
            )
        )
    return found


def _read_places(reader: FileReader, root: Any, places: dict[str, PlaceNames]) -> None:
    """Validate and resolve a rule file's `places:` into `places`: each place set's names
    (aliases, and the gazetteer city's). A place id defined twice, a city the gazetteer
    does not know or cannot tell apart, is an error at its line."""
    section = root.get("places") if isinstance(root, dict) else None
    if section is None:
        return
    if not isinstance(section, dict):
        reader.problem(*position(root, "places", of_value=True), "'places' must be a mapping")
        return
    for place_id, spec in section.items():
        where = position(section, place_id)
        if not re.match(_NAME, str(place_id)):
            reader.problem(*where, f"place id {place_id!r}: use letters, digits, '.', '_', '-'")
            continue
        settings = validate(reader, PlaceSettings, spec)
        if settings is None:
            continue
        if place_id in places:
            reader.problem(*where, f"duplicate place {place_id!r}")
            continue
        try:
            places[place_id] = resolve_place(
                str(place_id), gazetteer=settings.gazetteer, aliases=settings.aliases
            )
        except PlaceError as e:
            at = "gazetteer" if "gazetteer" in spec else "aliases"
            reader.problem(*position(spec, at, of_value=True), str(e))


def _compile_rule(
    reader: FileReader,
    entry: CommentedMap,
    settings: RuleSettings,
    known: set[str] | None,
    seen: dict[str, str],
    places: Mapping[str, PlaceNames],
) -> Rule | None:
    """The rule ready to match, or None after reporting why it cannot be (duplicate id,
    unknown channel, a query that does not parse or names an unknown place). The query's
    warnings (a lower-case "or", `What~`) are reported and the rule kept."""
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
        if known is not None and channel not in known:
            reader.problem(
                *position(entry["channels"], i),
                f"unknown channel {channel!r}; channels are {', '.join(sorted(known))}",
            )
            ok = False
    try:
        parsed = parse_query(settings.query, places=places)
    except QueryError as e:
        reader.problem(*value_position(reader, entry, "query", e.column), f"query: {e.message}")
        return None
    for warning in parsed.warnings:
        reader.problem(
            *value_position(reader, entry, "query", warning.column),
            f"query: {warning.message}",
            Severity.WARNING,
        )
    query = parsed.node
    if not ok:
        return None
    return Rule(
        id=settings.id,
        name=settings.name or settings.id,
        query=query,
        channels=tuple(dict.fromkeys(settings.channels)),
        severity=settings.severity.value,
    )


def rules_schema() -> str:
    """The JSON Schema of one rules file, as `monitor schema` prints it."""
    schema = RulesFile.model_json_schema()
    schema["title"] = "monitor rules file"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _example_story(example: RuleExample, index: int) -> Story:
    fields = ExampleStory(title=example) if isinstance(example, str) else example
    return Story(
        feed="rule-test",
        guid=str(index),
        link="",
        title=fields.title,
        summary=fields.summary,
        content=fields.content,
    )


def _run_rule_tests(reader: FileReader, entry: CommentedMap, tests: RuleTests, rule: Rule) -> None:
    """A rule's own tests: each `match` text must fire it and each `reject` text must not;
    a failure is an error at that text's line, so the rule is never run as it stands."""
    matcher = Matcher([rule])
    for expected, examples in ((True, tests.match), (False, tests.reject)):
        for i, example in enumerate(examples):
            story = _example_story(example, i)
            fired = matcher.match(story)
            if bool(fired) is expected:
                continue
            where = position(entry["tests"]["match" if expected else "reject"], i)
            if expected:
                failed = "; ".join(" ".join(p.split()) for p in explain(rule, story).failed)
                reader.problem(
                    *where,
                    f"rule test: {rule.id} does not match this text (not satisfied: {failed})",
                )
            else:
                terms = ", ".join(fired[0].terms)
                reader.problem(*where, f"rule test: {rule.id} matches this text ({terms})")


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
        feed_problems + rule_problems + channel_problems,
        rule_set.places,
    )


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
    from monitor.notify import expand_env, url_understood

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
