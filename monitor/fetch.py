"""Fetching: a feed URL (or a local file) → bytes and headers. The only stage that talks HTTP.

httpx with connect and read timeouts plus a total deadline, a streamed body cut off at a
size cap (a huge body is refused, never loaded), conditional GET with the stored ETag and
Last-Modified, and redirects followed. feedparser's own fetcher has neither timeout nor
size limit, which is why it never sees a URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path
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
        timeout = httpx.Timeout(
            self.limits.read_timeout, connect=self.limits.connect_timeout, pool=5.0
        )
        self.client = httpx.Client(
            timeout=timeout,
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
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            return self._fetch_http(url, state or FeedState())
        if scheme == "file" or scheme == "" or (len(scheme) == 1 and url[1:3] == ":\\"):
            return self._fetch_file(url)
        raise FetchError(f"unsupported URL scheme {scheme!r}", permanent=True)

    def _fetch_file(self, url: str) -> Fetched:
        path = Path(unquote(urlsplit(url).path)) if url.startswith("file:") else Path(url)
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
        deadline = started + self.limits.total_timeout
        try:
            with self.client.stream("GET", url, headers=headers) as response:
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
        except httpx.TooManyRedirects as e:
            raise FetchError(f"more than {self.limits.max_redirects} redirects") from e
        except httpx.TimeoutException as e:
            raise FetchError(f"timed out ({type(e).__name__})") from e
        except httpx.InvalidURL as e:
            raise FetchError(f"invalid URL: {e}", permanent=True) from e
        except httpx.HTTPError as e:
            raise FetchError(f"{type(e).__name__}: {e}") from e

    def _read_capped(self, response: httpx.Response, deadline: float) -> bytes:
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
            if time.monotonic() > deadline:
                raise FetchError(f"response took longer than {self.limits.total_timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
