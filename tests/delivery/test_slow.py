"""A slow receiver (a real HTTP server on loopback, apprise's json:// posting to it): within
the channel's timeout it gets exactly one copy; past it, the outcome is unknown and the
alert is sent again (at least once beats never)."""

from __future__ import annotations

import time

import apprise
import pytest

from monitor.models import AlertStatus
from monitor.timing import alert_backoff
from tests.delivery.conftest import Answer, MakeDesk, Receiver

SLOW = 6.0  # seconds: past apprise's own default read timeout (4 s), well inside ours (30 s)


def test_a_webhook_answering_after_six_seconds_gets_exactly_one_copy(
    make_desk: MakeDesk, receiver: Receiver
) -> None:
    receiver.answer = lambda _i, _body: Answer(200, delay=SLOW)
    desk = make_desk(f"hook: {{url: '{receiver.url}', rate_limit: null}}", to=["hook"])
    assert desk.pipeline.delivery.policy("hook").timeout == 30.0  # the default, not set here
    assert desk.queue([1]) == 1

    started = time.monotonic()
    report = desk.pipeline.deliver()
    assert time.monotonic() - started >= SLOW  # it did wait for the answer
    assert (report.sent, report.failed) == (1, 0)
    [alert] = desk.alerts()
    assert (alert.status, alert.attempts, alert.last_error) == (AlertStatus.SENT, 1, None)

    # Nothing is left to retry, however long the desk waits.
    desk.clock.advance(3600)
    assert desk.pipeline.deliver().sent == 0
    assert [r.number for r in receiver.snapshot()] == [1]


def test_a_webhook_slower_than_the_channels_timeout_leaves_the_outcome_unknown_and_retries(
    make_desk: MakeDesk, receiver: Receiver
) -> None:
    # The first answer comes after the channel's 1 s timeout; the receiver has the message
    # all the same. The retry is answered at once.
    receiver.answer = lambda i, _body: Answer(200, delay=3.0 if i == 0 else 0.0)
    desk = make_desk(f"hook: {{url: '{receiver.url}', rate_limit: null, timeout: 1s}}", to=["hook"])
    assert desk.queue([1, 2]) == 2

    report = desk.pipeline.deliver()
    assert (report.sent, report.failed) == (0, 1)
    first, second = desk.alerts()
    assert first.status is AlertStatus.PENDING  # not failed: it may have arrived
    assert first.attempts == 1
    assert first.last_error is not None
    assert first.last_error.startswith("outcome unknown, retrying:"), first.last_error
    assert (second.status, second.attempts) == (AlertStatus.PENDING, 0)  # waits behind it
    assert [r.number for r in receiver.snapshot()] == [1]

    # At least once: after the back-off the alert goes again, so a receiver that had it
    # holds a duplicate (one per unknown outcome); the one behind follows, in order.
    desk.clock.advance(alert_backoff(1).total_seconds() + 1)
    assert desk.pipeline.deliver().sent == 2
    assert [r.number for r in receiver.snapshot()] == [1, 1, 2]
    assert all(a.status is AlertStatus.SENT for a in desk.alerts())


def test_apprises_own_budget_per_send_never_cuts_a_channels_timeout_short(
    make_desk: MakeDesk, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # apprise gives every send a budget of its own (60 s), after which it stops waiting and
    # reports a failure, not a timeout, though the message may have gone out: a channel
    # with `timeout: 90s` and a receiver answering after 65 s would get a copy per retry.
    # The budget is shrunk to 1 s here so that the test takes seconds, not minutes.
    monkeypatch.setattr(apprise.AppriseAsset, "_service_timeout", 1.0)
    receiver.answer = lambda _i, _body: Answer(200, delay=2.0)
    desk = make_desk(
        f"hook: {{url: '{receiver.url}', rate_limit: null, timeout: 10s}}", to=["hook"]
    )
    assert desk.queue([1]) == 1
    assert desk.pipeline.deliver().sent == 1
    [alert] = desk.alerts()
    assert (alert.status, alert.last_error) == (AlertStatus.SENT, None)
    desk.clock.advance(3600)
    assert desk.pipeline.deliver().sent == 0
    assert [r.number for r in receiver.snapshot()] == [1]
