"""Soak: replay real feed histories through the whole pipeline and watch time and memory.

    .venv/bin/python bench/soak.py [--outlets bbc,nytimes,cnn,aljazeeraenglish] [--limit 0]

Each snapshot of each outlet (corpus/replay/<outlet>.tar.xz) is written to a file feed and
polled through fetch → parse → store → match → alerts → console delivery, as the daemon
would over 18 months. Reports the median time per poll next to parsing alone (the
baseline, same snapshots, same run), and the process's resident memory after each quarter
of the polls: a daemon that grows here would grow under systemd.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from monitor.config import load_config
from monitor.delivery.channels import Notifier, build_channels
from monitor.errors import ParseError
from monitor.feeds.fetch import Fetcher
from monitor.feeds.parse import parse_feed
from monitor.models import BacklogPolicy, Feed
from monitor.pipeline import Pipeline
from monitor.rules.matcher import Matcher
from monitor.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ROOT.parent / "shared" / "corpus" / "replay"


def rss_mib() -> float:
    """Resident set size now, from /proc (peak from getrusage where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def snapshots(outlets: list[str], limit: int) -> list[tuple[str, bytes]]:
    """(outlet, bytes) in time order per outlet, interleaved as a daemon would see them."""
    series: list[list[tuple[str, bytes]]] = []
    for outlet in outlets:
        with tarfile.open(REPLAY / f"{outlet}.tar.xz") as archive:
            members = [m for m in archive.getmembers() if m.isfile()]
            data = [(outlet, archive.extractfile(m).read()) for m in members]  # type: ignore[union-attr]
        series.append(data[:limit] if limit else data)
    longest = max(len(s) for s in series)
    return [s[i] for i in range(longest) for s in series if i < len(s)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--outlets", default="bbc,nytimes,cnn,aljazeeraenglish")
    parser.add_argument("--limit", type=int, default=0, help="snapshots per outlet (0: all)")
    args = parser.parse_args()
    polls = snapshots(args.outlets.split(","), args.limit)
    rules = load_config(ROOT / "config").rules

    baseline = []
    for outlet, body in polls:
        started = time.perf_counter()
        with contextlib.suppress(ParseError):  # empty and truncated snapshots are real too
            parse_feed(body, feed=outlet)
        baseline.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "soak.db", writer=True)
        # Replayed years after the fact: every story is older than poll.max_age, so the
        # backlog check is off, as the daemon would have polled them when new.
        feeds = {
            o: Feed(o, str(Path(tmp) / f"{o}.xml"), o, 60, backlog=BacklogPolicy.ALERT)
            for o in {o for o, _ in polls}
        }
        store.sync_feeds(list(feeds.values()))
        out = io.StringIO()
        pipeline = Pipeline(
            store=store,
            fetcher=Fetcher(),
            matcher=Matcher(rules),
            notifier=Notifier(build_channels({}, {}), console=out),
        )
        times, memory, new, alerts = [], [rss_mib()], 0, 0
        quarter = max(1, len(polls) // 4)
        for i, (outlet, body) in enumerate(polls, 1):
            Path(feeds[outlet].url).write_bytes(body)
            started = time.perf_counter()
            results = pipeline.poll([feeds[outlet]], workers=1)
            pipeline.deliver()
            times.append(time.perf_counter() - started)
            new += sum(r.new_stories for r in results)
            alerts += sum(r.alerts for r in results)
            if i % quarter == 0:
                out.seek(0)
                out.truncate()  # the console "channel" is ours, not the daemon's memory
                memory.append(rss_mib())
        db_size = (Path(tmp) / "soak.db").stat().st_size / 2**20
        store.close()

    pipe_ms, base_ms = statistics.median(times) * 1e3, statistics.median(baseline) * 1e3
    print(f"{len(polls)} polls of {args.outlets}: {new:,} new stories, {alerts} alerts\n")
    print("| what | median per poll | vs baseline |\n|---|---|---|")
    ratio = pipe_ms / base_ms
    print(f"| whole pipeline (read file → … → deliver) | {pipe_ms:.1f} ms | {ratio:.2f}x |")
    print(f"| parse only (baseline) | {base_ms:.1f} ms | 1.00x |")
    print(
        "\nresident memory (MiB) at start and after each quarter: "
        + " → ".join(f"{m:.0f}" for m in memory)
    )
    print(f"database after the run: {db_size:.1f} MiB")


if __name__ == "__main__":
    main()
