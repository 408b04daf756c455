"""The matching benchmark still runs against the code it measures (tiny sizes)."""

from __future__ import annotations

import random
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


def test_the_news_vocabulary_is_drawn_apart_from_the_benched_stories(
    corpus: Path, bench_rules: ModuleType
) -> None:
    """The default generator's words come from the 2023 headlines and the gazetteer, with
    a Zipf-like skew; the old one (`--vocab stories`) stays as it was."""
    bench = bench_rules
    stories = bench.load_stories(1, outlets=("bbc",))
    topic, names = bench.news_vocabulary()
    assert "biden" in names[:20] and "what" not in names and "after" not in topic
    queries, places = bench.generate_rules(stories, 200)
    assert len(queries) == 200 and len(places) == 40
    assert all(len(p.names) >= 1 for p in places.values())
    draw = bench.zipf(["a", "b", "c", "d"], random.Random(1))
    counts = {x: 0 for x in "abcd"}
    for _ in range(4000):
        counts[draw()] += 1
    assert counts["a"] > counts["b"] > counts["c"] > counts["d"] > 0
    old, _ = bench.generate_rules(stories, 50, vocab="stories")
    assert old != queries[:50] and len(old) == 50


def test_the_warm_up_stories_are_other_stories_of_the_same_outlets(
    corpus: Path, bench_rules: ModuleType
) -> None:
    """What the matcher learns its filing from before it is timed is never a timed story,
    and the outlets take turns in it, as polling has them."""
    bench = bench_rules
    stories = bench.load_stories(1, outlets=("bbc", "cnn"))
    warmup = bench.warmup_stories(stories, 1)
    timed = {(s.title, s.summary) for s in stories}
    assert warmup and not timed & {(s.title, s.summary) for s in warmup}
    assert {s.feed for s in warmup[:20]} >= {"bbc", "cnn"}
