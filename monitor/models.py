"""The plain values that flow between stages: fetched bytes → stories → matches → alerts.

Every stage takes and returns these; none reaches into another stage's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class BacklogPolicy(StrEnum):
    """What to do with a story published longer ago than `poll.max_age`."""

    SKIP = "skip"  # store it as seen, alert nobody: a new feed's backlog is not news
    ALERT = "alert"  # alert as usual (the bundled seed feed, whose story is from 2020)


class RuleSeverity(StrEnum):
    """How much a rule's story matters to the desk; delivery routes and rate-limits by it."""

    INFO = "info"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class MuteKind(StrEnum):
    """What a run-time mute silences."""

    RULE = "rule"
    CHANNEL = "channel"
    STORY = "story"


class PollStatus(StrEnum):
    """How one poll of a feed ended."""

    OK = "ok"
    NOT_MODIFIED = "not-modified"
    ERROR = "error"


class AlertStatus(StrEnum):
    """Where an alert stands in its life: pending until it is sent, printed or given up."""

    PENDING = "pending"
    HELD = "held"  # its channel is not set up: kept until it is, then delivered or expired
    SENT = "sent"
    PRINTED = "printed"  # routed to the built-in console channel, and printed there
    MUTED = "muted"  # stopped by a mute; never sent later
    DIGEST = "digest"  # deferred (rate limit, quiet hours, digest-only rule) to the next digest
    FAILED = "failed"
    EXPIRED = "expired"  # held past delivery.max_age: listed, never sent


@dataclass(frozen=True)
class Feed:
    """A feed to poll, as the configuration describes it."""

    name: str
    url: str
    title: str
    interval: float
    tags: tuple[str, ...] = ()
    backlog: BacklogPolicy = BacklogPolicy.SKIP


@dataclass(frozen=True)
class FeedState:
    """What the store remembers between polls of one feed (for conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """The outcome of one successful fetch. `content` is None on 304 Not Modified."""

    url: str
    status: int
    content: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    elapsed: float = 0.0
    moved_to: str | None = None  # where a chain of permanent redirects (301, 308) ends


@dataclass(frozen=True)
class Story:
    """One feed item as plain text, ready to store and match."""

    feed: str
    guid: str
    link: str
    title: str
    summary: str = ""
    content: str = ""
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """All matchable text: title, summary and content, one per line."""
        return "\n".join(part for part in (self.title, self.summary, self.content) if part)


@dataclass(frozen=True)
class ParsedFeed:
    """What parse makes of a document: the feed's own title, its stories and any warning."""

    title: str
    stories: tuple[Story, ...]
    warning: str | None = None
    ttl: float | None = None  # RSS <ttl>, in seconds: how long the publisher asks us to wait
    # Each story's item digest (parse.item_digests), in the same order; empty when the
    # document's items could not be told apart reliably. Bookkeeping, not content: two
    # readings of the same stories are equal whatever their digests.
    digests: tuple[int, ...] = field(default=(), compare=False)
    # The digests of the items left out because the caller knew them (byte for byte the
    # items of the feed's last document): no story is made for them.
    repeated: tuple[int, ...] = ()

    @property
    def items(self) -> int:
        """How many items the document has: stories made and items left out as known."""
        return len(self.stories) + len(self.repeated)


@dataclass(frozen=True)
class Match:
    """One rule that fired on one story, with the words that made it fire."""

    rule_id: str
    rule_name: str
    terms: tuple[str, ...]
    channels: tuple[str, ...] = ()
    severity: str = "normal"  # the rule's: info | normal | high | urgent


@dataclass(frozen=True)
class PlannedAlert:
    """An alert routing decided to create: one channel, the rules that sent the story there."""

    channel: str
    matches: tuple[Match, ...]
    follow_up: str | None = None  # why a story of an event alerted again ("reported by 5 outlets")


@dataclass(frozen=True)
class NewStory:
    """A story ready to store, with its matches and the alerts routing planned for it."""

    story: Story
    matches: tuple[Match, ...] = ()
    alerts: tuple[PlannedAlert, ...] = ()
    cluster_id: int | None = None  # the event it belongs to, across outlets


@dataclass(frozen=True)
class StoredStory:
    """A story the store holds: the id it was given, its alerts queued, when it was stored."""

    id: int
    story: Story
    alerts: int = 0
    first_seen: datetime | None = None
    cluster_id: int | None = None


@dataclass(frozen=True)
class Alert:
    """One message owed to one channel about one story, possibly for several rules."""

    id: int
    channel: str
    story: Story
    outlet: str
    matches: tuple[Match, ...]
    status: AlertStatus = AlertStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    note: str | None = None  # how it went out, e.g. why it only reached the console
    created_at: datetime | None = None
    sent_at: datetime | None = None
    story_id: int | None = None
    cluster_id: int | None = None
    also: tuple[str, ...] = ()  # the other outlets that carry its story's event
    follow_up: str | None = None  # set on an event's follow-up alert: why it came

    @property
    def terms(self) -> tuple[str, ...]:
        """The matched words of all its rules, each once, in order."""
        return tuple(dict.fromkeys(t for m in self.matches for t in m.terms))


@dataclass(frozen=True)
class Message:
    """A rendered alert: what a channel sends. `body_format` is text, markdown or html."""

    title: str
    body: str
    body_format: str
    text: str = ""  # the plain-text alternative of an HTML body
    payload: Mapping[str, Any] | None = None  # a Slack Block Kit message, posted as is


@dataclass(frozen=True)
class Mute:
    """A silence an editor set at run time: alerts it covers until `until` are muted."""

    kind: MuteKind
    value: str  # the rule id, channel name or story id
    until: datetime
    reason: str = ""
    created_at: datetime | None = None
    id: int = 0  # given by the store
