"""Why a send failed, as stored and shown: real SMTP servers that refuse, a closed port,
an HTTP receiver that answers 500, and the CLI end to end."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from pytest_httpserver import HTTPServer

from monitor.config import ChannelSettings
from monitor.delivery.channels import Notifier, build_channels, failure_reason, redact, url_secrets
from monitor.delivery.render import render
from monitor.errors import DeliveryError
from tests.conftest import Mailbox, MakeConfig, RunCli, free_port, start_mailbox
from tests.test_channels import SLACK_URL, make_alert

PASSWORD = "hunter2-secret"
W, D = logging.WARNING, logging.DEBUG


class SpamFilter(Mailbox):
    """An SMTP server that refuses every message at DATA."""

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        return "554 5.7.1 Message rejected as spam"


def reject_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    return AuthResult(success=False, handled=False)


@pytest.fixture
def spam_filter() -> Iterator[Mailbox]:
    box, controller = start_mailbox(box_type=SpamFilter)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def strict_mailbox() -> Iterator[Mailbox]:
    """Offers AUTH (over plain SMTP, this being loopback) and rejects every login."""
    box, controller = start_mailbox(authenticator=reject_login, auth_require_tls=False)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def mail_url(port: int, login: str = "") -> str:
    return f"mailto://{login}127.0.0.1:{port}?from=monitor@example.org&to=desk@example.org"


def reason_for(url: str, kind: str = "email") -> str:
    channels = build_channels({"ch": ChannelSettings(url=url)}, {})
    with pytest.raises(DeliveryError) as caught:
        Notifier(channels).send("ch", render(make_alert(), kind))
    return str(caught.value)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        pytest.param(
            [
                (W, 'Connection error while submitting email to "127.0.0.1"'),
                (D, "Socket Exception: [Errno 111] Connection refused"),
            ],
            "connection refused",
            id="smtp-refused",
        ),
        pytest.param(
            [
                (W, "A Connection error occurred sending JSON notification to 127.0.0.1."),
                (
                    D,
                    "Socket Exception: HTTPConnectionPool(host='127.0.0.1', port=1): Read timed "
                    "out. (read timeout=1.0)",
                ),
            ],
            "timed out",
            id="http-timeout",
        ),
        pytest.param(
            [(D, "Socket Exception: (535, b'5.7.8 Authentication credentials invalid')")],
            "authentication failed: 535 5.7.8 Authentication credentials invalid",
            id="smtp-auth",
        ),
        pytest.param(
            [
                (D, "Socket Exception: (554, b'5.7.1 Message rejected as spam')"),
                (W, 'Sending email to "desk@example.org" failed.'),
            ],
            "the server refused it: 554 5.7.1 Message rejected as spam",
            id="smtp-5xx",
        ),
        pytest.param(
            [(D, "Socket Exception: {'desk@example.org': (550, b'5.1.1 No such user')}")],
            "the server refused it: 550 5.1.1 No such user",
            id="smtp-recipient",
        ),
        pytest.param(
            [(W, "Failed to send JSON POST notification: Internal server error., error=500.")],
            "HTTP 500 Internal server error",
            id="http-500",
        ),
        pytest.param([(W, "Failed to send to Slack: error=502.")], "HTTP 502", id="http-no-text"),
        pytest.param(
            [(W, "Failed to send to Slack: Unauthorized - Invalid Credentials., error=401.")],
            "authentication failed: HTTP 401",
            id="http-401",
        ),
        pytest.param(
            [(D, "Socket Exception: [Errno -2] Name or service not known")],
            "host not found",
            id="dns",
        ),
        pytest.param(
            [(D, "Socket Exception: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")],
            "TLS failed",
            id="tls",
        ),
        pytest.param(
            [
                (D, "Securing connection with STARTTLS..."),
                (D, "Socket Exception: (554, b'5.7.1 No')"),
            ],
            "the server refused it: 554 5.7.1 No",
            id="starttls-is-not-a-tls-failure",
        ),
        pytest.param(
            [(D, "Socket Exception: Connection unexpectedly closed")],
            "the server closed the connection",
            id="closed",
        ),
        pytest.param(
            [(W, "one"), (D, "detail"), (W, "two"), (W, "three"), (W, "four")],
            "two; three; four",
            id="unknown-keeps-the-last-warnings",
        ),
        pytest.param([(D, "Notifying 1 service(s).")], None, id="nothing-said"),
        pytest.param([], None, id="no-entries"),
    ],
)
def test_failure_reason_names_the_cause(entries: list[tuple[int, str]], reason: str | None) -> None:
    assert failure_reason(entries) == reason


def test_failure_reason_never_shows_a_secret() -> None:
    entries = [(W, f"Failed for hooks.example/T1/{PASSWORD}: boom")]
    assert failure_reason(entries, {PASSWORD}) == "Failed for hooks.example/T1/***: boom"


@pytest.mark.parametrize(
    ("full", "private", "secrets"),
    [
        ("json://u:pw-long@h.example/x", "json://u:****@h.example/x", {"pw-long"}),
        (
            "slack://T1234/B5678/tok3nvalue/",
            "slack://T...4/B...8/t...e/",
            {"T1234", "B5678", "tok3nvalue"},
        ),
        ("mailto://h.example/a%40b.org?from=x", "mailto://h.example/a%40b.org?from=x", set()),
        ("json://u:abc@h.example/", "json://u:****@h.example/", set()),  # too short to blank
    ],
)
def test_url_secrets_are_what_the_redacted_url_hides(
    full: str, private: str, secrets: set[str]
) -> None:
    assert url_secrets(full, private) == secrets


def test_redact_blanks_the_longest_secret_first() -> None:
    assert redact("token abcdef and abc", {"abcd", "abcdef"}) == "token *** and abc"


def test_a_closed_smtp_port_is_connection_refused() -> None:
    assert reason_for(mail_url(free_port())) == "connection refused"


def test_an_smtp_server_that_refuses_the_message_is_quoted(spam_filter: Mailbox) -> None:
    reason = reason_for(mail_url(spam_filter.port))
    assert reason == "the server refused it: 554 5.7.1 Message rejected as spam"
    assert spam_filter.messages == []


def test_rejected_smtp_credentials_are_an_authentication_failure(
    strict_mailbox: Mailbox,
) -> None:
    reason = reason_for(mail_url(strict_mailbox.port, login=f"desk:{PASSWORD}@"))
    assert reason.startswith("authentication failed: 535")
    assert PASSWORD not in reason


def test_an_http_receiver_answering_500_is_http_500(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("boom", status=500)
    url = f"json://127.0.0.1:{httpserver.port}/hook"
    assert reason_for(url, "text") == "HTTP 500 Internal server error"
    assert len(httpserver.log) == 1


def test_an_http_receiver_that_never_answers_is_timed_out(silent_port: int) -> None:
    assert reason_for(f"json://127.0.0.1:{silent_port}/hook?rto=0.5&cto=0.5", "text") == (
        "timed out"
    )


def test_a_slack_500_says_so_without_the_webhook_token() -> None:
    def slack(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="boom")

    channels = build_channels({"ch": ChannelSettings(url=SLACK_URL)}, {})
    with pytest.raises(DeliveryError) as caught:
        Notifier(channels, http=httpx.MockTransport(slack)).send(
            "ch", render(make_alert(), "slack")
        )
    reason = str(caught.value)
    assert reason.startswith("HTTP 500")
    assert "abcdefghijklmnopqrstuvwx" not in reason


def test_apprise_debug_lines_reach_the_reason_but_not_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(logging.WARNING)  # as `monitor` sets it at --log-level info
    caplog.set_level(logging.DEBUG)
    assert reason_for(mail_url(free_port())) == "connection refused"
    levels = {r.levelno for r in caplog.records if r.name == "apprise"}
    assert levels == {logging.WARNING}  # the warning still shows; its DEBUG detail does not
    assert (apprise_log.level, apprise_log.propagate) == (logging.WARNING, True)


def mail_config(make_config: MakeConfig, tmp_path: Path) -> Path:
    feed = tmp_path / "f.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>T</title><item><title>Misrata shelled</title>'
        "<link>https://ex.org/1</link><guid>1</guid></item></channel></rss>"
    )
    return make_config(
        monitor="channels:\n  mail:\n    url: '${MAIL_URL}'\n",
        feeds=f"feeds:\n  - {{name: wire, title: Wire, url: '{feed}'}}\n",
        rules={"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [mail]}\n"},
    )


def poll_then_alerts(run_cli: RunCli, config: Path, db: Path, url: str) -> tuple[str, str]:
    """`monitor poll --once` with the mail channel at `url`; its summary, then `alerts`."""
    env = {"MAIL_URL": url}
    poll = run_cli("poll", "--once", "--config", str(config), "--db", str(db), env=env)
    assert poll.exit_code == 0, poll.output
    listing = run_cli("alerts", "--config", str(config), "--db", str(db), env=env)
    return poll.stderr, listing.stdout


def test_alerts_shows_a_refused_connection_end_to_end(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    config = mail_config(make_config, tmp_path)
    summary, listing = poll_then_alerts(run_cli, config, tmp_path / "m.db", mail_url(free_port()))
    assert "1 new story, 0 alerts sent, 0 printed to the console, 1 failed" in summary
    assert "pending" in listing and "(connection refused)" in listing


def test_alerts_shows_rejected_credentials_without_the_password(
    make_config: MakeConfig, run_cli: RunCli, strict_mailbox: Mailbox, tmp_path: Path
) -> None:
    config = mail_config(make_config, tmp_path)
    url = mail_url(strict_mailbox.port, login=f"desk:{PASSWORD}@")
    _, listing = poll_then_alerts(run_cli, config, tmp_path / "m.db", url)
    assert "(authentication failed: 535" in listing
    assert PASSWORD not in listing
    as_json = run_cli("alerts", "--json", "--config", str(config), "--db", str(tmp_path / "m.db"))
    [row] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert row["last_error"].startswith("authentication failed: 535")


def test_a_mail_that_arrives_is_counted_sent_not_printed(
    make_config: MakeConfig, run_cli: RunCli, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = mail_config(make_config, tmp_path)
    summary, _ = poll_then_alerts(run_cli, config, tmp_path / "m.db", mailbox.url())
    assert "polled 1 feed (0 failed): 1 new story, 1 alert sent, 0 printed" in summary
    assert len(mailbox.wait_for(1)) == 1
