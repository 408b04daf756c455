"""The matching benchmark still runs against the code it measures (tiny sizes)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType


def test_the_rules_benchmark_reports_rates_memory_and_a_baseline(
    corpus: Path, bench_rules: ModuleType
) -> None:
    bench = bench_rules
    stories = bench.load_stories(1, outlets=("bbc",))
    assert stories
    rows = bench.bench(stories, [10, 100], repeat=1, baseline_budget=2000)
    assert [row["rules"] for row in rows] == [10, 100]
    for row in rows:
        assert row["stories_per_s"] > 0 and row["baseline_per_s"] > 0 and row["peak_mib"] > 0
    table = bench.report(rows, len(stories), 1)
    assert "| 100 |" in table
    assert "100 rules cost" in table
