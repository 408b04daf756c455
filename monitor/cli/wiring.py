"""One place builds what the commands need from the configuration: the checked config,
the store, the fetcher and the pipeline with its channels, so `run`, `poll`, `resend` and
`backtest` are wired alike."""

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta

import click
import httpx

from monitor.config import Config, load_config
from monitor.dedupe.cluster import ClusterConfig, ClusterIndex
from monitor.delivery.channels import Channel, Notifier, build_channels
from monitor.delivery.policy import ChannelPolicy, parse_budget, parse_quiet_hours
from monitor.delivery.route import Route
from monitor.delivery.slack import SLACK_TIMEOUT
from monitor.errors import ConfigError, Problem, StoreError
from monitor.feeds.fetch import Fetcher, FetchLimits
from monitor.feeds.policy import FeedHealth, PollPolicy
from monitor.feeds.workers import ParsePool
from monitor.models import Feed
from monitor.pipeline import Clock, DeliveryReport, Pipeline, utcnow
from monitor.pipeline.events import rebuild_clusters
from monitor.pipeline.poll import HealthHook
from monitor.pipeline.reload import apply_to_poller, load_for_reload
from monitor.rules import Matcher
from monitor.store import Store
from monitor.store.sqlite import SQLiteStore

log = logging.getLogger("monitor")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # apprise and httpx log every request at INFO; our own lines say what matters.
    for noisy in ("httpx", "httpcore", "apprise"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # "maximum number of running instances reached" every tick of a long poll is not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


class ConfigRefused(click.ClickException):
    """`run` or `poll` will not start on a configuration with errors."""

    exit_code = 2


def load_checked(config_dir: str, *, strict: bool = False) -> Config:
    """Load the config. With `strict` (run, poll), any error stops the command (exit 2) with
    every problem printed: a rule left out would mark its stories seen without an alert.
    Otherwise only an unusable monitor.yaml stops it, and what was left out is logged."""
    try:
        config = load_config(config_dir, os.environ if strict else None)
    except ConfigError as e:
        for problem in e.problems:
            click.echo(str(problem), err=True)
        if strict:
            raise refusal(config_dir, e.problems) from e
        raise click.ClickException(
            f"the configuration in {config_dir} cannot be used; run `monitor check`"
        ) from e
    if strict:
        for problem in config.problems:
            click.echo(str(problem), err=True)
        if config.errors:
            raise refusal(config_dir, config.problems)
        return config
    for problem in config.problems:
        if problem.is_error:
            log.error("config: %s (left out)", problem)
        else:
            log.warning("config: %s", problem)
    return config


def refusal(config_dir: str, problems: list[Problem]) -> ConfigRefused:
    errors = sum(1 for p in problems if p.is_error)
    return ConfigRefused(
        f"the configuration in {config_dir} has {errors} error{'s' if errors != 1 else ''} "
        "(above); not starting until they are fixed"
    )


def db_path(config: Config, db: str | None) -> str:
    return db or str(config.database_path or "monitor.db")


def open_store(
    config: Config, db: str | None, *, writer: bool = False, shared: bool = False
) -> SQLiteStore:
    """The store: the `writer` (one process at a time), read-only, or `shared` (a small
    write beside the writer, such as a mute)."""
    try:
        return SQLiteStore(db_path(config, db), writer=writer, read_only=not (writer or shared))
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def make_fetcher(config: Config) -> Fetcher:
    poll = config.settings.poll
    return Fetcher(
        FetchLimits(
            connect_timeout=poll.connect_timeout,
            read_timeout=poll.timeout,
            total_timeout=2 * poll.timeout,
            max_bytes=poll.max_bytes,
            deny_private=poll.deny_private,
        )
    )


# How long a service may take to answer, and how far apart two messages must be, when
# monitor.yaml does not say: Slack answers in well under a second and takes about one
# message a second per webhook; an SMTP server may be slow to greet.
_TIMEOUTS = {"slack": SLACK_TIMEOUT, "email": 60.0}
_PACES = {"slack": 1.0}
DEFAULT_TIMEOUT = 30.0


def channel_policies(config: Config, channels: Mapping[str, Channel]) -> dict[str, ChannelPolicy]:
    """Each configured channel's delivery settings, with the defaults of its kind."""
    policies = {}
    for name, settings in config.channels.items():
        kind = channels[name].kind if name in channels else "text"
        policies[name] = ChannelPolicy(
            name,
            muted=settings.muted,
            budget=parse_budget(settings.rate_limit) if settings.rate_limit else None,
            quiet=parse_quiet_hours(settings.quiet_hours) if settings.quiet_hours else None,
            timezone=settings.timezone,
            digest=settings.digest,
            pace=settings.pace if settings.pace is not None else _PACES.get(kind, 0.0),
            timeout=settings.timeout or _TIMEOUTS.get(kind, DEFAULT_TIMEOUT),
            group_wait=settings.group_wait or 0.0,
        )
    return policies


def routes_of(config: Config) -> list[Route]:
    """monitor.yaml's routes, as routing reads them."""
    return [
        Route(
            tuple(r.channels),
            r.severity.value if r.severity else None,
            frozenset(r.tags),
        )
        for r in config.settings.routes
    ]


def poll_policy(config: Config) -> PollPolicy:
    poll = config.settings.poll
    return PollPolicy(
        retry_after_error=poll.retry_after_error,
        max_backoff=poll.max_backoff,
        max_interval=poll.max_interval,
        unhealthy_after=poll.unhealthy_after,
        jitter=poll.jitter,
    )


def make_parse_pool(config: Config) -> ParsePool:
    poll = config.settings.poll
    return ParsePool(
        poll.parse_workers or None, seconds=poll.parse_timeout, memory_mb=poll.parse_memory_mb
    )


def cluster_index(config: Config, store: Store, now: datetime | None = None) -> ClusterIndex | None:
    """The live clusters, rebuilt from the stories stored within the window before `now`
    (default: now; None when monitor.yaml turns clustering off)."""
    settings = config.settings.clusters
    if not settings.enabled:
        return None
    window = timedelta(seconds=settings.window)
    return rebuild_clusters(store, now or utcnow(), ClusterConfig(window=window))


@contextmanager
def delivering_meanwhile(pipeline: Pipeline, every: float = 1.0) -> Iterator[list[DeliveryReport]]:
    """Delivery passes every `every` seconds while the body runs (a `poll --once` cycle), so
    alerts go out while a hung feed is still being fetched; the passes' reports are yielded."""
    reports: list[DeliveryReport] = []
    done = threading.Event()

    def deliver() -> None:
        while not done.wait(every):
            try:
                reports.append(pipeline.deliver(stop=done))
            except Exception:
                log.exception("delivery pass failed; trying again")

    thread = threading.Thread(target=deliver, name="deliver", daemon=True)
    thread.start()
    try:
        yield reports
    finally:
        done.set()
        thread.join()


def total(reports: list[DeliveryReport]) -> DeliveryReport:
    """The passes' reports added up."""
    return sum(reports, DeliveryReport())


def health_notices(pipeline: Pipeline, channel: str) -> HealthHook:
    """What the poll job calls when a feed turns unhealthy or gone, or recovers: one notice
    to the operators' channel."""

    def tell(feed: Feed, old: FeedHealth, new: FeedHealth, error: str | None) -> None:
        if new is FeedHealth.OK:
            text = f"Feed {feed.name} ({feed.url}) recovered after being {old}."
        else:
            text = f"Feed {feed.name} ({feed.url}) is {new}: {error or 'no reason given'}."
        pipeline.delivery.tell(channel, text)

    return tell


def reloader(config_dir: str, pipeline: Pipeline) -> Callable[[], list[Feed] | None]:
    """What SIGHUP runs: read the configuration again and, if it has no error, put it in
    place in the running pipeline (feeds, rules, routes, channels and their policies);
    None when it is refused, every problem logged at path:line:col."""

    def reload() -> list[Feed] | None:
        result = load_for_reload(config_dir)
        if result.config is None:
            return None
        config = result.config
        feeds = apply_to_poller(pipeline.poller, config)
        pipeline.poller.routes = tuple(routes_of(config))
        pipeline.poller.rule_tags = dict(config.rule_tags)
        pipeline.poller.escalate_at = dict(config.escalate_at)
        channels = build_channels(config.channels, os.environ)
        delivery = pipeline.delivery
        delivery.policies = channel_policies(config, channels)
        delivery.digest_only = frozenset(config.digest_only)
        delivery.notifier = Notifier(channels, delivery.notifier.console, delivery.notifier.http)
        return feeds

    return reload


@contextmanager
def pipeline_for(
    config: Config,
    db: str | None,
    *,
    clock: Clock = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    env: Mapping[str, str] | None = None,
    http: httpx.BaseTransport | None = None,
) -> Iterator[Pipeline]:
    """The pipeline the commands run, from the config. The keywords are for a replay in
    simulated time (bench/replay.py): the clock and sleep every job reads, the environment
    the channels' `${VAR}`s come from (default os.environ), and Slack posts' transport."""
    started = clock()
    store = open_store(config, db, writer=True)
    channels = build_channels(config.channels, os.environ if env is None else env)
    for channel in channels.values():
        if channel.fallback:
            log.warning(
                "channel %s: %s; its alerts are held (a preview prints to the console)",
                channel.name,
                channel.fallback,
            )
        elif channel.sender is not None:
            log.info("channel %s: %s", channel.name, channel.target)
    try:
        store.sync_feeds(config.feeds)
        with make_fetcher(config) as fetcher, make_parse_pool(config) as parse_pool:
            pipeline = Pipeline(
                store=store,
                fetcher=fetcher,
                matcher=Matcher(config.rules),
                notifier=Notifier(channels, http=http),
                policies=channel_policies(config, channels),
                digest_only=config.digest_only,
                routes=routes_of(config),
                rule_tags=config.rule_tags,
                retry_after_error=config.settings.poll.retry_after_error,
                max_age=config.settings.poll.max_age,
                max_attempts=config.settings.delivery.max_attempts,
                alert_max_age=config.settings.delivery.max_age,
                poll_policy=poll_policy(config),
                parse=parse_pool.parse,
                per_host=config.settings.poll.per_host,
                clusters=cluster_index(config, store, started),
                escalate_at=config.escalate_at,
                clock=clock,
                sleep=sleep,
            )
            health = config.settings.poll.health_channel
            if health is not None:
                pipeline.poller.on_health = health_notices(pipeline, health)
            # Holding the writer lock now: every open claim is older than this process.
            pipeline.recover(started)
            yield pipeline
    finally:
        store.close()
