"""The loopback servers of bench/replay.py: the feed server (run in a process of its own,
so its work is not counted as the daemon's) serving each outlet's snapshot current at
the simulated time, and the two sinks the bundled channels deliver to: a Slack webhook
receiver over HTTP and an SMTP server (aiosmtpd). A module of its own, importable by
name, because the feed server starts in a spawned process."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any, Self

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from replay_data import Snapshot, series

# --- the feed server -----------------------------------------------------------------------


@dataclass
class Served:
    """One outlet's current snapshot and what the server answered for it."""

    index: int = -1  # which of the outlet's snapshots is current (-1: none yet)
    body: bytes = b""
    etag: str = ""
    modified: str = ""
    modified_at: datetime | None = None
    ok: int = 0  # 200s
    not_modified: int = 0  # 304s
    seen: set[int] = field(default_factory=set)  # snapshots answered while current

    def make_current(self, snapshot: Snapshot) -> None:
        self.index += 1
        self.body = snapshot.body
        self.etag = '"' + hashlib.sha256(snapshot.body).hexdigest()[:20] + '"'
        self.modified = formatdate(snapshot.when.timestamp(), usegmt=True)
        self.modified_at = snapshot.when


def not_modified(served: Served, etag: str | None, since: str | None) -> bool:
    """Whether a conditional GET asks for what the client has (the ETag first, RFC 9110)."""
    if etag is not None:
        return etag == served.etag
    if since and served.modified_at is not None:
        try:
            return parsedate_to_datetime(since) >= served.modified_at
        except (TypeError, ValueError):
            return False
    return False


def feed_servers(names: Sequence[str], lock: threading.Lock, state: dict[str, Served]) -> list[str]:
    """One HTTP server per outlet, each on its own loopback address; their feed URLs."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes (see bench/poll.py)

        def do_GET(self) -> None:
            name = self.path.strip("/").removesuffix(".xml")
            with lock:
                served = state.get(name)
                if served is None or served.index < 0:
                    self.send_error(404)
                    return
                served.seen.add(served.index)
                fresh = not_modified(
                    served, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
                )
                if fresh:
                    served.not_modified += 1
                else:
                    served.ok += 1
                body, etag, modified = served.body, served.etag, served.modified
            self.send_response(304 if fresh else 200)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Length", "0" if fresh else str(len(body)))
            if not fresh:
                self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            if not fresh:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    urls = []
    for i, name in enumerate(names):
        server = ThreadingHTTPServer((f"127.0.0.{2 + i}", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        host, port = server.server_address[:2]
        urls.append(f"http://{host!s}:{port}/{name}.xml")
    return urls


def serve(names: Sequence[str], limit: int, conn: Connection) -> None:
    """The feed server's process. Sends the feed URLs and the first snapshot time, then
    answers commands: "next" makes the snapshots of the next time in the union of the
    outlets' times current and answers (that time, the outlets changed), or None when the
    histories are over; "stats" answers {outlet: (snapshots made current, 200s, 304s,
    snapshots answered while current)}; anything else stops it. Each outlet's next snapshot
    is read ahead while the daemon polls, one per outlet in memory."""
    lock = threading.Lock()
    state = {name: Served() for name in names}
    streams: dict[str, Iterator[Snapshot]] = {name: series(name, limit) for name in names}
    ahead: dict[str, Snapshot] = {}

    def read_ahead(name: str) -> None:
        following = next(streams[name], None)
        if following is None:
            ahead.pop(name, None)
        elif name in ahead and following.when < ahead[name].when:
            raise SystemExit(f"{name}: snapshots out of time order at {following.when}")
        else:
            ahead[name] = following

    for name in names:
        read_ahead(name)
    first = min((s.when for s in ahead.values()), default=None)
    conn.send((feed_servers(names, lock, state), first))
    while True:
        command = conn.recv()
        if command == "next":
            if not ahead:
                conn.send(None)
                continue
            when = min(s.when for s in ahead.values())
            changed = sorted(n for n, s in ahead.items() if s.when == when)
            with lock:
                for name in changed:
                    state[name].make_current(ahead[name])
            conn.send((when, changed))
            for name in changed:
                read_ahead(name)
        elif command == "stats":
            with lock:
                conn.send(
                    {n: (s.index + 1, s.ok, s.not_modified, len(s.seen)) for n, s in state.items()}
                )
        else:
            return


# --- the sinks -----------------------------------------------------------------------------

# "[monitor] digest for desk-slack: 12 alerts, 3 rules" (delivery.digest.digest_title)
_DIGEST = re.compile(r"\[monitor\] digest for \S+: (\d+) alerts?\b")
_ALERT_ID = re.compile(r"<alert-(\d+)\.")  # an alert email's Message-ID (channels.message_id)


@dataclass
class Received:
    """What a sink received: alert messages (each one alert), digests (the alerts they
    carried), notices from monitor itself, and alert messages that came more than once."""

    alone: int = 0
    digested: int = 0
    digests: int = 0
    notices: int = 0
    repeats: int = 0

    def add(self, digest: re.Match[str] | None, alert_key: str | None, keys: Counter[str]) -> None:
        if digest is not None:
            self.digests += 1
            self.digested += int(digest[1])
        elif alert_key is not None:
            self.alone += 1
            keys[alert_key] += 1
            self.repeats += keys[alert_key] > 1
        else:
            self.notices += 1


class _ToLoopback(httpx.BaseTransport):
    """Sends every request to the receiver on loopback instead of its URL's host: the post
    is made for real, only the address differs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass  # each post's client closes its transport; the sink closes the inner one

    def shut(self) -> None:
        self.inner.close()


class SlackSink:
    """A Slack incoming-webhook receiver on 127.0.0.1: answers "ok" as Slack does and keeps
    every JSON payload; `transport` is what the channel's posts go through."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    sink.payloads.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.transport = _ToLoopback(int(self.server.server_address[1]))
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.transport.shut()

    def tally(self) -> Received:
        received, keys = Received(), Counter[str]()
        for payload in self.payloads:
            key = next(
                (
                    str(part.get("url") or part.get("text"))
                    for block in payload.get("blocks", [])
                    if block.get("type") == "rich_text"
                    for section in block.get("elements", [])
                    for part in section.get("elements", [])
                ),
                None,
            )
            received.add(_DIGEST.match(str(payload.get("text", ""))), key, keys)
        return received


class MailSink:
    """An SMTP server (aiosmtpd) on 127.0.0.1 keeping every message; `url` is the apprise
    URL that sends to it."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        # A port found free is let go before aiosmtpd binds it; another process could take
        # it in between, which tests/conftest.py's mailbox retries and a benchmark need not.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.url = f"mailto://127.0.0.1:{self.port}?from=monitor@example.org&to=desk@example.org"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.received.append(envelope.original_content or b"")  # read in tally()
        return "250 Message accepted"

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def tally(self) -> Received:
        received, keys = Received(), Counter[str]()
        for raw in self.received:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            alert = _ALERT_ID.search(str(message.get("Message-ID", "")))
            received.add(
                _DIGEST.match(str(message.get("Subject", ""))), alert[1] if alert else None, keys
            )
        return received
