"""The delivery job: claim → render → send → mark, for the alerts the poll job queued;
and, at start, recovery of what a crash cut off.

The outbox is the alerts table: an alert is written with its story, claimed with a lease
before it is sent, and marked after the channel answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from monitor.config import CONSOLE
from monitor.delivery.channels import Notifier, message_id
from monitor.delivery.render import render
from monitor.errors import DeliveryError
from monitor.models import Alert, AlertStatus
from monitor.pipeline.clock import Clock, utcnow
from monitor.store import Store
from monitor.text import plural
from monitor.timing import alert_backoff, gives_up, too_old

log = logging.getLogger(__name__)


class DeliveryOutcome(StrEnum):
    """What became of one alert in a delivery pass."""

    SENT = "sent"  # a channel took it
    PRINTED = "printed"  # the console channel printed it
    HELD = "held"  # its channel is not set up: a preview printed, the alert kept for later
    FAILED = "failed"
    TAKEN = "taken"  # another pass had claimed it


@dataclass(frozen=True)
class DeliveryReport:
    """How many alerts one delivery pass sent, only printed, held, and failed to send."""

    sent: int = 0
    printed: int = 0
    failed: int = 0
    held: int = 0


@dataclass(frozen=True)
class Recovery:
    """What start-up found: claims a crash cut off, held alerts made due or expired."""

    interrupted: int = 0
    released: int = 0
    expired: int = 0


class Deliverer:
    """Pending alerts out through their channels."""

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        max_attempts: int = 10,
        alert_max_age: float = 86400.0,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.max_attempts = max_attempts
        self.alert_max_age = alert_max_age
        self.clock = clock

    def deliver(self, stop: threading.Event | None = None) -> DeliveryReport:
        """Send every pending alert that is due, in batches, until none is left.

        Each alert is claimed before it is sent (attempt counted, hidden for its backoff),
        so a crash or a full disk after the send cannot make it go out on every tick, and a
        second process cannot send it too. A channel that fails is skipped for the rest of
        the pass, so one dead SMTP server does not hold up Slack.
        """
        counts = dict.fromkeys(DeliveryOutcome, 0)
        broken: set[str] = set()
        while not (stop is not None and stop.is_set()):
            batch = self.store.pending_alerts(self.clock(), skip_channels=broken)
            if not batch:
                break
            for alert in batch:
                if (stop is not None and stop.is_set()) or alert.channel in broken:
                    continue
                outcome = self._deliver_one(alert)
                counts[outcome] += 1
                if outcome is DeliveryOutcome.FAILED:
                    broken.add(alert.channel)
        return DeliveryReport(
            sent=counts[DeliveryOutcome.SENT],
            printed=counts[DeliveryOutcome.PRINTED],
            failed=counts[DeliveryOutcome.FAILED],
            held=counts[DeliveryOutcome.HELD],
        )

    def recover(self, started: datetime | None = None) -> Recovery:
        """At start, before any delivery: retry at once, uncounted, every claim a crash cut
        off (made before `started`, this process's start); then make the held alerts of
        channels that are now set up due, or expire those older than `delivery.max_age`."""
        now = self.clock()
        interrupted = self.store.release_interrupted(started or now)
        if interrupted:
            log.warning(
                "%s cut off by a crash or kill; retrying at once",
                plural(interrupted, "alert delivery", "alert deliveries"),
            )
        released = expired = 0
        for alert in reversed(self.store.recent_alerts(None, AlertStatus.HELD)):
            if self.notifier.fallback(alert.channel) is not None:
                continue  # still not set up: it stays held
            if too_old(alert.created_at, now, self.alert_max_age):
                reason = (
                    f"held longer than delivery.max_age ({_hours(self.alert_max_age)}) "
                    "before its channel was set up; not sent"
                )
                self.store.expire_alert(alert.id, now, reason)
                log.warning("alert=%d channel=%s expired: %s", alert.id, alert.channel, reason)
                expired += 1
            else:
                self.store.requeue_alert(alert.id, now)
                released += 1
        if released:
            log.info("%s held for channels now set up: sending", plural(released, "alert"))
        return Recovery(interrupted, released, expired)

    def resend(self, alert_ids: Sequence[int]) -> None:
        """Queue chosen alerts again, whatever their state; the next pass sends them.
        Raises StoreError for an unknown id."""
        now = self.clock()
        for alert_id in alert_ids:
            self.store.requeue_alert(alert_id, now)

    def _deliver_one(self, alert: Alert) -> DeliveryOutcome:
        now = self.clock()
        if not self.store.claim_alert(alert.id, now, now + alert_backoff(alert.attempts + 1)):
            return DeliveryOutcome.TAKEN
        fallback = self.notifier.fallback(alert.channel)
        if fallback is not None:
            return self._hold(alert, fallback, now)
        kind, zone = self.notifier.kind(alert.channel), self.notifier.timezone(alert.channel)
        message = render(alert, kind, now=now, timezone=zone)
        try:
            note = self.notifier.send(
                alert.channel, message, msgid=message_id(alert.id, alert.story.link)
            )
        except DeliveryError as e:
            failed_at = self.clock()
            give_up = gives_up(
                alert.attempts + 1,
                alert.created_at,
                failed_at,
                max_attempts=self.max_attempts,
                max_age=self.alert_max_age,
            )
            status = self.store.mark_attempt_failed(
                alert.id, str(e), failed_at, self.max_attempts, give_up=give_up
            )
            log.warning(
                "alert=%d channel=%s story=%r attempt %d failed (%s): %s",
                alert.id,
                alert.channel,
                alert.story.title[:80],
                alert.attempts + 1,
                status,
                e,
            )
            return DeliveryOutcome.FAILED
        printed = alert.channel == CONSOLE
        self.store.mark_sent(alert.id, self.clock(), note, printed=printed)
        log.info(
            "alert=%d channel=%s story=%r sent", alert.id, alert.channel, alert.story.title[:80]
        )
        # "Sent" means it left this machine: the console channel's alerts are printed.
        return DeliveryOutcome.PRINTED if printed else DeliveryOutcome.SENT

    def _hold(self, alert: Alert, reason: str, now: datetime) -> DeliveryOutcome:
        """Print a preview, and keep the alert for when its channel is set up."""
        # A channel that is not set up has no sender: send prints, under the channel's name.
        self.notifier.send(alert.channel, render(alert, "console", now=now))
        self.store.hold_alert(alert.id, self.clock(), f"held: {reason}")
        # A warning every time: under systemd a missing secrets file would otherwise
        # leave the desk with nothing and only the journal knowing.
        log.warning(
            "alert=%d channel=%s story=%r held (printed to the console as a preview): %s",
            alert.id,
            alert.channel,
            alert.story.title[:80],
            reason,
        )
        return DeliveryOutcome.HELD


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"
