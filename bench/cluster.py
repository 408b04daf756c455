"""Identity and clustering over a whole archive: all of headlines-2023 in date order.

    .venv/bin/python -m bench.cluster [--limit N] [--block 1000] [--memory]

Streams the 126,026 items of ../shared/corpus/headlines-2023/items.jsonl.xz (sorted by
published time) through `identity_keys` and `ClusterIndex.place`, one at a time, as a
daemon would (run it with -m from the checkout, so that the checkout's `monitor/` is the one
measured). Prints the CPU cost per story in the block of --block stories ending at 1,000,
10,000 and the last item (and the median block), the ratio of the last to the first, the
total time, the index's size, peak memory, the number of clusters, and the pairwise
precision and recall of the labelled pairs (tests/data/cluster_pairs.jsonl.xz) in this full
stream. --memory traces Python allocations (tracemalloc; slower) to show that what the
index holds follows the window, not the archive.
"""

from __future__ import annotations

import argparse
import json
import lzma
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from monitor.dedupe import KeyKind, identity_keys
from monitor.dedupe.cluster import ClusterIndex, ClusterItem
from monitor.models import Story

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ROOT.parent / "shared" / "corpus" / "headlines-2023" / "items.jsonl.xz"
PAIRS = ROOT / "tests" / "data" / "cluster_pairs.jsonl.xz"
CHECKPOINTS = (1_000, 10_000)


def read_items(limit: int | None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, item) of the archive in its order (by published time)."""
    with lzma.open(ITEMS, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if limit is not None and number > limit:
                return
            yield number, json.loads(line)


def to_item(row: dict[str, str]) -> ClusterItem:
    """Identity, then the item clustering sees, keyed by the story's canonical link."""
    story = Story(feed=row["outlet"], guid=row["link"], link=row["link"], title=row["title"])
    key = next((k.value for k in identity_keys(story) if k.kind is KeyKind.LINK), row["link"])
    published = datetime.fromisoformat(row["published"])
    return ClusterItem.of_html(key, row["outlet"], row["title"], row["summary"] or "", published)


def labelled_pairs() -> list[tuple[int, int, bool]]:
    """The labelled pairs, by archive line."""
    with lzma.open(PAIRS, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [(r["pair"]["a"], r["pair"]["b"], r["pair"]["same"]) for r in rows if "pair" in r]


def run(limit: int | None, block: int, memory: bool) -> dict[str, object]:
    """Place every item; time each block of `block` stories."""
    index = ClusterIndex()
    labelled = labelled_pairs()
    wanted = {n for a, b, _ in labelled for n in (a, b)}
    cluster_of_line: dict[int, int] = {}
    clusters: set[int] = set()
    block_costs: list[tuple[int, float]] = []  # (stories so far, seconds per story)
    traced: list[tuple[int, float, int]] = []  # (stories, MiB held, live stories)
    if memory:
        tracemalloc.start()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    placing = 0.0  # CPU seconds (the machine is shared: wall time says more of the others)
    count = 0
    wall = time.perf_counter()
    for line, row in read_items(limit):
        started = time.process_time()
        decision = index.place(to_item(row))
        placing += time.process_time() - started
        count += 1
        clusters.add(decision.cluster_id)
        if line in wanted:
            cluster_of_line[line] = decision.cluster_id
        if count % block == 0:
            block_costs.append((count, placing))
            if memory:
                traced.append(
                    (count, tracemalloc.get_traced_memory()[0] / 2**20, index.live_stories)
                )
    wall = time.perf_counter() - wall
    peak_traced = tracemalloc.get_traced_memory()[1] / 2**20 if memory else None
    if memory:
        tracemalloc.stop()
    costs = []
    previous = 0.0
    for stories, total in block_costs:
        costs.append((stories, (total - previous) / block))
        previous = total
    tp = fp = fn = judged = 0
    for a, b, same in labelled:
        if a not in cluster_of_line or b not in cluster_of_line:
            continue
        judged += 1
        together = cluster_of_line[a] == cluster_of_line[b]
        tp += together and same
        fp += together and not same
        fn += same and not together
    return {
        "count": count,
        "seconds": placing,
        "wall": wall,
        "costs": costs,
        "clusters": len(clusters),
        "live": (index.live_stories, index.live_clusters),
        "rss_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024,
        "peak_traced": peak_traced,
        "traced": traced,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "pairs": judged,
    }


def report(result: dict[str, object], block: int) -> str:
    """The figures as a Markdown table and a few lines."""
    costs: list[tuple[int, float]] = result["costs"]  # type: ignore[assignment]
    count: int = result["count"]  # type: ignore[assignment]
    if not costs:
        return f"{count} stories: fewer than one block of {block}"
    by_end = dict(costs)
    rows = [(n, by_end[n]) for n in CHECKPOINTS if n in by_end]
    rows.append((costs[-1][0], costs[-1][1]))
    lines = [
        f"python {platform.python_version()} on {platform.machine()}; {count:,} stories of "
        f"headlines-2023 in date order; cost per story = mean over the block of {block:,} "
        "stories ending there (CPU time)",
        "",
        "| stories placed | ms per story | vs the first block |",
        "|---|---|---|",
    ]
    first = costs[0][1]
    for stories, cost in dict.fromkeys(rows):
        lines.append(f"| {stories:,} | {cost * 1000:.3f} | {cost / first:.2f}x |")
    median = statistics.median(c for _, c in costs)
    lines.append(f"| median block | {median * 1000:.3f} | {median / first:.2f}x |")
    live: tuple[int, int] = result["live"]  # type: ignore[assignment]
    live_stories, live_clusters = live
    lines += [
        "",
        f"total: {result['seconds']:.1f} s of CPU placing (identity + clustering), "
        f"{count / float(result['seconds']):,.0f} stories/s; "  # type: ignore[arg-type]
        f"{result['wall']:.1f} s wall for the whole run (reading the archive too)",
        f"clusters: {result['clusters']:,} (live at the end: {live_clusters:,} clusters of "
        f"{live_stories:,} stories)",
        f"peak memory: +{result['rss_mib']:.0f} MiB resident over the run",
    ]
    if result["peak_traced"] is not None:
        traced: list[tuple[int, float, int]] = result["traced"]  # type: ignore[assignment]
        held = [
            f"{n:,}: {mib:.1f} MiB/{live:,} live"
            for n, mib, live in traced[:: max(1, len(traced) // 6)]
        ]
        lines.append(f"traced Python memory held, by stories placed: {'; '.join(held)}")
        lines.append(f"traced peak: {result['peak_traced']:.1f} MiB")
    lines.append(
        f"labelled pairs in this stream ({result['pairs']}): pairwise precision "
        f"{result['precision']:.3f}, recall {result['recall']:.3f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N items")
    parser.add_argument("--block", type=int, default=1_000)
    parser.add_argument("--memory", action="store_true", help="trace allocations (slower)")
    args = parser.parse_args(argv)
    if not ITEMS.exists():
        sys.exit(f"needs the shared corpus at {ITEMS}")
    print(report(run(args.limit, args.block, args.memory), args.block))


if __name__ == "__main__":
    main()
