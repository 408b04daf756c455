"""The delivery job: claim → render → send → mark, for the alerts the poll job queued;
and, at start, recovery of what a crash cut off.

The outbox is the alerts table: an alert is written with its story, claimed with a lease
before it is sent, and marked after the channel answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from monitor.config import CONSOLE
from monitor.delivery.channels import Notifier, message_id
from monitor.delivery.digest import render_digest
from monitor.delivery.policy import (
    ChannelPolicy,
    Decision,
    Verdict,
    decide,
    digest_due,
    rate_notice,
    window_start,
)
from monitor.delivery.render import render, render_notice
from monitor.errors import DeliveryError
from monitor.models import Alert, AlertStatus, Mute
from monitor.pipeline.clock import Clock, utcnow
from monitor.store import Store
from monitor.text import plural
from monitor.timing import alert_backoff, gives_up, too_old

log = logging.getLogger(__name__)

_NEVER = datetime.min.replace(tzinfo=UTC)
_FOREVER = datetime.max.replace(tzinfo=UTC)  # as `now`: every pending alert, due or not


class DeliveryOutcome(StrEnum):
    """What became of one alert in a delivery pass."""

    SENT = "sent"  # a channel took it
    PRINTED = "printed"  # the console channel printed it
    HELD = "held"  # its channel is not set up: a preview printed, the alert kept for later
    DEFERRED = "deferred"  # waits for the channel's digest (rate limit, quiet hours, rule)
    MUTED = "muted"  # a mute stopped it
    FAILED = "failed"
    TAKEN = "taken"  # another pass had claimed it


@dataclass(frozen=True)
class DeliveryReport:
    """How many alerts one delivery pass sent, only printed, held, deferred to a digest,
    muted, and failed to send."""

    sent: int = 0
    printed: int = 0
    failed: int = 0
    held: int = 0
    deferred: int = 0
    muted: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )


@dataclass(frozen=True)
class Recovery:
    """What start-up found: claims a crash cut off, held alerts made due or expired."""

    interrupted: int = 0
    released: int = 0
    expired: int = 0


class Deliverer:
    """Pending alerts out through their channels, each channel on its own.

    A channel's alerts go out in the order they were queued. When one fails, its channel
    waits (the alert's back-off, or what the service asked for with Retry-After) and the
    alerts behind it wait too, so they arrive in order once it mends; other channels are
    not held up, since each channel's pass runs in a thread of its own (`deliver`) or as a
    job of its own (the daemon).
    """

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        policies: Mapping[str, ChannelPolicy] | None = None,
        digest_only: Collection[str] = (),
        max_attempts: int = 10,
        alert_max_age: float = 86400.0,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.policies = dict(policies or {})
        self.digest_only = frozenset(digest_only)
        self.max_attempts = max_attempts
        self.alert_max_age = alert_max_age
        self.clock = clock
        self.sleep = sleep
        self._waiting: dict[str, datetime] = {}  # channel → no send before (after a failure)
        self._last_send: dict[str, datetime] = {}  # channel → its last message, for pacing

    def policy(self, channel: str) -> ChannelPolicy:
        """The channel's delivery settings; a channel monitor.yaml does not describe (the
        console) has no rate limit and no digest schedule."""
        return self.policies.get(channel) or ChannelPolicy(channel, digest=None)

    def channel_names(self) -> list[str]:
        """Every channel with alerts to deliver: the configured ones and any that pending
        alerts still name (a channel removed from monitor.yaml: they are held)."""
        known = sorted({*self.notifier.channels, *self.policies})
        strays = self.store.pending_alerts(self.clock(), limit=1000, skip_channels=known)
        return known + sorted({a.channel for a in strays})

    def deliver(self, stop: threading.Event | None = None) -> DeliveryReport:
        """One pass over every channel, each in its own thread, so a slow channel does not
        delay the others; returns when all are done."""
        names = self.channel_names()
        if not names:
            return DeliveryReport()
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="deliver") as pool:
            reports = list(pool.map(lambda name: self.deliver_channel(name, stop), names))
        return sum(reports, DeliveryReport())

    def deliver_channel(self, channel: str, stop: threading.Event | None = None) -> DeliveryReport:
        """Send the channel's due alerts, oldest first, until none is left or one fails
        (the rest then wait behind it)."""
        counts = dict.fromkeys(DeliveryOutcome, 0)
        policy = self.policy(channel)
        while not _stopped(stop):
            if self.clock() < self._waiting.get(channel, _NEVER):
                break
            batch = self.store.pending_alerts(self.clock(), limit=50, channel=channel)
            if not batch or self._behind_a_failure(channel, batch[0]):
                break
            halted = False
            mutes = self.store.mutes(self.clock())  # once a batch: a new mute counts from the next
            for alert in batch:
                # Alerts queue in order: the ones behind a failed or group-waiting alert wait.
                if _stopped(stop) or policy.waiting(alert.created_at, self.clock()):
                    halted = True
                    break
                outcome = self._deliver_one(alert, policy, mutes)
                counts[outcome] += 1
                if outcome is DeliveryOutcome.FAILED:
                    halted = True
                    break
            if halted:
                break
        return DeliveryReport(
            sent=counts[DeliveryOutcome.SENT],
            printed=counts[DeliveryOutcome.PRINTED],
            failed=counts[DeliveryOutcome.FAILED],
            held=counts[DeliveryOutcome.HELD],
            deferred=counts[DeliveryOutcome.DEFERRED],
            muted=counts[DeliveryOutcome.MUTED],
        )

    def _behind_a_failure(self, channel: str, first: Alert) -> bool:
        """Whether an older alert of the channel is still backing off after a failed
        attempt: the channel's wait (`_waiting`) does not outlive the process, the alert's
        back-off does, and the alerts behind it must not overtake it after a restart."""
        oldest = self.store.pending_alerts(_FOREVER, limit=1, channel=channel)
        return bool(oldest) and oldest[0].id < first.id

    def send_digest(self, channel: str, *, scheduled: bool = True) -> int:
        """Send the channel's digest: every alert waiting for it, in one message grouped by
        rule. A scheduled digest does not go out in quiet hours (the one after does).
        Returns how many alerts it carried (0: nothing waited, or it could not be sent)."""
        now = self.clock()
        policy = self.policy(channel)
        if scheduled and not digest_due(policy, now):
            log.info("channel=%s digest skipped: quiet hours (%s)", channel, policy.quiet)
            return 0
        waiting = self.store.recent_alerts(None, AlertStatus.DIGEST, channel=channel)
        if not waiting:
            return 0
        if self.notifier.fallback(channel) is not None:
            log.warning(
                "channel=%s digest of %s not sent: %s",
                channel,
                plural(len(waiting), "alert"),
                self.notifier.fallback(channel),
            )
            return 0
        message = render_digest(
            waiting,
            self.notifier.kind(channel),
            channel=channel,
            now=now,
            timezone=self.notifier.timezone(channel),
        )
        try:
            self.notifier.send(channel, message, timeout=policy.timeout)
        except DeliveryError as e:
            log.warning("channel=%s digest of %d alerts failed: %s", channel, len(waiting), e)
            return 0
        note = f"in the digest of {policy.local(now):%Y-%m-%d %H:%M}"
        for alert in waiting:
            self.store.mark_sent(alert.id, self.clock(), note)
        log.info("channel=%s digest sent: %s", channel, plural(len(waiting), "alert"))
        return len(waiting)

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

    def _deliver_one(
        self, alert: Alert, policy: ChannelPolicy, mutes: Sequence[Mute]
    ) -> DeliveryOutcome:
        now = self.clock()
        decision = self._decide(alert, policy, now, mutes)
        if decision.verdict is Verdict.MUTE:
            self.store.hold_alert(alert.id, now, decision.reason, AlertStatus.MUTED)
            log.info("alert=%d channel=%s muted: %s", alert.id, alert.channel, decision.reason)
            return DeliveryOutcome.MUTED
        if decision.verdict is Verdict.DIGEST:
            self.store.hold_alert(alert.id, now, decision.reason, AlertStatus.DIGEST)
            log.info("alert=%d channel=%s deferred: %s", alert.id, alert.channel, decision.reason)
            if decision.notice:
                self._tell_rate_limit(policy, now)
            return DeliveryOutcome.DEFERRED
        if not self.store.claim_alert(alert.id, now, now + alert_backoff(alert.attempts + 1)):
            return DeliveryOutcome.TAKEN
        fallback = self.notifier.fallback(alert.channel)
        if fallback is not None:
            return self._hold(alert, fallback, now)
        self._pace(policy)
        kind, zone = self.notifier.kind(alert.channel), self.notifier.timezone(alert.channel)
        message = render(alert, kind, now=now, timezone=zone)
        try:
            note = self.notifier.send(
                alert.channel,
                message,
                msgid=message_id(alert.id, alert.story.link),
                timeout=policy.timeout,
            )
        except DeliveryError as e:
            self._failed(alert, e)
            return DeliveryOutcome.FAILED
        finally:
            self._last_send[alert.channel] = self.clock()
        printed = alert.channel == CONSOLE
        self.store.mark_sent(alert.id, self.clock(), note, printed=printed)
        log.info(
            "alert=%d channel=%s story=%r sent", alert.id, alert.channel, alert.story.title[:80]
        )
        # "Sent" means it left this machine: the console channel's alerts are printed.
        return DeliveryOutcome.PRINTED if printed else DeliveryOutcome.SENT

    def _decide(
        self, alert: Alert, policy: ChannelPolicy, now: datetime, mutes: Sequence[Mute]
    ) -> Decision:
        sent_recently, noticed = 0, False
        if policy.budget is not None:  # the budget's facts are only read when there is one
            since = window_start(policy, now)
            sent_recently = self.store.count_sent(alert.channel, since)
            last = self.store.last_notice(alert.channel)
            noticed = last is not None and last >= since
        return decide(
            alert,
            policy,
            now=now,
            mutes=mutes,
            sent_recently=sent_recently,
            digest_only=self.digest_only,
            noticed=noticed,
        )

    def tell(self, channel: str, text: str) -> None:
        """Send a word from monitor itself (a feed's health, say) to a channel, in a thread
        of its own so the caller never waits for the service. Failures are logged."""

        def send() -> None:
            try:
                kind = self.notifier.kind(channel)
                timeout = self.policy(channel).timeout
                self.notifier.send(channel, render_notice(text, kind), timeout=timeout)
            except Exception as e:
                log.warning("channel=%s notice not sent (%s): %s", channel, e, text)

        threading.Thread(target=send, name=f"notice:{channel}", daemon=True).start()

    def _tell_rate_limit(self, policy: ChannelPolicy, now: datetime) -> None:
        """Tell the desk once that the rate limit was reached; the notice is not an alert
        and does not count against the budget."""
        text = rate_notice(policy, now)
        self.store.record_notice(policy.name, now)
        try:
            self.notifier.send(
                policy.name,
                render_notice(text, self.notifier.kind(policy.name)),
                timeout=policy.timeout,
            )
        except DeliveryError as e:
            log.warning("channel=%s rate-limit notice not sent: %s", policy.name, e)
        log.warning("channel=%s %s", policy.name, text)

    def _pace(self, policy: ChannelPolicy) -> None:
        """Wait until the channel's pace allows the next message (Slack: about one a
        second per webhook)."""
        last = self._last_send.get(policy.name)
        if policy.pace <= 0 or last is None:
            return
        wait = policy.pace - (self.clock() - last).total_seconds()
        if wait > 0:
            self.sleep(wait)

    def _failed(self, alert: Alert, error: DeliveryError) -> None:
        failed_at = self.clock()
        attempts = alert.attempts + 1
        give_up = gives_up(
            attempts,
            alert.created_at,
            failed_at,
            max_attempts=self.max_attempts,
            max_age=self.alert_max_age,
        )
        reason = str(error)
        if error.unknown:
            # The service may have it: retried (at least once beats never), and the stable
            # Message-ID lets a duplicate email be recognised.
            reason = f"outcome unknown, retrying: {reason}"
        status = self.store.mark_attempt_failed(
            alert.id, reason, failed_at, self.max_attempts, give_up=give_up
        )
        wait = alert_backoff(attempts)
        if error.retry_after is not None:
            wait = max(wait, timedelta(seconds=error.retry_after))  # capped by its parser
        # The alerts behind this one wait with it, so the channel's alerts stay in order.
        self._waiting[alert.channel] = failed_at + wait
        log.warning(
            "alert=%d channel=%s story=%r attempt %d failed (%s; channel waits %ds): %s",
            alert.id,
            alert.channel,
            alert.story.title[:80],
            attempts,
            status,
            wait.total_seconds(),
            reason,
        )

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


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()
