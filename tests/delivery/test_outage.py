"""Outages: a real SMTP server that goes away and comes back, a real webhook that answers
500, then 429, then 200, and Slack asking to wait (Retry-After, at the HTTP boundary).
Time is the injected clock's: back-offs are advanced past, not slept through."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from aiosmtpd.controller import Controller

from monitor.delivery.channels import message_id
from monitor.models import AlertStatus
from monitor.pipeline import DeliveryReport
from monitor.timing import alert_backoff
from tests.conftest import Mailbox, start_mailbox
from tests.delivery.conftest import (
    Answer,
    Clock,
    MakeDesk,
    Receiver,
    headline,
    number_of,
)
from tests.test_channels import SLACK_URL

BACKOFF_1 = alert_backoff(1).total_seconds()  # 30 s
BACKOFF_2 = alert_backoff(2).total_seconds()  # 60 s


class FlakyMailServer:
    """A real SMTP server on one loopback port that can go down (connections refused:
    nothing listens) and come back on the same port, keeping what it received."""

    def __init__(self) -> None:
        self.box, self._controller = start_mailbox()
        self.up = True

    def down(self) -> None:
        self._controller.stop()
        self.up = False

    def back(self) -> None:
        self._controller = Controller(self.box, hostname="127.0.0.1", port=self.box.port)
        self._controller.start()
        self.up = True

    def close(self) -> None:
        if self.up:
            self._controller.stop()


@pytest.fixture
def mail_server() -> Iterator[FlakyMailServer]:
    server = FlakyMailServer()
    try:
        yield server
    finally:
        server.close()


def subjects(box: Mailbox) -> list[int | None]:
    return [number_of(str(m["Subject"])) for m in box.messages]


def test_an_smtp_outage_queues_the_alerts_and_each_arrives_once_in_order_when_it_ends(
    make_desk: MakeDesk, mail_server: FlakyMailServer
) -> None:
    box = mail_server.box
    desk = make_desk(f"desk-email: {{url: '{box.url()}', rate_limit: null}}", to=["desk-email"])
    assert desk.queue(range(1, 3)) == 2
    assert desk.pipeline.deliver().sent == 2
    assert subjects(box) == [1, 2]

    mail_server.down()
    assert desk.queue(range(3, 9)) == 6
    report = desk.pipeline.deliver()
    # The first queued alert fails; the five behind it wait with it, untried.
    assert (report.sent, report.failed) == (0, 1)
    pending = desk.alerts()[2:]
    assert [a.attempts for a in pending] == [1, 0, 0, 0, 0, 0]
    assert pending[0].status is AlertStatus.PENDING
    assert pending[0].last_error == "connection refused"

    desk.clock.advance(BACKOFF_1 - 1)  # the channel is still waiting: nothing is tried
    assert desk.pipeline.deliver() == DeliveryReport()
    assert desk.alerts()[2].attempts == 1

    desk.clock.advance(2)  # past the first back-off, still down: the same alert, again
    assert desk.pipeline.deliver().failed == 1
    assert [a.attempts for a in desk.alerts()[2:]] == [2, 0, 0, 0, 0, 0]

    mail_server.back()
    desk.clock.advance(BACKOFF_2 + 1)
    assert desk.pipeline.deliver().sent == 6
    assert box.wait_for(8, timeout=5) == box.messages

    # Every alert once, in the order it was queued, each with its own stable Message-ID.
    alerts = desk.alerts()
    assert subjects(box) == list(range(1, 9))
    assert [m["Message-ID"] for m in box.messages] == [
        message_id(a.id, a.story.link) for a in alerts
    ]
    assert all(a.status is AlertStatus.SENT for a in alerts)
    assert desk.pipeline.deliver() == DeliveryReport()  # nothing left to send
    assert len(box.messages) == 8


def test_a_webhook_answering_500_then_429_then_200_gets_every_alert_once_in_order(
    make_desk: MakeDesk, receiver: Receiver
) -> None:
    script = [Answer(500), Answer(429, {"Retry-After": "5"})]
    receiver.answer = lambda i, _body: script[i] if i < len(script) else Answer(200)
    desk = make_desk(f"hook: {{url: '{receiver.url}', rate_limit: null}}", to=["hook"])
    assert desk.queue(range(1, 6)) == 5

    assert desk.pipeline.deliver().failed == 1  # 500
    [first] = receiver.snapshot()
    assert (first.status, first.number) == (500, 1)
    assert desk.alerts()[0].last_error is not None and "500" in desk.alerts()[0].last_error

    desk.clock.advance(BACKOFF_1 - 1)
    assert desk.pipeline.deliver().failed == 0
    assert len(receiver.snapshot()) == 1  # the channel waits: no request at all

    desk.clock.advance(2)
    assert desk.pipeline.deliver().failed == 1  # 429
    assert [(r.status, r.number) for r in receiver.snapshot()] == [(500, 1), (429, 1)]
    assert "429" in str(desk.alerts()[0].last_error)

    desk.clock.advance(BACKOFF_2 + 1)
    assert desk.pipeline.deliver().sent == 5
    assert [(r.status, r.number) for r in receiver.snapshot()] == [
        (500, 1),
        (429, 1),
        *((200, n) for n in range(1, 6)),
    ]
    # Exactly once each, in order, with the headline the desk reads.
    accepted = receiver.accepted()
    assert [r.number for r in accepted] == [1, 2, 3, 4, 5]
    assert all(headline(r.number or 0) in r.body["title"] for r in accepted)
    assert all(a.status is AlertStatus.SENT for a in desk.alerts())
    assert desk.pipeline.deliver().sent == 0


def test_slack_asking_to_wait_with_retry_after_is_waited_for_and_the_order_kept(
    make_desk: MakeDesk,
) -> None:
    clock = Clock()
    posts: list[tuple[datetime, int | None, int]] = []  # clock time, dispatch, status

    def slack(request: httpx.Request) -> httpx.Response:
        number = number_of(json.loads(request.content)["text"])
        status = 429 if not posts else 200
        posts.append((clock(), number, status))
        if status == 429:
            return httpx.Response(429, headers={"Retry-After": "120"}, text="rate_limited")
        return httpx.Response(200, text="ok")

    desk = make_desk(
        f"slack: {{url: '{SLACK_URL}', rate_limit: null}}",
        to=["slack"],
        http=httpx.MockTransport(slack),
        clock=clock,
    )
    assert desk.queue(range(1, 4)) == 3
    started = clock()
    assert desk.pipeline.deliver().failed == 1
    assert desk.alerts()[0].last_error == "HTTP 429 rate_limited"

    # Past the alert's own back-off (30 s) but not what Slack asked for: still waiting.
    clock.advance(119)
    assert desk.pipeline.deliver().sent == 0
    assert len(posts) == 1

    clock.advance(2)
    assert desk.pipeline.deliver().sent == 3
    assert [(n, s) for _, n, s in posts] == [(1, 429), (1, 200), (2, 200), (3, 200)]
    times = [(t - started).total_seconds() for t, _, _ in posts]
    assert times[1] >= 120  # the Retry-After was honoured
    # And Slack's pace of one message a second per webhook held after it.
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times[1:]))
    assert all(a.status is AlertStatus.SENT for a in desk.alerts())


def test_a_restart_during_an_outage_keeps_the_channels_order(
    make_desk: MakeDesk, mail_server: FlakyMailServer
) -> None:
    # The channel's wait after a failure must outlive the process: after a restart the
    # failed alert is still backing off, and the alerts behind it must not overtake it.
    box = mail_server.box
    desk = make_desk(f"desk-email: {{url: '{box.url()}', rate_limit: null}}", to=["desk-email"])
    mail_server.down()
    assert desk.queue(range(1, 5)) == 4
    assert desk.pipeline.deliver().failed == 1

    desk.restart()
    mail_server.back()
    desk.clock.advance(5)  # the server is back, the failed alert's back-off not over
    assert desk.pipeline.deliver() == DeliveryReport()
    assert box.messages == []

    desk.clock.advance(BACKOFF_1)
    assert desk.pipeline.deliver().sent == 4
    assert subjects(box) == [1, 2, 3, 4]
