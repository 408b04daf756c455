"""Notification: rendered messages → channels (apprise), plus the built-in console channel.

A channel is a name in monitor.yaml mapped to an apprise URL in which `${VAR}` is read
from the environment, so secrets stay out of the YAML. A channel whose variables are
unset is not an error: its alerts are printed to the console as a preview and held
until it is set (the pipeline decides), which is what `make run` on a fresh machine does.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import unquote

import apprise
import httpx
from apprise.plugins.email import base as _email_base

from monitor.config import CONSOLE, ChannelSettings
from monitor.delivery.slack import SLACK_TIMEOUT, post_blocks, slack_webhook
from monitor.errors import DeliveryError
from monitor.models import Message

log = logging.getLogger(__name__)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_KINDS = {"NotifySlack": "slack", "NotifyEmail": "email"}


def expand_env(template: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default} from env; also return the names left unset."""
    missing: list[str] = []

    def value(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _VAR.sub(value, template), missing


@dataclass(frozen=True)
class Channel:
    """A channel ready to send: its kind decides how alerts are rendered for it."""

    name: str
    kind: str  # console, slack, email, text
    target: str  # what logs may show: the redacted URL, or "console"
    sender: apprise.Apprise | None = None
    fallback: str | None = None  # why a configured channel prints to the console instead
    secrets: frozenset[str] = frozenset()  # what a failure reason must never show
    timezone: str | None = None  # the readers' time zone (IANA), for times in messages


# Shorter strings are too likely to be ordinary words of a reason to blank out.
MIN_SECRET_CHARS = 4


def url_secrets(full: str, private: str) -> frozenset[str]:
    """The parts of a channel URL that its redacted form hides: passwords, tokens."""
    parts = re.split(r"[/:@?&=#]+", full)
    return frozenset(
        value
        for part in parts
        for value in (part, unquote(part))
        if len(value) >= MIN_SECRET_CHARS and part not in private
    )


def _env_secrets(template: str, env: Mapping[str, str]) -> frozenset[str]:
    # Whatever came from ${VAR} is a secret by convention: that is why it is not in the YAML.
    values = (env.get(m.group(1), "") for m in _VAR.finditer(template))
    return frozenset(v for v in values if len(v) >= MIN_SECRET_CHARS)


def url_understood(url: str) -> bool:
    """Whether apprise can send to this URL (its `${VAR}`s already filled in)."""
    return bool(apprise.Apprise().add(url))


def build_channels(
    settings: Mapping[str, ChannelSettings], env: Mapping[str, str]
) -> dict[str, Channel]:
    """Every configured channel plus `console`, with secrets filled in from env."""
    channels = {CONSOLE: Channel(CONSOLE, "console", "console")}
    for name, channel in settings.items():
        url, missing = expand_env(channel.url, env)
        if missing:
            reason = f"{', '.join(missing)} not set"
            channels[name] = Channel(name, "console", "console", fallback=reason)
            continue
        # The channel's timeout (each connect and read) is the only limit on a send:
        # apprise's own budget per send (60 s) would cut a longer one short, and report a
        # send it stopped waiting for (which may arrive all the same) as failed.
        sender = apprise.Apprise(asset=apprise.AppriseAsset(service_timeout=0))
        if not sender.add(url):
            reason = "its URL is not one apprise understands"
            channels[name] = Channel(name, "console", "console", fallback=reason)
            continue
        plugin = sender[0]
        # Pacing is ours (per channel, reading Retry-After); apprise's own throttle sleeps
        # 5.5 s between two emails of one process.
        plugin.request_rate_per_sec = 0
        kind = _KINDS.get(type(plugin).__name__, "text")
        redacted = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
        full = str(plugin.url(privacy=False))  # type: ignore[no-untyped-call]
        secrets = url_secrets(full, redacted) | _env_secrets(channel.url, env)
        channels[name] = Channel(
            name, kind, redacted, sender, secrets=secrets, timezone=channel.timezone
        )
    return channels


def redact(text: str, secrets: Collection[str]) -> str:
    """Text with every secret blanked out, the longest first (a token may contain another)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _smtp_reply(m: re.Match[str]) -> str:
    return f"{m.group(1)} {m.group(2)}".strip()


# What apprise's log says about a failed send → the reason we store, most specific first.
# apprise words its warnings vaguely ("Connection error while submitting email"); the cause
# is in its DEBUG lines: the exception text ("[Errno 111] Connection refused"), an SMTP
# reply as Python reprs it ("(535, b'5.7.8 ...')"), or the HTTP status ("error=500").
_SMTP_REPLY = r"\((\d{3}), b['\"](.*?)['\"]\)"
_REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(r"\((53[045]), b['\"](.*?)['\"]\)"),
        lambda m: f"authentication failed: {_smtp_reply(m)}",
    ),
    (re.compile(r"error=(401|403)\b"), lambda m: f"authentication failed: HTTP {m.group(1)}"),
    (re.compile(r"Errno 111\]|Connection refused", re.I), lambda m: "connection refused"),
    (re.compile(r"timed out|timeout", re.I), lambda m: "timed out"),
    (
        re.compile(
            r"Name or service not known|nodename nor servname|getaddrinfo failed"
            r"|Temporary failure in name resolution|Errno -[235]\]"
        ),
        lambda m: "host not found",
    ),
    (
        re.compile(r"\[SSL[:\]]|SSLError|STARTTLS extension not supported"),
        lambda m: "TLS failed",
    ),
    (re.compile(_SMTP_REPLY), lambda m: f"the server refused it: {_smtp_reply(m)}"),
    (
        re.compile(r"(?::\s*([^:]*?)\.?,\s*)?error=(\d{3})\b"),
        lambda m: " ".join(filter(None, (f"HTTP {m.group(2)}", m.group(1)))),
    ),
    (
        re.compile(r"unexpectedly closed|Connection reset|RemoteDisconnected", re.I),
        lambda m: "the server closed the connection",
    ),
)


def failure_reason(entries: Sequence[tuple[int, str]], secrets: Collection[str] = ()) -> str | None:
    """Why a send failed, from apprise's log entries (level, message); None if it says nothing.

    The first known cause in `_REASONS` order wins; otherwise the last warnings, as worded.
    """
    messages = [message for _, message in entries]
    for pattern, reason in _REASONS:
        for message in messages:
            if m := pattern.search(message):
                return redact(reason(m), secrets)
    warnings = [message for level, message in entries if level >= logging.WARNING]
    return redact("; ".join(warnings[-3:]), secrets) if warnings else None


def _level(name: object) -> int:
    """A log level as a number: apprise 2.x gives entries its level name ("WARNING")."""
    if isinstance(name, int):
        return name
    number = logging.getLevelName(str(name))
    return number if isinstance(number, int) else logging.WARNING


class _Relay(logging.Handler):
    """Passes apprise's records on to the root handlers, at the level they saw before."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


_apprise_log = logging.getLogger("apprise")
_debug_lock = threading.Lock()
_debug_users = 0
_debug_saved: tuple[int, bool, _Relay] | None = None


@contextmanager
def _apprise_debug() -> Iterator[None]:
    """Make apprise create its DEBUG records (where the causes are) for our capture only.

    A logger below its level creates no record at all, so its level must drop. Its records
    then stop propagating and go through a relay that lets through only what the configured
    level did before: the operator's stderr gets no DEBUG lines (some name a webhook URL).
    """
    global _debug_users, _debug_saved
    with _debug_lock:
        if _debug_users == 0:
            relay = _Relay(_apprise_log.getEffectiveLevel())
            _debug_saved = (_apprise_log.level, _apprise_log.propagate, relay)
            _apprise_log.addHandler(relay)
            _apprise_log.propagate = False
            _apprise_log.setLevel(logging.DEBUG)
        _debug_users += 1
    try:
        yield
    finally:
        with _debug_lock:
            _debug_users -= 1
            if _debug_users == 0 and _debug_saved is not None:
                level, propagate, relay = _debug_saved
                _apprise_log.removeHandler(relay)
                _apprise_log.propagate = propagate
                _apprise_log.setLevel(level)
                _debug_saved = None


def message_id(alert_id: int, story_link: str) -> str:
    """The email Message-ID of one alert: the same on every send, so a duplicate after a
    crash is recognisable (and mail clients fold it away)."""
    digest = hashlib.sha256(f"{alert_id}\0{story_link}".encode()).hexdigest()[:12]
    return f"<alert-{alert_id}.{digest}@monitor>"


# apprise's email plugin writes `Message-ID: make_msgid(...)` itself, after any header we
# pass (a `+Message-ID` URL header would make two). So its module's make_msgid is replaced
# by one that returns ours during one of our sends. The value is a context variable, not a
# global under a lock: each channel sends in its own thread, and a lock held for a whole
# send made one stalled email server hold up every other email channel. Where apprise runs
# a send in its worker pool, it passes a copy of the caller's context, so the value goes too.
_next_message_id: ContextVar[str | None] = ContextVar("monitor_message_id", default=None)
_apprise_make_msgid: Callable[..., str] = _email_base.make_msgid  # type: ignore[attr-defined]


def _make_msgid(*args: Any, **kwargs: Any) -> str:
    return _next_message_id.get() or _apprise_make_msgid(*args, **kwargs)


_email_base.make_msgid = _make_msgid  # type: ignore[attr-defined]


@contextmanager
def _with_message_id(value: str | None) -> Iterator[None]:
    if value is None:
        yield
        return
    token = _next_message_id.set(value)
    try:
        yield
    finally:
        _next_message_id.reset(token)


class Notifier:
    """Sends rendered messages to channels by name."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        console: TextIO | None = None,
        http: httpx.BaseTransport | None = None,
    ) -> None:
        self.channels = dict(channels)
        self.http = http  # what Slack posts go through: tests put Slack's side here
        self.console = console or sys.stdout
        self._console_lock = threading.Lock()

    def fallback(self, channel: str) -> str | None:
        """Why a channel's alerts print to the console instead, or None if they do not."""
        target = self.channels.get(channel)
        if target is None:
            return f"channel {channel!r} is not configured"
        return target.fallback

    def timezone(self, channel: str) -> str | None:
        """The channel's time zone, if its settings name one."""
        target = self.channels.get(channel)
        return target.timezone if target else None

    def kind(self, channel: str) -> str:
        """How to render for a channel; unknown channels go to the console."""
        return self.channels[channel].kind if channel in self.channels else "console"

    def send(
        self,
        channel: str,
        message: Message,
        *,
        msgid: str | None = None,
        timeout: float | None = None,
    ) -> str | None:
        """Deliver a message (an email with Message-ID `msgid`, when given), waiting at most
        `timeout` seconds for the service's answer. Returns a note on how it went (e.g. a
        console fallback) or None; raises DeliveryError with the channel's own reason when
        it fails (`unknown` when no answer came in time)."""
        target = self.channels.get(channel)
        if target is None or target.sender is None:
            self._print(channel, message)
            reason = self.fallback(channel)
            return f"printed to the console: {reason}" if reason else None
        hook = slack_webhook(target.sender[0]) if message.payload is not None else None
        if hook is not None and message.payload is not None:
            post_blocks(
                hook,
                message.payload,
                timeout=timeout or SLACK_TIMEOUT,
                transport=self.http,
                scrub=lambda text: redact(text, target.secrets),
            )
            return None
        plugin = target.sender[0]
        if timeout is not None:
            # apprise reads its timeouts from the plugin at each send; one thread per channel.
            plugin.socket_read_timeout = timeout
            if target.kind == "email":  # smtplib has one timeout, apprise's connect timeout
                plugin.socket_connect_timeout = timeout
        entries: list[tuple[int, str]] = []

        def collect(entry: Any, _plugin: Any = None) -> None:
            entries.append((_level(getattr(entry, "level", None)), str(entry.message)))

        with _apprise_debug(), _with_message_id(msgid if target.kind == "email" else None):
            result = target.sender.notify(
                body=message.body,
                title=message.title,
                body_format=_FORMATS[message.body_format],
                log_callback=collect,
                log_level=logging.DEBUG,  # TRACE (which logs the login name) stays out
            )
        if not result:
            reason = failure_reason(entries, target.secrets)
            said = " ".join(text for _, text in entries).lower()
            raise DeliveryError(
                reason or f"{target.target} refused the message",
                unknown="read timed out" in said or "read timeout" in said,
            )
        return None

    def _print(self, channel: str, message: Message) -> None:
        with self._console_lock:
            print(f"── alert [{channel}] " + "─" * 40, file=self.console)
            print(message.body, file=self.console, flush=True)


_FORMATS = {
    "text": apprise.NotifyFormat.TEXT,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "html": apprise.NotifyFormat.HTML,
}
