"""Fetching: a feed URL (or a local file) → bytes and headers. The only stage that talks HTTP.

One httpx client for the process, its connections kept alive and reused per host, with
connect and read timeouts plus a hard total deadline (`guards.Deadline`), a streamed body
cut off at a size cap counted after decompression (a huge body or a gzip bomb is refused,
never loaded), conditional GET with the stored ETag and Last-Modified, and the address
policy (`guards.AddressPolicy`) on every connection. Redirects are followed here, hop by
hop: at most `max_redirects`, never in a loop, never to anything but http(s), and a chain
of permanent ones (301, 308) reports where the feed now lives. feedparser's own fetcher has
neither timeout nor size limit, which is why it never sees a URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from enum import Enum
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx

from monitor.errors import FetchError
from monitor.feeds.guards import AddressPolicy, AddressRefused, Deadline, GuardedBackend, read_local
from monitor.feeds.pool import PoolPerHost
from monitor.models import FeedState, Fetched

# Status codes that will not mend by themselves; the feed should be looked at by a person.
_PERMANENT_STATUSES = {400, 401, 403, 404, 405, 410, 451}
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT_REDIRECTS = {301, 308}


class HTTPStatusError(FetchError):
    """The server answered with an error status; `retry_after` is its Retry-After header."""

    def __init__(self, status: int, reason: str, retry_after: str | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"HTTP {status} {reason}".strip(), permanent=status in _PERMANENT_STATUSES)

    @property
    def gone(self) -> bool:
        """410 Gone: the publisher says the feed will not come back."""
        return self.status == 410


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
    """How long and how much one fetch may take, and where it may connect."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    deny_private: bool = False
    # Idle connections kept open for reuse: at most this many per host, for at most this
    # many hosts (the least recently used host's are closed first).
    keepalive_per_host: int = 2
    keepalive_hosts: int = 128


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over our own httpcore pools (one per host), whose network backend
    applies the address policy and the deadline to every connection."""

    def __init__(self, limits: FetchLimits) -> None:
        super().__init__()
        self._pool.close()
        ssl_context = httpx.create_ssl_context()
        backend = GuardedBackend(AddressPolicy(deny_private=limits.deny_private))

        def one_host() -> httpcore.ConnectionPool:
            return httpcore.ConnectionPool(
                ssl_context=ssl_context,
                # Concurrency is the poller's to limit (in all and per host); the pool only
                # keeps idle connections for reuse.
                max_connections=None,
                max_keepalive_connections=limits.keepalive_per_host,
                keepalive_expiry=30.0,
                network_backend=backend,
            )

        # httpx calls only handle_request and close on its pool.
        self._pool = PoolPerHost(one_host, limits.keepalive_hosts)  # type: ignore[assignment]


class Fetcher:
    """Fetches feeds over HTTP(S), or from file:// URLs and plain paths. One Fetcher is
    shared by every worker thread: its connections are pooled."""

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        agent: str | None = None,
    ) -> None:
        self.limits = limits or FetchLimits()
        connect = min(self.limits.connect_timeout, self.limits.total_timeout)
        timeout = httpx.Timeout(self.limits.read_timeout, connect=connect, pool=5.0)
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # hop by hop in _fetch_http, each one checked
            headers={"User-Agent": agent or user_agent(), "Accept": _ACCEPT},
            transport=transport or _GuardedTransport(self.limits),
            # A proxy from the environment would connect for us, out of the policy's reach.
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str, state: FeedState | None = None) -> Fetched:
        """Fetch one feed. Raises FetchError, saying whether the failure is permanent
        (HTTPStatusError for an error status)."""
        kind = source_kind(url)
        if kind is Source.HTTP:
            return self._fetch_http(url, state or FeedState())
        if kind is Source.FILE:
            return self._fetch_file(url)
        raise FetchError(f"unsupported URL scheme {urlsplit(url).scheme!r}", permanent=True)

    def _fetch_file(self, url: str) -> Fetched:
        path = local_path(url)
        started = time.monotonic()
        content = read_local(path, self.limits.max_bytes)
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        return Fetched(url, 200, content, {}, None, modified, time.monotonic() - started)

    def _fetch_http(self, url: str, state: FeedState) -> Fetched:
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        started = time.monotonic()
        deadline = Deadline(self.limits.total_timeout)
        try:
            with deadline:
                return self._follow(url, headers, state, deadline, started)
        except FetchError:
            raise
        except Exception as e:
            # Whatever httpx makes of a request cut off by the deadline is a consequence,
            # not the cause. Checked by the clock too: a timeout that fires just as time
            # runs out is the same failure.
            if deadline.passed():
                raise FetchError(deadline.message) from e
            refused = _refusal(e)
            if refused is not None:
                raise FetchError(f"address refused: {refused}", permanent=True) from e
            if isinstance(e, httpx.TimeoutException):
                raise FetchError(f"timed out ({type(e).__name__})") from e
            if isinstance(e, httpx.InvalidURL | httpx.UnsupportedProtocol):
                if _readable(url):  # httpx read the Location of a redirect, and choked
                    raise FetchError(
                        f"redirected to an invalid URL ({e}); only http and https are followed",
                        permanent=True,
                    ) from e
                raise FetchError(f"invalid URL: {e}", permanent=True) from e
            if isinstance(e, httpx.HTTPError):
                raise FetchError(f"{type(e).__name__}: {e}") from e
            raise

    def _follow(
        self,
        url: str,
        headers: dict[str, str],
        state: FeedState,
        deadline: Deadline,
        started: float,
    ) -> Fetched:
        """The request and each redirect hop, until a response that is not a redirect."""
        seen = {url}
        moved_to: str | None = None
        permanent_so_far = True
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            with self.client.stream("GET", current, headers=headers) as response:
                status = response.status_code
                if status in _REDIRECTS and "Location" in response.headers:
                    target = urljoin(current, response.headers["Location"].strip())
                    scheme = urlsplit(target).scheme.lower()
                    if scheme not in ("http", "https"):
                        raise FetchError(
                            f"redirected to a {scheme or 'relative'}: URL ({target[:200]}); "
                            "only http and https are followed",
                            permanent=True,
                        )
                    if target in seen:
                        raise FetchError(f"redirect loop: {current} → {target}")
                    seen.add(target)
                    permanent_so_far = permanent_so_far and status in _PERMANENT_REDIRECTS
                    if permanent_so_far:
                        moved_to = target
                    current = target
                    continue
                if status == 304:
                    return Fetched(
                        url,
                        304,
                        None,
                        dict(response.headers),
                        state.etag,
                        state.last_modified,
                        time.monotonic() - started,
                        moved_to=moved_to,
                    )
                if status >= 400:
                    raise HTTPStatusError(
                        status, response.reason_phrase, response.headers.get("Retry-After")
                    )
                content = self._read_capped(response, deadline)
                return Fetched(
                    url=str(response.url),
                    status=status,
                    content=content,
                    headers=dict(response.headers),
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                    elapsed=time.monotonic() - started,
                    moved_to=moved_to,
                )
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    def _read_capped(self, response: httpx.Response, deadline: Deadline) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.limits.max_bytes:
            raise FetchError(
                f"response of {declared} bytes exceeds the {self.limits.max_bytes} cap"
            )
        chunks: list[bytes] = []
        size = 0
        # iter_bytes yields decoded bytes: the cap counts what gzip unpacks to.
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.limits.max_bytes:
                raise FetchError(f"response exceeds the {self.limits.max_bytes}-byte cap; cut off")
            # A custom transport (not ours) ignores the deadline: checked between chunks too.
            if deadline.passed():
                raise FetchError(deadline.message)
            chunks.append(chunk)
        return b"".join(chunks)


def _readable(url: str) -> bool:
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return True


def _refusal(error: BaseException) -> str | None:
    """The address policy's reason, if `error` (or what caused it) is a refusal."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
