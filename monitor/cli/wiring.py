"""One place builds what the commands need from the configuration: the checked config,
the store, the fetcher and the pipeline with its channels, so `run`, `poll`, `resend` and
`backtest` are wired alike."""

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click

from monitor.config import Config, load_config
from monitor.delivery.channels import Notifier, build_channels
from monitor.errors import ConfigError, Problem, StoreError
from monitor.feeds.fetch import Fetcher, FetchLimits
from monitor.feeds.policy import PollPolicy
from monitor.feeds.workers import ParsePool
from monitor.pipeline import DeliveryReport, Pipeline, utcnow
from monitor.rules import Matcher
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


def open_store(config: Config, db: str | None, *, writer: bool = False) -> SQLiteStore:
    try:
        return SQLiteStore(db_path(config, db), writer=writer, read_only=not writer)
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
    return DeliveryReport(
        sent=sum(r.sent for r in reports),
        printed=sum(r.printed for r in reports),
        failed=sum(r.failed for r in reports),
        held=sum(r.held for r in reports),
    )


@contextmanager
def pipeline_for(config: Config, db: str | None) -> Iterator[Pipeline]:
    started = utcnow()
    store = open_store(config, db, writer=True)
    channels = build_channels(config.channels, os.environ)
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
                notifier=Notifier(channels),
                retry_after_error=config.settings.poll.retry_after_error,
                max_age=config.settings.poll.max_age,
                max_attempts=config.settings.delivery.max_attempts,
                alert_max_age=config.settings.delivery.max_age,
                poll_policy=poll_policy(config),
                parse=parse_pool.parse,
                per_host=config.settings.poll.per_host,
            )
            # Holding the writer lock now: every open claim is older than this process.
            pipeline.recover(started)
            yield pipeline
    finally:
        store.close()
