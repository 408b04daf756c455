"""add_stories throughput of this tree against an older release, in alternating runs.

    git archive <rev> monitor | tar -x -C /tmp/old
    .venv/bin/python bench/store_vs.py /tmp/old

Each side runs in its own process (the two trees are both the `monitor` package), five
batches of 5,000 real headlines in polls of 50, three rounds alternating old and new, so
that the machine's noise falls on both alike. The old tree may predate `NewStory`.
"""

from __future__ import annotations

import json
import lzma
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
ROUNDS = 3


def measure(count: int = 5000) -> float:
    """Median stories/s of add_stories for the `monitor` package on sys.path."""
    from monitor.models import Story

    stories = []
    with lzma.open(CORPUS / "headlines-2023" / "items.jsonl.xz", "rt", encoding="utf-8") as f:
        for line, _ in zip(f, range(count), strict=False):
            item = json.loads(line)
            title, summary = item["title"] or "", item["summary"] or ""
            stories.append(Story(item["outlet"], item["link"], item["link"], title, summary))
    try:
        from monitor.models import NewStory
        from monitor.store.sqlite import SQLiteStore

        def batch(xs: list[Story]) -> list[Any]:
            return [NewStory(s) for s in xs]
    except ImportError:  # the release before the store package
        from monitor.sqlite import SQLiteStore  # type: ignore[no-redef,import-not-found]

        def batch(xs: list[Story]) -> list[Any]:
            return [(s, ()) for s in xs]

    now, times = datetime.now(UTC), []
    for _ in range(5):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            store = SQLiteStore(Path(tmp) / "b.db")
            for i in range(0, len(stories), 50):
                store.add_stories(batch(stories[i : i + 50]), now)
            store.close()
            times.append(time.perf_counter() - started)
    return len(stories) / statistics.median(times)


def run_side(tree: Path) -> float:
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); import store_vs; print(store_vs.measure())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    old_tree, new_tree = Path(sys.argv[1]).resolve(), Path(__file__).resolve().parent.parent
    old, new = [], []
    for _ in range(ROUNDS):
        old.append(run_side(old_tree))
        new.append(run_side(new_tree))
    o, n = statistics.median(old), statistics.median(new)
    print(f"| add_stories, {old_tree.name} | {o:,.0f} stories/s | 1.00x |")
    print(f"| add_stories, this tree | {n:,.0f} stories/s | {n / o:.2f}x |")


if __name__ == "__main__":
    main()
