"""Replay every outlet's history through the whole daemon in simulated time (issue 14).

    .venv/bin/python bench/replay.py [--outlets bbc,cnn] [--limit N] [--every-step]

The 19 outlets' 7,261 snapshots (corpus/replay/*.tar.xz) are served by a separate process,
each outlet on its own loopback address (127.0.0.2, .3, …: a publisher each, for the
per-host limit), with a strong ETag and Last-Modified, answering 304 to a conditional GET
of the snapshot the client has. A simulated clock steps through the union of the
snapshot times in order; at each step the feed server makes every snapshot of that time
current, and the daemon's own jobs run at that time: the poll job (`Pipeline.poll_due`,
as the daemon's poll tick calls it: the real `Poller` with its parser processes, the
SQLite store, the bundled rules in config/, clustering on), then the delivery job, and
each channel's digest when its cron time passes between two steps. The bundled channels
are real sinks: desk-slack posts its Block Kit messages over HTTP to a webhook receiver
on loopback (the Slack URL's host is rewritten by the transport, the post itself is
real), desk-email sends to an aiosmtpd server on loopback.

What the daemon cannot take from the clock: APScheduler, which runs the daemon's jobs in
real time, is left out; the loop here calls the same jobs in simulated time. A feed's
next poll is the store's `next_poll_at`, decided from the simulated clock, so a snapshot
that an outlet replaced before its feed was next due is never seen (counted as
superseded); `--every-step` polls every started feed at every step instead (`poll()`
without `due_only`, as `monitor poll --once` does), so every snapshot is fetched.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from replay_data import REPLAY, ROOT, check_outlets, outlets
from replay_servers import MailSink, SlackSink, serve

from monitor.cli.wiring import pipeline_for
from monitor.config import load_config
from monitor.delivery.policy import parse_digest
from monitor.models import Feed, PollStatus
from monitor.pipeline import DeliveryReport, Pipeline, PollResult

PROGRESS_EVERY = 250  # steps between two progress lines on stderr
# The webhook the bundled desk-slack channel is given: its host is never asked, the sink's
# transport sends the post to the loopback receiver.
SLACK_WEBHOOK = "https://hooks.slack.com/services/TREPLAY00/BREPLAY00/replaybenchreplaybench"


# --- the simulated clock -----------------------------------------------------------------


class SimClock:
    """The time every job reads: set to each step's time, and moved on by `sleep` (a
    channel's pace), so no job waits in real time."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, when: datetime) -> None:
        with self._lock:
            self.now = max(self.now, when)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=max(0.0, seconds))


# --- the replay --------------------------------------------------------------------------


@dataclass
class Outlet:
    """One outlet's counts: what the server says and what the poll job reported."""

    snapshots: int = 0
    seen: int = 0
    ok: int = 0
    not_modified: int = 0
    errors: int = 0
    items: int = 0  # in the documents read, repeated items the parser skipped included
    new_stories: int = 0
    alerts: int = 0


@dataclass
class Report:
    """What a replay did and cost."""

    steps: int = 0
    outlets: dict[str, Outlet] = field(default_factory=dict)
    polls: Counter[str] = field(default_factory=Counter)
    stories: int = 0
    clusters: int = 0
    alerts: int = 0
    alert_status: Counter[str] = field(default_factory=Counter)
    sent_alone: Counter[str] = field(default_factory=Counter)  # channel → alerts sent one by one
    in_digests: Counter[str] = field(default_factory=Counter)  # channel → alerts in a digest
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    sink_alone: Counter[str] = field(default_factory=Counter)  # channel → alert messages received
    sink_digested: Counter[str] = field(default_factory=Counter)  # channel → alerts in digests
    sink_digests: Counter[str] = field(default_factory=Counter)
    sink_notices: Counter[str] = field(default_factory=Counter)
    sink_repeats: int = 0  # alert messages received more than once
    wall: float = 0.0
    cpu: float = 0.0
    cpu_parsers: float = 0.0
    loop_wall: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # wall s
    peak_rss: float = 0.0
    peak_rss_parsers: float = 0.0
    simulated: tuple[datetime, datetime] | None = None

    @property
    def delivered(self) -> int:
        """Alerts that reached a sink, alone or in a digest."""
        return sum(self.sink_alone.values()) + sum(self.sink_digested.values())


