"""Fetching: a feed URL (or a local file) → bytes and headers. The only stage that talks HTTP.

httpx with connect and read timeouts plus a hard total deadline, a streamed body cut off at a
size cap (a huge body is refused, never loaded), conditional GET with the stored ETag and
Last-Modified, and redirects followed. feedparser's own fetcher has neither timeout nor
size limit, which is why it never sees a URL.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from enum import Enum
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from monitor.errors import FetchError
from monitor.models import FeedState, Fetched

# Status codes that will not mend by themselves; the feed should be looked at by a person.
_PERMANENT_STATUSES = {400, 401, 403, 404, 405, 410, 451}


def user_agent() -> str:
    """`monitor/<version> (+<project URL>)`: who is polling, and where to read about it."""
    try:
        meta = metadata("monitor")
        version = meta["Version"]
        url = next(
            (v.split(",", 1)[1].strip() for v in meta.get_all("Project-URL") or [] if "," in v),
            "",
        )
    except PackageNotFoundError:  # running from a source tree without installing
        version, url = "0", ""
    return f"monitor/{version} (+{url})" if url else f"monitor/{version}"


class Source(Enum):
    """How a feed's URL is read."""

    HTTP = "http"
    FILE = "file"


def source_kind(url: str) -> Source | None:
    """How `Fetcher.fetch` would read this URL, or None if it cannot (ftp:, javascript:, …).

    The configuration check asks this too, so what it accepts is what fetch can read.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return Source.HTTP
    # A one-letter scheme followed by ":\\" is a Windows drive, not a URL.
    if scheme in ("file", "") or (len(scheme) == 1 and url[1:3] == ":\\"):
        return Source.FILE
    return None


def local_path(url: str) -> Path:
    """The file a file:// URL or a plain path names (for a URL `source_kind` calls FILE)."""
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(url)


