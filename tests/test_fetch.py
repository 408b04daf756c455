"""Fetcher against a real HTTP server on loopback (pytest-httpserver), and local files."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.errors import FetchError
from monitor.fetch import Fetcher, FetchLimits
from monitor.models import FeedState

FEED = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<rss version="2.0"><channel><title>Loopback</title>'
    b"<item><title>Hello</title><guid>g1</guid></item></channel></rss>\n"
)
ETAG = '"feed-v1"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"

# Small timeouts keep every failure fast; the cap is small so tests send little data.
FAST = FetchLimits(connect_timeout=0.5, read_timeout=0.5, total_timeout=1.5, max_bytes=10_000)


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FAST) as f:
        yield f


def streamed(chunks: int, size: int, *, pause: float = 0.0) -> Callable[[Request], Response]:
    """A handler whose body is a generator: no Content-Length, sent as it is produced."""
    stop = threading.Event()

    def handler(_request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(chunks):
                if stop.wait(pause):
                    return
                yield b"x" * size

        return Response(body(), content_type="application/rss+xml")

    handler.stop = stop  # type: ignore[attr-defined]
    return handler


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- 200 -----------------------------------------------------------------------------------


def test_a_200_returns_the_bytes_final_url_etag_and_last_modified(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED,
        content_type="application/rss+xml",
        headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED},
    )
    url = httpserver.url_for("/feed.xml")

    got = fetcher.fetch(url)

    assert got.status == 200
    assert got.content == FEED
    assert got.url == url
    assert got.etag == ETAG
    assert got.last_modified == LAST_MODIFIED
    assert got.elapsed >= 0
    httpserver.check_assertions()


def test_the_request_carries_a_monitor_user_agent_and_no_validators(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(FEED)

    fetcher.fetch(httpserver.url_for("/feed.xml"))

    (request, _response), *_ = httpserver.log
    assert request.headers["User-Agent"].startswith("monitor/")
    assert "application/rss+xml" in request.headers["Accept"]
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


def test_a_custom_agent_replaces_the_default_user_agent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(FEED)

    with Fetcher(FAST, agent="monitor/test (+ops@example.com)") as fetcher:
        fetcher.fetch(httpserver.url_for("/feed.xml"))

    assert httpserver.log[0][0].headers["User-Agent"] == "monitor/test (+ops@example.com)"


# --- conditional GET -----------------------------------------------------------------------


def test_a_conditional_get_sends_the_validators_and_a_304_has_no_content(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request(
        "/feed.xml", headers={"If-None-Match": ETAG, "If-Modified-Since": LAST_MODIFIED}
    ).respond_with_data(b"", status=304)

    got = fetcher.fetch(httpserver.url_for("/feed.xml"), FeedState(ETAG, LAST_MODIFIED))

    assert got.status == 304
    assert got.content is None
    assert got.etag == ETAG
    assert got.last_modified == LAST_MODIFIED
    request = httpserver.log[0][0]
    assert request.headers["If-None-Match"] == ETAG
    assert request.headers["If-Modified-Since"] == LAST_MODIFIED
    httpserver.check_assertions()


def test_a_state_with_only_an_etag_sends_only_if_none_match(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(b"", status=304)

    got = fetcher.fetch(httpserver.url_for("/feed.xml"), FeedState(etag=ETAG))

    assert got.status == 304
    request = httpserver.log[0][0]
    assert request.headers["If-None-Match"] == ETAG
    assert "If-Modified-Since" not in request.headers


def test_a_changed_feed_answers_a_conditional_get_with_new_content_and_validators(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED, headers={"ETag": '"feed-v2"', "Last-Modified": "Thu, 22 Oct 2015 07:28:00 GMT"}
    )

    got = fetcher.fetch(httpserver.url_for("/feed.xml"), FeedState(ETAG, LAST_MODIFIED))

    assert got.status == 200
    assert got.content == FEED
    assert got.etag == '"feed-v2"'
    assert got.last_modified == "Thu, 22 Oct 2015 07:28:00 GMT"


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_followed_and_the_final_url_reported(
    httpserver: HTTPServer, fetcher: Fetcher, status: int
) -> None:
    httpserver.expect_request("/old.xml").respond_with_data(
        b"", status=status, headers={"Location": "/new.xml"}
    )
    httpserver.expect_request("/new.xml").respond_with_data(FEED, headers={"ETag": ETAG})

    got = fetcher.fetch(httpserver.url_for("/old.xml"))

    assert got.status == 200
    assert got.content == FEED
    assert got.url == httpserver.url_for("/new.xml")
    assert got.etag == ETAG
    assert [r.path for r, _ in httpserver.log] == ["/old.xml", "/new.xml"]


def test_a_redirect_loop_raises_fetch_error_after_a_bounded_number_of_requests(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/a").respond_with_data(b"", status=301, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data(b"", status=301, headers={"Location": "/a"})

    with pytest.raises(FetchError, match="redirects"):
        fetcher.fetch(httpserver.url_for("/a"))

    assert len(httpserver.log) <= FAST.max_redirects + 1


# --- size cap ------------------------------------------------------------------------------


def test_a_body_over_the_cap_with_a_content_length_raises_fetch_error(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/big.xml").respond_with_data(b"x" * (FAST.max_bytes + 1))

    with pytest.raises(FetchError, match=str(FAST.max_bytes)) as caught:
        fetcher.fetch(httpserver.url_for("/big.xml"))

    assert caught.value.permanent is False
    assert httpserver.log[0][1].headers["Content-Length"] == str(FAST.max_bytes + 1)


def test_a_streamed_body_over_the_cap_without_content_length_raises_fetch_error(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    handler = streamed(chunks=100, size=1_000)  # 100 kB against a 10 kB cap
    httpserver.expect_request("/stream.xml").respond_with_handler(handler)

    try:
        with pytest.raises(FetchError, match=str(FAST.max_bytes)):
            fetcher.fetch(httpserver.url_for("/stream.xml"))
    finally:
        handler.stop.set()  # type: ignore[attr-defined]

    assert "Content-Length" not in httpserver.log[0][1].headers


def test_a_body_exactly_at_the_cap_with_a_content_length_is_returned_whole(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    body = b"y" * FAST.max_bytes
    httpserver.expect_request("/full.xml").respond_with_data(body)

    assert fetcher.fetch(httpserver.url_for("/full.xml")).content == body


def test_a_streamed_body_just_under_the_cap_is_returned_whole(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    handler = streamed(chunks=9, size=1_111)  # 9,999 bytes against a 10,000-byte cap
    httpserver.expect_request("/stream.xml").respond_with_handler(handler)

    got = fetcher.fetch(httpserver.url_for("/stream.xml"))

    assert got.content == b"x" * 9_999
    assert "Content-Length" not in httpserver.log[0][1].headers


def test_a_gzip_body_is_decoded(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        gzip.compress(FEED), headers={"Content-Encoding": "gzip"}
    )

    got = fetcher.fetch(httpserver.url_for("/feed.xml"))

    assert got.content == FEED


def test_a_gzip_bomb_is_cut_off_at_the_cap_on_its_decoded_size(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < FAST.max_bytes
    httpserver.expect_request("/bomb.xml").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(FetchError, match=str(FAST.max_bytes)):
        fetcher.fetch(httpserver.url_for("/bomb.xml"))


# --- slow servers --------------------------------------------------------------------------


def test_a_server_that_does_not_answer_in_time_raises_fetch_error_promptly(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    release = threading.Event()

    def slow(_request: Request) -> Response:
        release.wait(2.0)
        return Response(FEED)

    httpserver.expect_request("/slow.xml").respond_with_handler(slow)

    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="timed out") as caught:
            fetcher.fetch(httpserver.url_for("/slow.xml"))
        elapsed = time.monotonic() - started
    finally:
        release.set()

    assert elapsed < FAST.read_timeout + 1.0
    assert caught.value.permanent is False


def test_a_trickling_body_is_cut_off_at_the_total_deadline(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    # Each chunk comes within the read timeout; all of them would take 6 s.
    handler = streamed(chunks=30, size=10, pause=0.2)
    httpserver.expect_request("/trickle.xml").respond_with_handler(handler)

    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="longer than"):
            fetcher.fetch(httpserver.url_for("/trickle.xml"))
        elapsed = time.monotonic() - started
    finally:
        handler.stop.set()  # type: ignore[attr-defined]

    assert elapsed < FAST.total_timeout + 0.5


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(404, True), (410, True), (500, False), (503, False)],
)
def test_an_http_error_raises_fetch_error_saying_whether_it_is_permanent(
    httpserver: HTTPServer, fetcher: Fetcher, status: int, permanent: bool
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(b"nope", status=status)

    with pytest.raises(FetchError, match=str(status)) as caught:
        fetcher.fetch(httpserver.url_for("/feed.xml"))

    assert caught.value.permanent is permanent


def test_a_refused_connection_raises_fetch_error(fetcher: Fetcher) -> None:
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"http://127.0.0.1:{unused_port()}/feed.xml")

    assert caught.value.permanent is False
    assert time.monotonic() - started < 2.0


# --- files ---------------------------------------------------------------------------------


def test_a_file_url_reads_the_file(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "my feed.xml"  # the space is %20 in the URL
    path.write_bytes(FEED)
    url = path.as_uri()
    assert "%20" in url

    got = fetcher.fetch(url)

    assert got.status == 200
    assert got.content == FEED
    assert got.url == url
    assert got.last_modified is not None
    assert abs(parsedate_to_datetime(got.last_modified).timestamp() - path.stat().st_mtime) < 1


def test_a_plain_path_reads_the_file(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)

    got = fetcher.fetch(str(path))

    assert got.status == 200
    assert got.content == FEED


def test_a_relative_plain_path_reads_the_file_from_the_working_directory(
    tmp_path: Path, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "feed.xml").write_bytes(FEED)
    monkeypatch.chdir(tmp_path)

    assert fetcher.fetch("feed.xml").content == FEED


@pytest.mark.parametrize("as_url", [True, False], ids=["file-url", "plain-path"])
def test_a_missing_file_raises_a_permanent_fetch_error(
    tmp_path: Path, fetcher: Fetcher, as_url: bool
) -> None:
    missing = tmp_path / "absent.xml"

    with pytest.raises(FetchError) as caught:
        fetcher.fetch(missing.as_uri() if as_url else str(missing))

    assert caught.value.permanent is True


def test_a_file_over_the_cap_raises_fetch_error(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"z" * (FAST.max_bytes + 1))

    with pytest.raises(FetchError, match=str(FAST.max_bytes)):
        fetcher.fetch(str(path))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/feed.xml", "gopher://127.0.0.1/1/feed"])
def test_an_unsupported_scheme_raises_a_permanent_fetch_error(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError, match="scheme") as caught:
        fetcher.fetch(url)

    assert caught.value.permanent is True
