"""The jobs: poll (feeds → stored stories and queued alerts), deliver (queued alerts →
channels), and the daemon that runs both on a schedule.

`Pipeline` holds one of each job over the same store, for the CLI and the tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime

from monitor.dedupe.cluster import ClusterIndex
from monitor.delivery.channels import Notifier
from monitor.delivery.policy import ChannelPolicy
from monitor.delivery.route import Route
from monitor.feeds.fetch import Fetcher
from monitor.feeds.parse import parse_feed
from monitor.feeds.policy import PollPolicy
from monitor.models import Feed
from monitor.pipeline.clock import Clock, utcnow
from monitor.pipeline.deliver import (
    Deliverer,
    DeliveryOutcome,
    DeliveryReport,
    Recovery,
)
from monitor.pipeline.poll import FetchOutcome, HealthHook, Parse, Poller, PollResult, read_feed
from monitor.rules.matcher import Matcher
from monitor.store import Store

__all__ = [
    "Clock",
    "Deliverer",
    "DeliveryOutcome",
    "DeliveryReport",
    "FetchOutcome",
    "Pipeline",
    "PollResult",
    "Poller",
    "Recovery",
    "read_feed",
    "utcnow",
]


class Pipeline:
    """The poll job and the delivery job over one store."""

    def __init__(
        self,
        *,
        store: Store,
        fetcher: Fetcher,
        matcher: Matcher,
        notifier: Notifier,
        policies: Mapping[str, ChannelPolicy] | None = None,
        digest_only: Collection[str] = (),
        routes: Sequence[Route] = (),
        rule_tags: Mapping[str, Sequence[str]] | None = None,
        retry_after_error: float = 600.0,
        max_age: float = 86400.0,
        max_attempts: int = 10,
        alert_max_age: float = 86400.0,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        poll_policy: PollPolicy | None = None,
        parse: Parse = parse_feed,
        per_host: int = 2,
        on_health: HealthHook | None = None,
        clusters: ClusterIndex | None = None,
        escalate_at: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.poller = Poller(
            store=store,
            fetcher=fetcher,
            matcher=matcher,
            routes=routes,
            rule_tags=rule_tags,
            retry_after_error=retry_after_error,
            max_age=max_age,
            clock=clock,
            policy=poll_policy,
            parse=parse,
            per_host=per_host,
            on_health=on_health,
            clusters=clusters,
            escalate_at=escalate_at,
        )
        self.delivery = Deliverer(
            store=store,
            notifier=notifier,
            policies=policies,
            digest_only=digest_only,
            max_attempts=max_attempts,
            alert_max_age=alert_max_age,
            clock=clock,
            sleep=sleep,
        )

    def poll(
        self,
        feeds: Sequence[Feed],
        *,
        workers: int = 16,
        stop: threading.Event | None = None,
        due_only: bool = False,
    ) -> list[PollResult]:
        """Poll the given feeds (see Poller.poll)."""
        return self.poller.poll(feeds, workers=workers, stop=stop, due_only=due_only)

    def poll_due(
        self, feeds: Sequence[Feed], *, workers: int = 16, stop: threading.Event | None = None
    ) -> list[PollResult]:
        """Poll the feeds whose next poll time has come."""
        return self.poller.poll_due(feeds, workers=workers, stop=stop)

    def deliver(self, stop: threading.Event | None = None) -> DeliveryReport:
        """Send every pending alert that is due (see Deliverer.deliver)."""
        return self.delivery.deliver(stop)

    def recover(self, started: datetime | None = None) -> Recovery:
        """What a crash cut off, at start (see Deliverer.recover)."""
        return self.delivery.recover(started)

    def send_digest(self, channel: str, *, scheduled: bool = True) -> int:
        """Send one channel's digest (see Deliverer.send_digest)."""
        return self.delivery.send_digest(channel, scheduled=scheduled)

    def resend(self, alert_ids: Sequence[int]) -> None:
        """Queue chosen alerts again (see Deliverer.resend)."""
        self.delivery.resend(alert_ids)