@dataclass(frozen=True)
class FetchLimits:
    """How long and how much one fetch may take."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5


class Fetcher:
    """Fetches feeds over HTTP(S), or from file:// URLs and plain paths."""

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        agent: str | None = None,
    ) -> None:
        self.limits = limits or FetchLimits()
        # The deadline cannot interrupt connect() itself (no socket exists yet), so a connect
        # attempt is never allowed to outlast the whole request.
        connect = min(self.limits.connect_timeout, self.limits.total_timeout)
        timeout = httpx.Timeout(self.limits.read_timeout, connect=connect, pool=5.0)
        self.client = httpx.Client(
            timeout=timeout,
            # No keep-alive: every request opens its own connection, so the deadline always
            # sees it being made (a pooled one would be reused without a trace event) and
            # one fetch's shutdown can never hit a connection another thread is using.
            limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=True,
            max_redirects=self.limits.max_redirects,
            headers={"User-Agent": agent or user_agent(), "Accept": _ACCEPT},
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str, state: FeedState | None = None) -> Fetched:
        """Fetch one feed. Raises FetchError, saying whether the failure is permanent."""
        kind = source_kind(url)
        if kind is Source.HTTP:
            return self._fetch_http(url, state or FeedState())
        if kind is Source.FILE:
            return self._fetch_file(url)
        raise FetchError(f"unsupported URL scheme {urlsplit(url).scheme!r}", permanent=True)

    def _fetch_file(self, url: str) -> Fetched:
        path = local_path(url)
        started = time.monotonic()
        try:
            with path.open("rb") as f:
                content = f.read(self.limits.max_bytes + 1)
        except OSError as e:
            raise FetchError(f"cannot read {path}: {e.strerror or e}", permanent=True) from e
        if len(content) > self.limits.max_bytes:
            raise FetchError(f"file is larger than {self.limits.max_bytes} bytes")
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        return Fetched(url, 200, content, {}, None, modified, time.monotonic() - started)

    def _fetch_http(self, url: str, state: FeedState) -> Fetched:
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        started = time.monotonic()
        # Per request, never on self: worker threads share this Fetcher.
        deadline = _Deadline(self.limits.total_timeout)
        with deadline:
            try:
                with self.client.stream(
                    "GET", url, headers=headers, extensions={"trace": deadline.trace}
                ) as response:
                    if response.status_code == 304:
                        return Fetched(
                            url,
                            304,
                            None,
                            dict(response.headers),
                            state.etag,
                            state.last_modified,
                            time.monotonic() - started,
                        )
                    if response.status_code >= 400:
                        raise FetchError(
                            f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                            permanent=response.status_code in _PERMANENT_STATUSES,
                        )
                    content = self._read_capped(response, deadline)
                    return Fetched(
                        url=str(response.url),
                        status=response.status_code,
                        content=content,
                        headers=dict(response.headers),
                        etag=response.headers.get("ETag"),
                        last_modified=response.headers.get("Last-Modified"),
                        elapsed=time.monotonic() - started,
                    )
            except FetchError:
                raise
            except Exception as e:
                # Once the deadline has cut the connection, whatever httpx (or ssl, or h11)
                # makes of the dead socket is a consequence, not the cause. Checked by the
                # clock too: a timeout that fires just as time runs out is the same failure.
                if deadline.passed():
                    raise FetchError(deadline.message) from e
                if isinstance(e, httpx.TooManyRedirects):
                    raise FetchError(f"more than {self.limits.max_redirects} redirects") from e
                if isinstance(e, httpx.TimeoutException):
                    raise FetchError(f"timed out ({type(e).__name__})") from e
                if isinstance(e, httpx.InvalidURL):
                    raise FetchError(f"invalid URL: {e}", permanent=True) from e
                if isinstance(e, httpx.HTTPError):
                    raise FetchError(f"{type(e).__name__}: {e}") from e
                raise

    def _read_capped(self, response: httpx.Response, deadline: _Deadline) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.limits.max_bytes:
            raise FetchError(
                f"response of {declared} bytes exceeds the {self.limits.max_bytes} cap"
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.limits.max_bytes:
                raise FetchError(f"response exceeds the {self.limits.max_bytes}-byte cap; cut off")
            # The socket shutdown is what makes the deadline hard; this check also covers a
            # transport that ignores the trace extension (httpx.MockTransport, a custom one).
            if deadline.passed():
                raise FetchError(deadline.message)
            chunks.append(chunk)
        # A body that runs until the server closes (no Content-Length, not chunked) also
        # "ends" when the deadline shuts the socket: that cut-off body must not pass as whole.
        if deadline.passed():
            raise FetchError(deadline.message)
        return b"".join(chunks)


class _Deadline:
    """A hard limit on the whole of one HTTP request: connect, TLS, headers and body.

    httpx's read timeout applies to each read, so a server that sends its status line,
    headers or body a byte at a time, each byte inside the read timeout, would hold the
    request (and the daemon's tick, and SIGTERM) forever. A timer shuts the connection's
    socket down when time is up, which wakes a recv() blocked in any stage.

    The socket comes from httpcore's "connect_tcp.complete" trace event. We keep
    a dup() of it rather than the socket object, and so need no second event for TLS:
    ssl.SSLSocket takes the descriptor over by detaching the original object before its
    handshake, so that object can no longer be shut down (EBADF) and a trickled handshake
    would run on to its own timeout. A descriptor of our own reaches the same connection
    whatever wraps it, and, closed only after the request, it can never be a number the OS
    has meanwhile reused for another thread's socket.
    """

    def __init__(self, seconds: float) -> None:
        self.message = f"no complete response within {seconds:g}s"
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True  # never keeps the process alive, even if left uncancelled

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._forget()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self._ends

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace callback: called in the requesting thread for each stage."""
        # "connection." for direct and HTTP-proxy connections, "socks." through SOCKS.
        if not event.endswith(".connect_tcp.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        try:
            own = sock.dup()
        except OSError:  # out of descriptors: only the between-chunks check is left
            return
        with self._lock:
            # Requests of one fetch (redirects) are sequential: a new connection means the
            # previous one is finished, and its descriptor can go.
            self._forget()
            self._socket = own
            if self.expired:  # time ran out while connecting
                self._shut_down()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut_down()

    def _shut_down(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already disconnected by the peer
                self._socket.shutdown(socket.SHUT_RDWR)

    def _forget(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
