"""Notification: rendered messages → channels (apprise), plus the built-in console channel.

A channel is a name in monitor.yaml mapped to an apprise URL in which `${VAR}` is read
from the environment, so secrets stay out of the YAML. A channel whose variables are
unset is not an error: its alerts are printed to the console instead, which is what
`make run` on a fresh machine does.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import apprise

from monitor.config import CONSOLE, ChannelSettings
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
        sender = apprise.Apprise()
        if not sender.add(url):
            reason = "its URL is not one apprise understands"
            channels[name] = Channel(name, "console", "console", fallback=reason)
            continue
        plugin = sender[0]
        kind = _KINDS.get(type(plugin).__name__, "text")
        redacted = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
        channels[name] = Channel(name, kind, redacted, sender)
    return channels


class Notifier:
    """Sends rendered messages to channels by name."""

    def __init__(self, channels: Mapping[str, Channel], console: TextIO | None = None) -> None:
        self.channels = dict(channels)
        self.console = console or sys.stdout
        self._console_lock = threading.Lock()

    def fallback(self, channel: str) -> str | None:
        """Why a channel's alerts print to the console instead, or None if they do not."""
        target = self.channels.get(channel)
        if target is None:
            return f"channel {channel!r} is not configured"
        return target.fallback

    def kind(self, channel: str) -> str:
        """How to render for a channel; unknown channels go to the console."""
        return self.channels[channel].kind if channel in self.channels else "console"

    def send(self, channel: str, message: Message) -> str | None:
        """Deliver a message. Returns a note on how it went (e.g. a console fallback) or None;
        raises DeliveryError with the channel's own reason when it fails."""
        target = self.channels.get(channel)
        if target is None or target.sender is None:
            self._print(channel, message)
            reason = self.fallback(channel)
            return f"printed to the console: {reason}" if reason else None
        reasons: list[str] = []

        def collect(entry: Any, _plugin: Any = None) -> None:
            if getattr(entry, "level", logging.ERROR) >= logging.WARNING:
                reasons.append(str(getattr(entry, "message", entry)))

        result = target.sender.notify(
            body=message.body,
            title=message.title,
            body_format=_FORMATS[message.body_format],
            log_callback=collect,
            log_level=logging.WARNING,
        )
        if not result:
            raise DeliveryError("; ".join(reasons[-3:]) or f"{target.target} refused the message")
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
