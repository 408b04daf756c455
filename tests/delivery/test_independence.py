"""One channel never delays another: an email server that accepts the connection and then
says nothing (the email channel waits out its 60 s timeout), or refuses it, while a
json:// webhook (a real receiver on loopback) and Slack (at the HTTP boundary) are healthy."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.delivery.channels import message_id
from monitor.models import AlertStatus
from monitor.pipeline import DeliveryReport
from tests.conftest import Mailbox, free_port
from tests.delivery.conftest import MakeDesk, Receiver, number_of, rss
from tests.test_channels import SLACK_URL
from tests.test_e2e import Daemon

# Wall time from deliver() to the healthy channel's last alert. It takes a few hundredths
# of a second when the machine is idle; the slack is for this loaded one. What it must not
# be is anything like the email channel's 60 s timeout.
PROMPT = 3.0
ALERTS = 5


class StalledMailServer:
    """A TCP server on loopback that accepts connections and never greets: an SMTP client
    waits for its timeout. `release()` hangs up on them all."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.05)  # a closed listener does not wake a blocked accept()
        while not self._released.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self.connections.append(connection)

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=monitor@example.org&to=desk@example.org"

    def release(self) -> None:
        self._released.set()
        self._thread.join(timeout=5)
        self.listener.close()
        for connection in self.connections:
            connection.close()


