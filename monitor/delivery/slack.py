"""Slack incoming webhooks, posted through httpx: which apprise Slack URLs are webhooks,
and the post of a Block Kit message with its failure as a DeliveryError (Retry-After read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from monitor.errors import DeliveryError
from monitor.timing import retry_after_seconds

SLACK_TIMEOUT = 15.0  # seconds; Slack answers a webhook in well under one


@dataclass(frozen=True)
class SlackHook:
    """Where a Slack channel's Block Kit messages are posted."""

    url: str
    channels: tuple[str, ...] = ()  # "#news" and the like from a slack:// URL


def slack_webhook(plugin: object) -> SlackHook | None:
    """The incoming-webhook URL behind an apprise Slack plugin (slack://A/B/C or
    https://hooks.slack.com/services/A/B/C), or None for bot tokens and workflows, which
    apprise keeps sending."""
    if type(plugin).__name__ != "NotifySlack" or getattr(plugin, "mode", None) != "hook":
        return None
    base = str(getattr(plugin, "webhook_url", ""))
    tokens = [getattr(plugin, f"token_{x}", None) for x in "abc"]
    if not base.startswith("https://") or not all(isinstance(t, str) and t for t in tokens):
        return None
    rooms = tuple(str(c) for c in getattr(plugin, "channels", None) or () if c)
    return SlackHook("/".join([base, *(str(t) for t in tokens)]), rooms)


def post_blocks(
    hook: SlackHook,
    payload: Mapping[str, Any],
    *,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
    scrub: Callable[[str], str] = str,
) -> None:
    """Post a Block Kit message to a Slack webhook ourselves: apprise builds its own
    blocks from a body (header, footer, icon) and its Markdown mode rebuilds mentions,
    so it cannot send ours as they are. Raises DeliveryError, its reason passed through
    `scrub` (which blanks the secrets out)."""
    for room in hook.channels or (None,):
        body = dict(payload, channel=room) if room else dict(payload)
        try:
            with httpx.Client(transport=transport, timeout=timeout) as client:
                response = client.post(hook.url, json=body)
        except httpx.ConnectTimeout:
            raise DeliveryError(f"could not connect within {timeout:g} s") from None
        except httpx.TimeoutException:
            # The post went out; Slack may have it. The caller decides what that means.
            raise DeliveryError(f"no answer within {timeout:g} s", unknown=True) from None
        except httpx.ConnectError as e:
            refused = "refused" in str(e).lower()
            raise DeliveryError("connection refused" if refused else scrub(str(e))) from None
        except httpx.HTTPError as e:
            raise DeliveryError(scrub(str(e) or type(e).__name__)) from None
        if response.status_code != 200:
            said = " ".join(response.text.split())[:200]
            reason = f"HTTP {response.status_code} {said}".strip()
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
            raise DeliveryError(scrub(reason), retry_after=wait)
