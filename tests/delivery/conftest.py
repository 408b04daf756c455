"""Real parts for the delivery tests: an HTTP receiver on loopback for apprise's `json://`
channel, an injected clock, and a desk (config, SQLite store, pipeline) built the way the
CLI builds one, fed from a feed file."""

from __future__ import annotations

import json
import re
import threading
import time
import xml.sax.saxutils
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.cli.wiring import channel_policies
from monitor.config import Config, load_config
from monitor.delivery.channels import Notifier, build_channels
from monitor.feeds.fetch import Fetcher
from monitor.models import Alert, Feed
from monitor.pipeline import Pipeline
from monitor.rules.matcher import Matcher
from monitor.store.sqlite import SQLiteStore
from tests.conftest import MakeConfig

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><link>https://news.example.org/</link>
{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>
{published}<description>{text}</description></item>"""

# Every headline names Misrata (the desk's rule matches it) and a number of its own, so a
# receiver can tell the alerts apart by their title alone.
_NUMBER = re.compile(r"dispatch (\d+)\b")


def headline(number: int) -> str:
    return f"Misrata dispatch {number:03d}: shelling reported near the port"


def number_of(text: str) -> int | None:
    """The dispatch number in an alert's title or body, or None."""
    m = _NUMBER.search(text)
    return int(m.group(1)) if m else None


def rss(numbers: Iterator[int] | list[int] | range, published: str | None = None) -> str:
    """A feed of one matching story per number (no date: never a backlog)."""
    items = "".join(
        ITEM.format(
            title=xml.sax.saxutils.escape(headline(n)),
            link=f"https://news.example.org/misrata/{n}",
            guid=f"dispatch-{n}",
            published=f"<pubDate>{published}</pubDate>" if published else "",
            text="Shelling near Misrata, residents said.",
        )
        for n in numbers
    )
    return RSS.format(items=items)


class Clock:
    """The delivery's clock, moved by the test (and by `sleep`, which only advances it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


# ---------------------------------------------------------------------------------------
# A json:// receiver


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request: a status, headers, after `delay` seconds."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Receipt:
    """One request as it arrived: when (time.monotonic()), its JSON body, the status it got."""

    at: float
    body: dict[str, Any]
    status: int

    @property
    def number(self) -> int | None:
        return number_of(str(self.body.get("title", "")))


class Receiver:
    """A real HTTP server on 127.0.0.1 for apprise's `json://` channel. Every request is
    recorded when it arrives (before any delay: the service has it from then on), then
    answered as `answer(index, body)` says (index: 0 for the first request)."""

    def __init__(self, answer: Callable[[int, dict[str, Any]], Answer] | None = None) -> None:
        self.answer = answer or (lambda _i, _b: Answer())
        self.receipts: list[Receipt] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    index = len(receiver.receipts)
                    answer = receiver.answer(index, body)
                    receiver.receipts.append(Receipt(time.monotonic(), body, answer.status))
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the client gave up waiting (a timeout test): nobody to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up mid-answer is what the timeout tests do

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The apprise URL that posts to this receiver."""
        return f"json://127.0.0.1:{self.port}/hook"

    def snapshot(self) -> list[Receipt]:
        with self._lock:
            return list(self.receipts)

    def accepted(self) -> list[Receipt]:
        """The requests answered 2xx, in the order they arrived."""
        return [r for r in self.snapshot() if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Receipt]:
        """Wait until `count` requests have arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.receipts) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.snapshot()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A json:// receiver answering 200 at once; a test may replace `answer`."""
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------------------------------
# A desk: config → channels, policies and pipeline, as monitor's CLI wires them


@dataclass
class Desk:
    """A pipeline over one SQLite file, as `monitor run` wires it; `restart()` makes a new
    one over the same file (as a new process would, recovering at start)."""

    config: Config
    db: Path
    feed_file: Path
    clock: Clock
    http: httpx.BaseTransport | None = None
    numbers: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store, self.pipeline = self._open()

    def _open(self) -> tuple[SQLiteStore, Pipeline]:
        built = build_channels(self.config.channels, {})
        store = SQLiteStore(self.db, writer=True)
        pipeline = Pipeline(
            store=store,
            fetcher=Fetcher(),
            matcher=Matcher(self.config.rules),
            notifier=Notifier(built, http=self.http),
            policies=channel_policies(self.config, built),
            max_attempts=self.config.settings.delivery.max_attempts,
            alert_max_age=self.config.settings.delivery.max_age,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        store.sync_feeds(self.feeds)
        return store, pipeline

    def restart(self) -> None:
        """Close the store and start over on the same file, recovering as `run` does."""
        self.store.close()
        self.store, self.pipeline = self._open()
        self.pipeline.recover(self.clock())

    def close(self) -> None:
        self.store.close()

    @property
    def feeds(self) -> list[Feed]:
        return [Feed("wire", str(self.feed_file), "Wire", 60)]

    def queue(self, numbers: range | list[int]) -> int:
        """Publish these dispatches in the feed (beside the earlier ones) and poll it once;
        returns how many alerts were queued."""
        self.numbers += list(numbers)
        self.feed_file.write_text(rss(self.numbers), encoding="utf-8")
        [result] = self.pipeline.poll(self.feeds)
        assert result.error is None, result.error
        return result.alerts

    def alerts(self, channel: str | None = None) -> list[Alert]:
        """Every alert (of `channel`), oldest first."""
        return list(reversed(self.store.recent_alerts(None, channel=channel)))


MakeDesk = Callable[..., Desk]


@pytest.fixture
def make_desk(make_config: MakeConfig, tmp_path: Path) -> Iterator[MakeDesk]:
    """make_desk(channels_yaml, to=[channel, ...], http=transport): a pipeline over a fresh
    SQLite file, its channels and their policies built from monitor.yaml as `monitor run`
    builds them, one rule (query Misrata) sending to `to`, and an injected clock."""
    desks: list[Desk] = []

    def make(
        channels: str,
        *,
        to: list[str],
        http: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> Desk:
        indented = "".join(f"  {line}\n" for line in channels.strip("\n").splitlines())
        directory = make_config(
            monitor="channels:\n" + indented,
            rules={
                "misrata.yaml": "rules:\n  - id: misrata\n    name: Misrata\n"
                f"    query: Misrata\n    channels: [{', '.join(to)}]\n"
            },
        )
        config = load_config(directory, {})
        assert not config.problems, config.problems
        desk = Desk(config, tmp_path / "monitor.db", tmp_path / "wire.xml", clock or Clock(), http)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()