def wait_for_connection(server: StalledMailServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.connections, "the email channel never connected"


@pytest.fixture
def stalled_mail() -> Iterator[StalledMailServer]:
    server = StalledMailServer()
    try:
        yield server
    finally:
        server.release()


def start_delivery(
    deliver: Callable[[], DeliveryReport],
) -> tuple[threading.Thread, list[DeliveryReport]]:
    """Run one delivery pass in a thread; its report lands in the list."""
    reports: list[DeliveryReport] = []
    thread = threading.Thread(target=lambda: reports.append(deliver()), daemon=True)
    thread.start()
    return thread, reports


def test_a_stalled_email_server_does_not_delay_the_webhooks_alerts(
    make_desk: MakeDesk, receiver: Receiver, stalled_mail: StalledMailServer
) -> None:
    desk = make_desk(
        f"""\
        desk-email: {{url: '{stalled_mail.url}', rate_limit: null}}
        hook: {{url: '{receiver.url}', rate_limit: null}}
        """,
        to=["desk-email", "hook"],
    )
    assert desk.pipeline.delivery.policy("desk-email").timeout == 60.0
    assert desk.queue(range(1, ALERTS + 1)) == 2 * ALERTS

    started = time.monotonic()
    thread, reports = start_delivery(desk.pipeline.deliver)
    receipts = receiver.wait_for(ALERTS, timeout=30)
    assert [r.number for r in receipts] == list(range(1, ALERTS + 1))
    last = max(r.at for r in receipts) - started
    print(f"webhook: {ALERTS} alerts in {last:.2f} s while the email channel hangs")
    assert last < PROMPT
    # All of that while the email channel connects and waits for the server's greeting.
    wait_for_connection(stalled_mail)
    time.sleep(1.0)
    assert thread.is_alive()  # still waiting: its timeout is 60 s

    stalled_mail.release()  # the server hangs up: the email attempt fails
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert reports == [DeliveryReport(sent=ALERTS, failed=1)]
    email = desk.alerts("desk-email")
    assert [(a.status, a.attempts) for a in email] == [(AlertStatus.PENDING, 1)] + [
        (AlertStatus.PENDING, 0)
    ] * (ALERTS - 1)
    assert all(a.status is AlertStatus.SENT for a in desk.alerts("hook"))


def test_a_dead_email_server_does_not_delay_slacks_alerts(make_desk: MakeDesk) -> None:
    arrived: list[tuple[float, int | None]] = []

    def slack(request: httpx.Request) -> httpx.Response:
        arrived.append((time.monotonic(), number_of(json.loads(request.content)["text"])))
        return httpx.Response(200, text="ok")

    dead = f"mailto://127.0.0.1:{free_port()}?from=monitor@example.org&to=desk@example.org"
    desk = make_desk(
        f"""\
        desk-email: {{url: '{dead}', rate_limit: null}}
        slack: {{url: '{SLACK_URL}', rate_limit: null}}
        """,
        to=["desk-email", "slack"],
        http=httpx.MockTransport(slack),
    )
    assert desk.queue(range(1, ALERTS + 1)) == 2 * ALERTS
    started = time.monotonic()
    report = desk.pipeline.deliver()
    assert report == DeliveryReport(sent=ALERTS, failed=1)
    assert [n for _, n in arrived] == list(range(1, ALERTS + 1))
    assert max(t for t, _ in arrived) - started < PROMPT
    # Slack's pace (1 s) is kept on the injected clock, not slept through here.
    assert desk.clock.slept and all(0 < s <= 1.0 for s in desk.clock.slept)
    [first, *rest] = desk.alerts("desk-email")
    assert (first.attempts, first.last_error) == (1, "connection refused")
    assert all(a.attempts == 0 for a in rest)


@pytest.mark.e2e
def test_the_daemon_delivers_the_webhooks_alerts_while_its_email_channel_hangs(
    tmp_path: Path,
    httpserver: HTTPServer,
    receiver: Receiver,
    stalled_mail: StalledMailServer,
) -> None:
    # `monitor run` as a subprocess: each channel is a job of its own, so the webhook's
    # alerts go out while the email job waits on a server that never greets.
    served = {"feed": rss([])}
    httpserver.expect_request("/wire.xml").respond_with_handler(
        lambda _request: Response(served["feed"], content_type="application/rss+xml")
    )
    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    (config / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        poll: {{interval: 1s, tick: 0.3s, workers: 1}}
        clusters: {{enabled: false}}  # each numbered report is its own event here
        channels:
          desk-email: {{url: '{stalled_mail.url}', rate_limit: null, digest: null}}
          hook: {{url: '{receiver.url}', rate_limit: null, digest: null}}
        """)
    )
    (config / "feeds.yaml").write_text(
        f'feeds:\n  - {{name: wire, title: Wire, url: "{httpserver.url_for("/wire.xml")}"}}\n'
    )
    (config / "rules" / "misrata.yaml").write_text(
        "rules:\n  - {id: misrata, name: Misrata, query: Misrata, channels: [desk-email, hook]}\n"
    )
    daemon = Daemon(config, tmp_path / "monitor.db")
    try:
        daemon.wait_for(r"feed=wire polled: 0 stories", timeout=60)
        served["feed"] = rss(range(1, ALERTS + 1))
        daemon.wait_for(rf"feed=wire polled: {ALERTS} stories, {ALERTS} new", timeout=30)
        matched = time.monotonic()  # when this process saw the match logged: a bit later
        receipts = receiver.wait_for(ALERTS, timeout=30)
        assert [r.number for r in receipts] == list(range(1, ALERTS + 1))
        last = max(r.at for r in receipts) - matched
        print(f"daemon: webhook's {ALERTS} alerts {last:.2f} s after the match was logged")
        assert last < PROMPT
        wait_for_connection(stalled_mail)
        assert daemon.proc.poll() is None
        stalled_mail.release()  # the email attempt fails; the daemon can stop
        daemon.wait_for(r"channel=desk-email .*attempt 1 failed", timeout=30)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_stalled_email_server_does_not_delay_another_email_channel(
    make_desk: MakeDesk, mailbox: Mailbox, stalled_mail: StalledMailServer
) -> None:
    # Two email channels, e.g. the desk's and the duty editor's, on different servers.
    desk = make_desk(
        f"""\
        desk-email: {{url: '{stalled_mail.url}', rate_limit: null}}
        duty-email: {{url: '{mailbox.url("duty@example.org")}', rate_limit: null}}
        """,
        to=["desk-email", "duty-email"],
    )
    assert desk.queue(range(1, ALERTS + 1)) == 2 * ALERTS

    started = time.monotonic()
    thread, reports = start_delivery(desk.pipeline.deliver)
    wait_for_connection(stalled_mail)  # the desk's email is stuck waiting for a greeting
    messages = mailbox.wait_for(ALERTS, timeout=30)
    arrived = time.monotonic() - started
    assert [number_of(str(m["Subject"])) for m in messages] == list(range(1, ALERTS + 1))
    assert arrived < PROMPT
    assert thread.is_alive()  # the desk's email still waits

    stalled_mail.release()
    thread.join(timeout=20)
    assert reports == [DeliveryReport(sent=ALERTS, failed=1)]
    ids = [m["Message-ID"] for m in messages]
    assert ids == [message_id(a.id, a.story.link) for a in desk.alerts("duty-email")]