def write_config(directory: Path, names: Sequence[str], urls: Sequence[str]) -> Path:
    """The bundled config (monitor.yaml, the rules) with the outlets as its feeds."""
    config = directory / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "feeds.yaml").write_text(
        "feeds:\n"
        + "".join(
            f"  - {{name: {n}, title: {n}, url: '{u}'}}\n" for n, u in zip(names, urls, strict=True)
        ),
        encoding="utf-8",
    )
    return config


def run_digests(pipeline: Pipeline, clock: SimClock, until: datetime) -> int:
    """Each channel's digest whose cron time comes before `until`, sent at that time."""
    carried = 0
    for channel in pipeline.delivery.channel_names():
        policy = pipeline.delivery.policy(channel)
        if policy.digest is None:
            continue
        trigger = parse_digest(policy.digest, policy.timezone)
        fires = trigger.get_next_fire_time(None, clock() + timedelta(microseconds=1))
        if fires is not None and fires <= until:
            clock.advance_to(fires)
            carried += pipeline.send_digest(channel)
    return carried


def tally(report: Report, results: Sequence[PollResult]) -> None:
    for r in results:
        outlet = report.outlets[r.feed]
        report.polls[r.status.value] += 1
        outlet.errors += r.status is PollStatus.ERROR
        outlet.items += r.stories
        outlet.new_stories += r.new_stories
        outlet.alerts += r.alerts


def replay(
    pipeline: Pipeline,
    feeds: dict[str, Feed],
    conn: Connection,
    clock: SimClock,
    report: Report,
    *,
    workers: int,
    every_step: bool,
) -> None:
    """Step through the snapshot times: poll, deliver, and the digests due between steps."""
    started: list[Feed] = []
    first: datetime | None = None
    while True:
        t0 = time.perf_counter()
        conn.send("next")
        step = conn.recv()
        t1 = time.perf_counter()
        report.phases["waiting for the feed server"] += t1 - t0
        if step is None:
            break
        when, changed = step
        first = first or when
        if report.steps:
            run_digests(pipeline, clock, when)
        t2 = time.perf_counter()
        report.phases["digests"] += t2 - t1
        clock.advance_to(when)
        started += [feeds[n] for n in changed if feeds[n] not in started]
        if every_step:
            results = pipeline.poll(started, workers=workers)
        else:
            results = pipeline.poll_due(started, workers=workers)
        t3 = time.perf_counter()
        report.phases["poll job"] += t3 - t2
        tally(report, results)
        report.delivery += pipeline.deliver()
        report.phases["delivery job"] += time.perf_counter() - t3
        report.steps += 1
        if report.steps % PROGRESS_EVERY == 0:  # a full replay takes minutes: say where it is
            print(f"step {report.steps:,}: {when:%Y-%m-%d %H:%M}", file=sys.stderr, flush=True)
    # The end of the history: what is still queued goes out, and every channel's digest is
    # sent now (as `monitor digest --now` would), so every alert reaches a sink.
    report.delivery += pipeline.deliver()
    for channel in pipeline.delivery.channel_names():
        pipeline.send_digest(channel, scheduled=False)
    report.simulated = (first, clock()) if first else None


