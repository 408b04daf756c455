"""The benchmark script still runs against the code it measures (on a tiny sample)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT, load_bench_script


def load_bench() -> ModuleType:
    return load_bench_script("run")


def test_the_match_and_store_benchmarks_run_and_report_rates(corpus: Path) -> None:
    bench = load_bench()
    stories = bench.load_headlines(300)
    assert len(stories) == 300
    rows = bench.bench_match(stories, repeat=1) + bench.bench_store(stories, repeat=1)
    assert [label.split(":")[0] for label, _, _ in rows] == ["match"] * 4 + ["store"] * 2
    for _, rate, ratio in rows:
        assert float(rate.split()[0].replace(",", "")) > 0
        assert ratio.endswith("x")


def test_the_soak_replays_real_snapshots_through_the_pipeline(corpus: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--outlets", "bbc", "--limit", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("4 polls of bbc: ")
    assert "| whole pipeline (read file → … → deliver) |" in result.stdout
    assert "resident memory (MiB)" in result.stdout
