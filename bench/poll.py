"""Polling at scale: one cycle of monitor's own poll path over 1,000 real feeds on loopback,
beside a sequential `feedparser.parse(url)` loop over the same URLs, in the same run.

    .venv/bin/python bench/poll.py [--feeds 1000] [--hosts 100] [--changed 0.2] [--no-loop]

The feeds are distinct snapshots from corpus/replay/*.tar.xz, served by a separate process
(so its work is not counted as ours) on `--hosts` loopback addresses (127.0.0.2, .3, …: one
listening socket per address, so the per-host limit sees many publishers), each with a
strong ETag and Last-Modified and honouring conditional requests. Each feed also has its
outlet's next snapshot: after cycle 1, about one feed in five (`--changed`) switches to it.

Measured, each in the same process:
- cycle 1: every feed new (every story parsed, stored and matched against the bundled rules);
- cycle 2: the steady state, one feed in five changed, the others answering 304;
- cycle 3: nothing changed;
- the sequential loop: `for url in urls: feedparser.parse(url)` (feedparser's own fetcher,
  no validators, so every feed is fetched and parsed whole).
Wall time, CPU time (this process and its parser processes) and peak resident memory (this
process, and with its parser processes).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The tree this script is in is the code measured, not whichever `monitor` is installed
# (a worktree's venv may point at another checkout).
sys.path.insert(0, str(ROOT))
WARM_UP = b"<rss version='2.0'><channel><item><title>t</title></item></channel></rss>"
REPLAY = ROOT.parent / "shared" / "corpus" / "replay"


# --- the corpus ----------------------------------------------------------------------------


def load_feeds(count: int) -> list[tuple[str, bytes, bytes]]:
    """`count` distinct (outlet, snapshot, the outlet's next snapshot), taken from every
    outlet in turn, in each outlet's order (its history). Only as much of each archive is
    read as that needs."""
    archives = sorted(REPLAY.glob("*.tar.xz"))
    per_outlet = 2 * -(-count // len(archives)) + 2
    series: list[list[tuple[str, bytes]]] = []
    for archive_path in archives:
        outlet = archive_path.name.removesuffix(".tar.xz")
        seen: set[str] = set()
        distinct: list[tuple[str, bytes]] = []
        with tarfile.open(archive_path, mode="r|xz") as archive:
            for member in archive:
                handle = archive.extractfile(member) if member.isfile() else None
                body = handle.read() if handle else b""
                digest = hashlib.sha256(body).hexdigest()
                if len(body) > 200 and digest not in seen:
                    seen.add(digest)
                    distinct.append((outlet, body))
                if len(distinct) >= per_outlet:
                    break
        series.append(distinct)
    picked: list[tuple[str, bytes, bytes]] = []
    index = 0
    while len(picked) < count:
        progressed = False
        for distinct in series:
            if index + 1 < len(distinct) and len(picked) < count:
                outlet, body = distinct[index]
                picked.append((outlet, body, distinct[index + 1][1]))
                progressed = True
        if not progressed:
            raise SystemExit(f"the corpus has fewer than {count} distinct snapshots")
        index += 2  # the next one is this one's "changed" version
    return picked


# --- the server (a separate process) -------------------------------------------------------


def serve(
    count: int, step: int, hosts: int, ports: Any, ready: Event, switch: Event, stop: Event
) -> None:
    """Load the feeds (here, so the measured process never holds the corpus) and serve feed
    i from 127.0.0.(2 + i % hosts); `switch` moves every `step`-th feed to its next version."""
    picked = [(v0, v1) for _outlet, v0, v1 in load_feeds(count)]
    started = time.time()

    def version(i: int, v: int) -> tuple[bytes, str, str]:
        body = picked[i][v]
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return body, etag, formatdate(started + v * 60, usegmt=True)

    current = {i: version(i, 0) for i in range(len(picked))}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK would add ~40 ms to every response, for everyone.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            i = int(self.path.rsplit("/", 1)[1])
            body, etag, modified = current[i]
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    servers = []
    for h in range(hosts):
        server = ThreadingHTTPServer((f"127.0.0.{2 + h}", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        ports[h] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    flipped = 0
    while not stop.is_set():
        if not switch.wait(0.1):
            continue
        switch.clear()
        flipped ^= 1  # each switch moves every step-th feed to its other version
        for i in range(0, len(picked), step or len(picked) + 1):
            current[i] = version(i, flipped)
        ready.set()
    for server in servers:
        server.shutdown()


# --- measuring -----------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _proc_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_hwm(pid: int) -> None:
    with contextlib.suppress(OSError):  # Linux: 5 in clear_refs resets the peak RSS
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class Meter:
    """Wall, CPU (this process and the given children) and peak RSS of one measured span."""

    def __init__(self, children: Sequence[int] = ()) -> None:
        self.children = list(children)

    def __enter__(self) -> Meter:
        for pid in [os.getpid(), *self.children]:
            _reset_hwm(pid)
        self.main0 = time.process_time()
        self.cpu0 = self.main0 + sum(_proc_cpu(p) for p in self.children)
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        main = time.process_time()
        self.main_cpu = main - self.main0
        self.cpu = main + sum(_proc_cpu(p) for p in self.children) - self.cpu0
        self.rss = _proc_hwm(os.getpid())
        self.rss_all = self.rss + sum(_proc_hwm(p) for p in self.children)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--changed", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--no-loop", action="store_true", help="skip the sequential loop")
    parser.add_argument(
        "--reader",
        action="store_true",
        help="also lemon24/reader, if installed (pip install reader)",
    )
    args = parser.parse_args()

    step = max(1, round(1 / args.changed)) if args.changed > 0 else 0
    context = multiprocessing.get_context("spawn")
    ports = context.Array("i", args.hosts)
    ready, switch, stop = context.Event(), context.Event(), context.Event()
    server = context.Process(
        target=serve,
        args=(args.feeds, step, args.hosts, ports, ready, switch, stop),
        daemon=True,
    )
    server.start()
    if not ready.wait(600):
        raise SystemExit("the feed server did not start")
    urls = [
        f"http://127.0.0.{2 + i % args.hosts}:{ports[i % args.hosts]}/feed/{i}"
        for i in range(args.feeds)
    ]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = run(args, urls, Path(tmp), switch, ready, server.pid)
    finally:
        stop.set()
        server.join(10)
    print(report)


def whole_command(urls: list[str], tmp: Path) -> tuple[Meter, str]:
    """`monitor poll --once` in a process of its own over the same feeds and database:
    imports, a 1,000-entry feeds.yaml, the store, the parser processes, a cycle, delivery."""
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "feeds.yaml").write_text(
        "feeds:\n"
        + "".join(
            f"  - {{name: feed{i}, title: Feed {i}, url: '{url}', interval: 5m}}\n"
            for i, url in enumerate(urls)
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    command = [sys.executable, "-m", "monitor", "--log-level", "warning", "poll", "--once"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter = Meter()
    with meter:
        done = subprocess.run(
            [*command, "--config", str(config), "--db", str(tmp / "poll.db")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=ROOT,  # `-m monitor` imports this tree's package
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The command's own CPU and peak memory (its parser processes are its children).
    meter.cpu = meter.main_cpu = (after.ru_utime + after.ru_stime) - (
        before.ru_utime + before.ru_stime
    )
    meter.rss = meter.rss_all = after.ru_maxrss / 1024
    summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return meter, f"exit {done.returncode}: {summary[:120]}"


def reader_cycles(
    urls: list[str], tmp: Path, switch: Event, ready: Event
) -> list[tuple[str, Meter, str]]:
    """lemon24/reader on its own database, same URLs: `update_feeds(workers=4)` with every
    feed new, then with one in five changed (the feeds switched back to their first version).
    """
    try:
        from reader import make_reader
    except ImportError:
        return []
    rows = []
    peer = make_reader(str(tmp / "reader.sqlite"))
    for url in urls:
        peer.add_feed(url)
    for label in ("reader: every feed new", "reader: one in five changed"):
        if "changed" in label:
            ready.clear()
            switch.set()
            ready.wait(60)
        with Meter() as meter:
            peer.update_feeds(workers=4, scheduled=False)  # every feed, as a cycle
        entries = peer.get_entry_counts().total
        rows.append((f"{label} (`update_feeds(workers=4)`)", meter, f"{entries:,} entries held"))
    peer.close()
    return rows


def run(
    args: argparse.Namespace,
    urls: list[str],
    tmp: Path,
    switch: Event,
    ready: Event,
    server_pid: int | None,
) -> str:
    # Imported here, as a daemon starts: the imports are part of no cycle.
    import feedparser

    from monitor.config import load_config
    from monitor.feeds.fetch import Fetcher
    from monitor.feeds.workers import ParsePool
    from monitor.models import Feed
    from monitor.pipeline.poll import Poller
    from monitor.rules.matcher import Matcher
    from monitor.store.sqlite import SQLiteStore

    rules = load_config(ROOT / "config").rules
    feeds = [Feed(f"feed{i}", url, f"Feed {i}", 300.0) for i, url in enumerate(urls)]
    store = SQLiteStore(tmp / "poll.db", writer=True)
    store.sync_feeds(feeds)
    rows: list[tuple[str, Meter, str]] = []
    with Fetcher() as fetcher, ParsePool() as pool:
        poller = Poller(
            store=store, fetcher=fetcher, matcher=Matcher(rules), parse=pool.parse, per_host=2
        )
        # Start every parser process now: starting them is part of no cycle.
        with ThreadPoolExecutor(pool.workers) as warm:
            list(warm.map(lambda _: pool.parse(WARM_UP, feed="warm-up"), range(4 * pool.workers)))
        children = [
            p.pid for p in multiprocessing.active_children() if p.pid and p.pid != server_pid
        ]
        at_start = _proc_rss(os.getpid()), sum(_proc_rss(p) for p in children)
        for label in ("cycle 1 (every feed new)", "cycle 2 (one in five changed)", "cycle 3"):
            if label.startswith("cycle 2"):
                ready.clear()
                switch.set()
                ready.wait(60)
            with Meter(children) as meter:
                results = poller.poll(feeds, workers=args.workers)
            status: dict[str, int] = {}
            for r in results:
                status[r.status.value] = status.get(r.status.value, 0) + 1
            new = sum(r.new_stories for r in results)
            rows.append((label, meter, f"{dict(sorted(status.items()))}, {new:,} new stories"))
    store.close()
    rows.append(("`monitor poll --once` (whole command, as cycle 3)", *whole_command(urls, tmp)))

    peer = reader_cycles(urls, tmp, switch, ready) if args.reader else []
    rows.extend(peer)

    loop = None
    if not args.no_loop:
        with Meter() as loop:
            parsed = sum(len(feedparser.parse(url).entries) for url in urls)
        rows.append(("sequential feedparser.parse(url) loop", loop, f"{parsed:,} entries"))

    out = io.StringIO()
    print(
        f"{len(urls)} feeds on {args.hosts} loopback addresses, {args.workers} requests at "
        f"once, 2 per host; {os.cpu_count()} cores; Python {sys.version.split()[0]}; "
        f"load average {os.getloadavg()[0]:.1f}\n",
        file=out,
    )
    print(
        f"resident at start (imports, rules, store, parsers started): "
        f"{at_start[0]:.0f} MB, parsers {at_start[1]:.0f} MB\n",
        file=out,
    )
    print(
        "| run | wall | CPU (of it in the main process) | peak RSS (main / with parsers) "
        "| vs loop | what |",
        file=out,
    )
    print("|---|---|---|---|---|---|", file=out)
    for label, m, what in rows:
        ratio = f"{loop.wall / m.wall:.1f}x" if loop is not None else "-"
        print(
            f"| {label} | {m.wall:.2f} s | {m.cpu:.2f} s ({m.main_cpu:.2f} s) "
            f"| {m.rss:.0f} / {m.rss_all:.0f} MB "
            f"| {ratio} | {what} |",
            file=out,
        )
    return out.getvalue()


if __name__ == "__main__":
    main()
