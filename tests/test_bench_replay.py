"""bench/replay.py still replays through the code it measures (two outlets, a few
snapshots each; no timing), and its counts agree with each other."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_the_replay_benchmark_delivers_every_alert_it_produces_once(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Imported by name from bench/, as `python bench/replay.py` finds its helper modules
    # beside it (the feed server's spawned process imports them by name too).
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    bench = importlib.import_module("replay")
    # Al Jazeera's first days (a Libya story, email only) and the AP scrape's (Libya and
    # ceasefire stories, Slack and email), in one simulated time from 2020 to 2025.
    report = bench.main(["--outlets", "aljazeeraenglish,apnews-scrape", "--limit", "20"])

    assert report.steps > 0 and report.stories > 0 and report.alerts > 0
    outlets = report.outlets.values()
    assert sum(o.snapshots for o in outlets) == 40
    assert sum(o.ok + o.not_modified for o in outlets) == sum(report.polls.values())
    assert sum(o.new_stories for o in outlets) == report.stories
    # Every alert queued reached its sink, alone or in a digest, and none twice.
    assert sum(o.alerts for o in outlets) == report.alerts
    assert report.delivered == report.alerts
    assert report.sink_alone == report.sent_alone
    assert report.sink_repeats == 0
    assert report.sink_alone["desk-slack"] > 0 and report.sink_alone["desk-email"] > 0
    assert "| aljazeeraenglish | 20 |" in capsys.readouterr().out
