"""Configuration: the YAML in a config directory → validated, plain settings, with every
problem located as path:line:col.

    <dir>/monitor.yaml     database, poll defaults, delivery, channels
    <dir>/feeds.yaml       the feeds to poll
    <dir>/rules/*.yaml     the watch rules

ruamel.yaml keeps each node's line and column; pydantic checks the shape. A broken
feed or rule is reported as an error and left out, and everything else loads; an unusable
monitor.yaml raises ConfigError. `monitor run` and `poll` refuse to start on any error,
because a left-out rule would mark its stories as seen without alerting. Warnings (a
channel nothing reaches, a channel's unset secret) never stop anything.
"""

from monitor.config.load import Config, load_config
from monitor.config.rules import RuleSet, load_rules, rule_files
from monitor.config.schema import (
    CONSOLE,
    MAX_DURATION,
    ChannelSettings,
    DeliverySettings,
    FeedSettings,
    MonitorFile,
    PlaceSettings,
    PollSettings,
    RuleSettings,
    RulesFile,
    parse_duration,
    rules_schema,
)

__all__ = [
    "CONSOLE",
    "MAX_DURATION",
    "ChannelSettings",
    "Config",
    "DeliverySettings",
    "FeedSettings",
    "MonitorFile",
    "PlaceSettings",
    "PollSettings",
    "RuleSet",
    "RuleSettings",
    "RulesFile",
    "load_config",
    "load_rules",
    "parse_duration",
    "rule_files",
    "rules_schema",
]
