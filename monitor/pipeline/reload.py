"""Reloading the configuration on SIGHUP: a valid new configuration replaces the running
one as a whole; an invalid one is refused as a whole, with every problem at path:line:col,
and the running configuration stays in full (as Prometheus and Alertmanager do).

`load_for_reload` decides; `apply_to_poller` puts a new configuration's polling side in
place (feeds, rules, polling policy). The daemon calls both from its signal-driven reload
(the delivery side — channels — is the delivery job's to swap).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import Config, load_config
from monitor.errors import ConfigError, Problem
from monitor.feeds.policy import PollPolicy
from monitor.models import Feed
from monitor.pipeline.poll import Poller
from monitor.rules.matcher import Matcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reload:
    """The outcome of reading the configuration again: `config` when it may replace the
    running one, else None and the `problems` (errors and warnings) that refuse it."""

    config: Config | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.config is not None


def load_for_reload(config_dir: str | Path, env: Mapping[str, str] | None = None) -> Reload:
    """Load and check the configuration as `monitor run` does at start. Any error refuses
    the whole of it; warnings alone do not. Every problem is logged at path:line:col."""
    try:
        config = load_config(config_dir, os.environ if env is None else env)
    except ConfigError as e:
        for problem in e.problems:
            log.error("reload refused: %s", problem)
        return Reload(None, list(e.problems))
    for problem in config.problems:
        (log.error if problem.is_error else log.warning)("reload: %s", problem)
    if config.errors:
        errors = sum(1 for p in config.problems if p.is_error)
        log.error(
            "reload refused: the configuration in %s has %d error%s; still running the "
            "previous one in full",
            config_dir,
            errors,
            "" if errors == 1 else "s",
        )
        return Reload(None, list(config.problems))
    return Reload(config, list(config.problems))


def apply_to_poller(poller: Poller, config: Config) -> list[Feed]:
    """Put a reloaded configuration's polling side in place: the store learns the feeds
    (a feed added is due at once, a removed one is no longer polled), the poller gets the
    new rules and polling policy. Returns the feeds for the daemon's next ticks."""
    poll = config.settings.poll
    poller.store.sync_feeds(config.feeds)
    poller.matcher = Matcher(config.rules)
    poller.policy = PollPolicy(
        retry_after_error=poll.retry_after_error,
        max_backoff=poll.max_backoff,
        max_interval=poll.max_interval,
        unhealthy_after=poll.unhealthy_after,
        jitter=poll.jitter,
    )
    poller.per_host = poll.per_host
    poller.max_age = poll.max_age
    log.info("configuration reloaded: %d feeds, %d rules", len(config.feeds), len(config.rules))
    return list(config.feeds)
