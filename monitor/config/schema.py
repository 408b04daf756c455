"""The configuration's schema: what monitor.yaml, feeds.yaml and a rules file may say
(pydantic models), durations, and the JSON Schema editors check rule files with."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from monitor.delivery.policy import (
    DEFAULT_DIGEST,
    parse_budget,
    parse_digest,
    parse_quiet_hours,
)
from monitor.models import BacklogPolicy, RuleSeverity

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
    workers: int = Field(default=16, ge=1, le=256)  # requests at once, in all
    per_host: int = Field(default=2, ge=1, le=64)  # requests at once to one host
    connect_timeout: Duration = 10.0
    timeout: Duration = 30.0
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    retry_after_error: Duration = 600.0  # the first back-off; it doubles to max_backoff
    max_backoff: Duration = 6 * 3600.0
    max_interval: Duration = 86400.0  # the most a feed's <ttl>, max-age or Expires may ask
    unhealthy_after: int = Field(default=5, ge=1)  # consecutive failures
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)  # a fraction of each wait, added
    # Link-local (169.254.0.0/16, fe80::/10) is always refused; this refuses private and
    # loopback addresses too.
    deny_private: bool = False
    parse_workers: int = Field(default=0, ge=0, le=64)  # processes; 0: one per core
    parse_timeout: Duration = 20.0  # one document's parse, at most
    parse_memory_mb: int = Field(default=1024, ge=128)  # each parser process's address space
    # The operators' channel: told once when a feed turns unhealthy or gone, once when it
    # recovers. None: the log only.
    health_channel: str | None = None
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


def _checked(parse: Any) -> Any:
    """A validator that keeps the text as written once `parse` accepts it."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        parse(value)
        return value

    return BeforeValidator(check)


class ChannelSettings(_Strict):
    url: str = Field(min_length=1)
    # Where the channel's readers are: emails show the published time there as well as UTC;
    # quiet hours and the digest's schedule are read there.
    timezone: Annotated[str | None, BeforeValidator(_time_zone)] = None
    # At most this many alerts per duration; past it, alerts wait for the digest. null: none.
    rate_limit: Annotated[str | None, _checked(parse_budget)] = "10/1h"
    # When the digest of deferred alerts goes out: cron, in `timezone`. null: only on demand.
    digest: Annotated[str | None, _checked(parse_digest)] = DEFAULT_DIGEST
    # Only urgent alerts go out at once in these hours; the rest wait for the digest after.
    quiet_hours: Annotated[str | None, _checked(parse_quiet_hours)] = None
    muted: bool = False  # its alerts are recorded as muted, never sent
    pace: Duration | None = None  # least time between two messages (Slack: 1s by default)
    timeout: Duration | None = None  # how long to wait for the service's answer
    # Hold each alert this long before sending it, so the outlets that report the same
    # event meanwhile are listed on it ("also reported by"); 0: off.
    group_wait: Duration | None = None


class RouteSettings(_Strict):
    """Routing beyond a rule's own channels: matches of at least `severity`, and/or of a
    rule with one of `tags`, also go to `channels`."""

    channels: list[str] = Field(min_length=1)
    severity: RuleSeverity | None = None
    tags: list[str] = []

    @model_validator(mode="after")
    def _selects(self) -> RouteSettings:
        if self.severity is None and not self.tags:
            raise ValueError("a route needs a severity or tags to select alerts by")
        return self


class ClusterSettings(_Strict):
    # Stories from several outlets about one event are one cluster, and a rule alerts once
    # per cluster and channel. A cluster lives while its newest story is this recent.
    enabled: bool = True
    window: Duration = 48 * 3600.0


class MonitorFile(_Strict):
    # As written; `Config.database_path` is where it points. Empty would name the directory.
    database: str | None = Field(default=None, min_length=1)
    poll: PollSettings = PollSettings()
    delivery: DeliverySettings = DeliverySettings()
    clusters: ClusterSettings = ClusterSettings()
    channels: dict[str, ChannelSettings] = {}
    routes: list[RouteSettings] = []


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
    tags: list[str] = Field(default=[], description="labels monitor.yaml's routes select by")
    digest_only: bool = Field(
        default=False, description="its alerts wait for each channel's digest, never sent alone"
    )
    escalate_at: int | None = Field(
        default=None,
        ge=2,
        description="one follow-up alert when the story's event is carried by this many outlets",
    )
    tests: RuleTests = RuleTests()


class RulesFile(_Strict):
    """One file of rules/: what `monitor schema` describes to editors."""

    places: dict[str, PlaceSettings] = {}
    rules: list[RuleSettings] = []


def rules_schema() -> str:
    """The JSON Schema of one rules file, as `monitor schema` prints it."""
    schema = RulesFile.model_json_schema()
    schema["title"] = "monitor rules file"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
