"""Benchmarks behind BENCHMARKS.md: parse, match and store throughput on the shared corpus.

    .venv/bin/python bench/run.py [--repeat 5] [--items 20000]

Each figure is the median of --repeat runs, with a baseline measured in the same run so
the ratio survives a noisy machine. Needs ../shared/corpus beside the repository.
"""

from __future__ import annotations

import argparse
import json
import lzma
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import feedparser

from monitor.config import load_config
from monitor.feeds.parse import parse_feed
from monitor.models import NewStory, Story
from monitor.rules import parse_query
from monitor.rules.document import Document
from monitor.rules.matcher import Matcher, Rule
from monitor.store.sqlite import SQLiteStore

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def each(values: list[T], work: Callable[[T], object]) -> None:
    """Run work on every value, keeping no results (so the garbage collector has no
    growing heap to walk, which would slow the later runs)."""
    for value in values:
        work(value)


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` runs of `work`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load_feeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / "feeds").glob("*.xml"))]


def load_headlines(limit: int) -> list[Story]:
    stories = []
    with lzma.open(CORPUS / "headlines-2023" / "items.jsonl.xz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= limit:
                break
            item = json.loads(line)
            stories.append(
                Story(
                    feed=item["outlet"],
                    guid=item["link"],
                    link=item["link"],
                    title=item["title"] or "",
                    summary=item["summary"] or "",
                )
            )
    return stories


def synthetic_rules(stories: list[Story], count: int, seed: int = 7) -> list[Rule]:
    """Rules shaped like the bundled ones, from words that occur in the headlines."""
    rng = random.Random(seed)
    words = sorted(
        {w for s in stories[:2000] for w in s.title.split() if w.isalpha() and len(w) > 4}
    )
    rules = []
    for i in range(count):
        a, b, c, d = rng.sample(words, 4)
        query = f'({a} OR {b}*) AND ({c} OR "{d} {a}") NOT {b}~'
        rules.append(Rule(f"r{i}", f"r{i}", parse_query(query).node, ("console",)))
    return rules


def bench_parse(repeat: int) -> list[tuple[str, str, str]]:
    feeds = load_feeds()
    items = sum(len(parse_feed(d, feed="b").stories) for d in feeds)
    ours = median_seconds(lambda: each(feeds, lambda d: parse_feed(d, feed="b")), repeat)
    base = median_seconds(lambda: each(feeds, feedparser.parse), repeat)
    bare = median_seconds(
        lambda: each(
            feeds, lambda d: feedparser.parse(d, sanitize_html=False, resolve_relative_uris=False)
        ),
        repeat,
    )
    return [
        (
            "parse: monitor.parse_feed (bytes → plain-text stories)",
            f"{items / ours:,.0f} items/s",
            f"{base / ours:.2f}x",
        ),
        ("parse: feedparser.parse, defaults (baseline)", f"{items / base:,.0f} items/s", "1.00x"),
        (
            "parse: feedparser.parse, sanitising and URI resolving off",
            f"{items / bare:,.0f} items/s",
            f"{base / bare:.2f}x",
        ),
    ]


def bench_match(stories: list[Story], repeat: int) -> list[tuple[str, str, str]]:
    index_only = median_seconds(lambda: each(stories, lambda s: Document.of(s).vocabulary), repeat)
    rows = [
        (
            "match: index the story only (baseline)",
            f"{len(stories) / index_only:,.0f} stories/s",
            "1.00x",
        )
    ]
    bundled = Matcher(load_config(ROOT / "config").rules)
    for label, matcher in [
        ("match: bundled 3 rules", bundled),
        ("match: 100 synthetic rules", Matcher(synthetic_rules(stories, 100))),
        ("match: 1,000 synthetic rules", Matcher(synthetic_rules(stories, 1000))),
    ]:
        n = len(stories) if len(matcher.rules) < 1000 else len(stories) // 10
        sample = stories[:n]
        seconds = median_seconds(partial(each, sample, matcher.match), repeat)
        rows.append(
            (
                label,
                f"{n / seconds:,.0f} stories/s",
                f"{index_only / len(stories) / (seconds / n):.2f}x",
            )
        )
    return rows


def bench_store(stories: list[Story], repeat: int) -> list[tuple[str, str, str]]:
    now = datetime.now(UTC)
    batch = stories[:5000]

    def ours() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteStore(Path(tmp) / "b.db")
            for i in range(0, len(batch), 50):  # feeds arrive in polls of ~50 items
                store.add_stories([NewStory(s) for s in batch[i : i + 50]], now)
            store.close()

    def baseline() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            conn = sqlite3.connect(Path(tmp) / "b.db")
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute(
                "CREATE TABLE s (id INTEGER PRIMARY KEY, feed, guid, link, title, summary)"
            )
            for i in range(0, len(batch), 50):
                with conn:
                    conn.executemany(
                        "INSERT INTO s (feed, guid, link, title, summary) VALUES (?, ?, ?, ?, ?)",
                        [(s.feed, s.guid, s.link, s.title, s.summary) for s in batch[i : i + 50]],
                    )
            conn.close()

    a, b = median_seconds(ours, repeat), median_seconds(baseline, repeat)
    return [
        (
            "store: add_stories (dedupe + insert, 50 per poll)",
            f"{len(batch) / a:,.0f} stories/s",
            f"{b / a:.2f}x",
        ),
        (
            "store: plain sqlite3 executemany (baseline)",
            f"{len(batch) / b:,.0f} stories/s",
            "1.00x",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--items", type=int, default=20_000)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"needs the shared corpus at {CORPUS}")
    stories = load_headlines(args.items)
    rows = (
        bench_parse(args.repeat)
        + bench_match(stories, args.repeat)
        + bench_store(stories, args.repeat)
    )
    print(
        f"python {platform.python_version()} on {platform.machine()}, {platform.system()}; "
        f"median of {args.repeat}; {len(stories):,} headlines, {len(load_feeds())} feed files\n"
    )
    print("| what | throughput | vs baseline |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