def count_store(db: Path, report: Report) -> None:
    """Stories, clusters and alerts as the database holds them at the end."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        report.stories, report.clusters = conn.execute(
            "SELECT count(*), count(DISTINCT cluster_id) FROM stories"
        ).fetchone()
        for channel, status, digest, count in conn.execute(
            """SELECT channel, status, note LIKE 'in the digest%', count(*) FROM alerts
               GROUP BY 1, 2, 3"""
        ):
            report.alerts += count
            report.alert_status[status] += count
            if status == "sent":
                (report.in_digests if digest else report.sent_alone)[channel] += count
    conn.close()


def main(argv: Sequence[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--outlets", default="", help="comma-separated (default: all 19)")
    parser.add_argument("--limit", type=int, default=0, help="snapshots per outlet (0: all)")
    parser.add_argument(
        "--every-step", action="store_true", help="poll every started feed at every step"
    )
    parser.add_argument("--log-level", default="error", help="the daemon's log level")
    args = parser.parse_args(argv)
    if not REPLAY.is_dir():
        raise SystemExit(f"needs the shared corpus at {REPLAY}")
    names = check_outlets(args.outlets.split(",")) if args.outlets else outlets()
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(names, args.limit, theirs), daemon=True)
    server.start()
    report = Report(outlets={n: Outlet() for n in names})
    try:
        urls, first = ours.recv()
        with tempfile.TemporaryDirectory() as tmp, SlackSink() as slack, MailSink() as mail:
            env = {"MONITOR_SLACK_WEBHOOK": SLACK_WEBHOOK, "MONITOR_EMAIL_URL": mail.url}
            config = load_config(write_config(Path(tmp), names, urls), env)
            if config.errors:
                raise SystemExit("\n".join(map(str, config.problems)))
            clock = SimClock(first or datetime.now(UTC))  # the daemon starts at the first
            db = Path(tmp) / "replay.db"
            loop0 = time.perf_counter()
            with pipeline_for(
                config, str(db), clock=clock, sleep=clock.sleep, env=env, http=slack.transport
            ) as pipeline:
                replay(
                    pipeline,
                    {f.name: f for f in config.feeds},
                    ours,
                    clock,
                    report,
                    workers=config.settings.poll.workers,
                    every_step=args.every_step,
                )
            report.loop_wall = time.perf_counter() - loop0
            # The parser processes have ended (the pipeline closed its pool): theirs is all
            # of the children's time so far; the feed server is still running.
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            report.cpu_parsers = (children.ru_utime + children.ru_stime) - (
                children0.ru_utime + children0.ru_stime
            )
            report.peak_rss_parsers = children.ru_maxrss / 1024
            count_store(db, report)
            for sink, channel in ((slack, "desk-slack"), (mail, "desk-email")):
                received = sink.tally()
                report.sink_alone[channel] = received.alone
                report.sink_digested[channel] = received.digested
                report.sink_digests[channel] = received.digests
                report.sink_notices[channel] = received.notices
                report.sink_repeats += received.repeats
        ours.send("stats")
        for name, (snapshots, ok, not_modified, seen) in ours.recv().items():
            outlet = report.outlets[name]
            outlet.snapshots, outlet.ok, outlet.not_modified, outlet.seen = (
                snapshots,
                ok,
                not_modified,
                seen,
            )
    finally:
        ours.send("stop")
        server.join(10)
    report.wall = time.perf_counter() - wall0
    report.cpu = time.process_time() - cpu0 + report.cpu_parsers
    report.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(render(report, args))
    return report


def render(report: Report, args: argparse.Namespace) -> str:
    """The report as BENCHMARKS.md shows it."""
    o = report.outlets.values()
    snapshots, seen = sum(x.snapshots for x in o), sum(x.seen for x in o)
    span = (
        f"{report.simulated[0]:%Y-%m-%d %H:%M} → {report.simulated[1]:%Y-%m-%d %H:%M} UTC"
        if report.simulated
        else "nothing"
    )
    lines = [
        f"{len(report.outlets)} outlets, {snapshots:,} snapshots, {report.steps:,} steps of "
        f"simulated time ({span}); "
        + ("every feed polled at every step" if args.every_step else "feeds polled when due")
        + f"; {os.cpu_count()} cores; Python {sys.version.split()[0]}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        f"- snapshots served: {seen:,} of {snapshots:,} answered while current "
        f"({snapshots - seen:,} superseded before their feed was next due)",
        f"- fetches: {sum(x.ok for x in o):,} x 200, {sum(x.not_modified for x in o):,} x 304; "
        f"polls: {dict(sorted(report.polls.items()))}",
        f"- items read (in the documents polled ok): {sum(x.items for x in o):,}; "
        f"stories stored: {report.stories:,} in {report.clusters:,} clusters",
        f"- alerts produced: {report.alerts:,} {dict(sorted(report.alert_status.items()))}: "
        f"sent alone {dict(report.sent_alone)}, in digests {dict(report.in_digests)}",
        f"- delivery passes: {report.delivery}",
        f"- alerts delivered to the sinks: {report.delivered:,} (alone {dict(report.sink_alone)}, "
        f"in {sum(report.sink_digests.values())} digests {dict(report.sink_digested)}; "
        f"{sum(report.sink_notices.values())} notices; {report.sink_repeats} repeats)",
        f"- time: {report.wall:.1f} s wall ({report.loop_wall:.1f} s in the replay: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in report.phases.items())
        + f"); CPU {report.cpu:.1f} s (parser processes {report.cpu_parsers:.1f} s)",
        f"- peak RSS: {report.peak_rss:.0f} MB (the daemon's process), "
        f"{report.peak_rss_parsers:.0f} MB (the largest parser process)",
        "",
        "| outlet | snapshots | served | 200 | 304 | poll errors | items read "
        "| new stories | alerts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, x in report.outlets.items():
        lines.append(
            f"| {name} | {x.snapshots} | {x.seen} | {x.ok} | {x.not_modified} | {x.errors} "
            f"| {x.items:,} | {x.new_stories:,} | {x.alerts} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
