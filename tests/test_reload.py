"""Reload on SIGHUP, the logic the daemon calls: a valid configuration replaces the running
one (a feed added is polled at the next tick, new rules match), an invalid one is refused
as a whole with its problems at path:line:col and the running one stays in full."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.feeds.fetch import Fetcher
from monitor.models import PollStatus
from monitor.pipeline.poll import Poller
from monitor.pipeline.reload import apply_to_poller, load_for_reload
from monitor.rules.matcher import Matcher
from monitor.store.memory import MemoryStore
from tests.conftest import MakeConfig

ITEM = "<item><title>{t}</title><guid>{g}</guid></item>"


def feed_file(path: Path, *titles: str) -> str:
    items = "".join(ITEM.format(t=t, g=f"{path.stem}-{i}") for i, t in enumerate(titles))
    path.write_text(f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>')
    return str(path)


def rules(query: str) -> dict[str, str]:
    return {"r.yaml": f"rules:\n  - {{id: watch, query: '{query}', channels: [console]}}\n"}


def test_a_valid_configuration_takes_effect_at_the_next_tick(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    wire = feed_file(tmp_path / "wire.xml", "Misrata port reopens")
    extra = feed_file(tmp_path / "extra.xml", "Sirte airport closed")
    config = make_config(
        feeds=f"feeds:\n  - {{name: wire, url: '{wire}'}}\n", rules=rules("Misrata")
    )
    first = load_config(config)
    store = MemoryStore()
    store.sync_feeds(first.feeds)
    with Fetcher() as fetcher:
        poller = Poller(store=store, fetcher=fetcher, matcher=Matcher(first.rules))
        assert [r.alerts for r in poller.poll_due(first.feeds)] == [1]

        both = f"feeds:\n  - {{name: wire, url: '{wire}'}}\n  - {{name: extra, url: '{extra}'}}\n"
        make_config(feeds=both, rules=rules("Sirte"))
        reload = load_for_reload(config, env={})
        assert reload.accepted and reload.config is not None
        feeds = apply_to_poller(poller, reload.config)

        # The feed added is due at once; the wire is not due again before its interval.
        results = poller.poll_due(feeds)
    assert [(r.feed, r.status, r.alerts) for r in results] == [("extra", PollStatus.OK, 1)]
    assert [f.name for f in feeds] == ["wire", "extra"]


def test_an_invalid_configuration_is_refused_whole_and_the_running_one_stays(
    make_config: MakeConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wire = feed_file(tmp_path / "wire.xml", "Misrata port reopens")
    config = make_config(
        feeds=f"feeds:\n  - {{name: wire, url: '{wire}'}}\n", rules=rules("Misrata")
    )
    running = load_config(config)
    store = MemoryStore()
    store.sync_feeds(running.feeds)
    matcher = Matcher(running.rules)
    # One good change (a second feed) and one broken rule: nothing of it is taken.
    make_config(
        feeds=f"feeds:\n  - {{name: wire, url: '{wire}'}}\n  - {{name: new, url: '{wire}'}}\n",
        rules=rules("Misrata AND (Sirte"),
    )

    with caplog.at_level(logging.ERROR, logger="monitor.pipeline.reload"):
        reload = load_for_reload(config, env={})

    assert not reload.accepted and reload.config is None
    errors = [p for p in reload.problems if p.is_error]
    assert errors and all(p.path.endswith("r.yaml") and p.line >= 1 for p in errors)
    logged = [r.getMessage() for r in caplog.records]
    assert any(re.search(r"r\.yaml:\d+:\d+: ", m) for m in logged), logged
    assert any("still running the previous one in full" in m for m in logged)
    # Nothing was applied: the running feeds and rules are as they were.
    assert [d.name for d in store.due_feeds(None)] == ["wire"]
    assert matcher.rules == running.rules


def test_an_unusable_monitor_yaml_is_refused_with_its_position(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config()
    (config / "monitor.yaml").write_text("poll:\n  interval: [nonsense\n")
    reload = load_for_reload(config, env={})
    assert not reload.accepted
    assert reload.problems and reload.problems[0].path.endswith("monitor.yaml")
    assert str(reload.problems[0]).startswith(f"{config / 'monitor.yaml'}:")
