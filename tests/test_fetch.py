"""Fetcher against a real HTTP server on loopback (pytest-httpserver), and local files."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import ClassVar

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.errors import FetchError
from monitor.feeds.fetch import Fetcher, FetchLimits
from monitor.models import FeedState

FEED = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<rss version="2.0"><channel><title>Loopback</title>'
    b"<item><title>Hello</title><guid>g1</guid></item></channel></rss>\n"
)
ETAG = '"feed-v1"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"

# Fetches that should succeed (or fail for any reason but time) get timeouts a loaded CI
# machine cannot hit; they cost nothing when the server answers at once. Only the tests
# about timing out tighten the one limit they are about. The cap is small so tests send
# little data.
LIMITS = FetchLimits(connect_timeout=10.0, read_timeout=10.0, total_timeout=10.0, max_bytes=10_000)
SLACK = 2.0  # seconds a timed-out fetch may take past its limit on a loaded machine


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LIMITS) as f:
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


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening, held for the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


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

    with Fetcher(LIMITS, agent="monitor/test (+ops@example.com)") as fetcher:
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

    with pytest.raises(FetchError, match="redirect loop"):
        fetcher.fetch(httpserver.url_for("/a"))

    assert len(httpserver.log) <= LIMITS.max_redirects + 1


# --- size cap ------------------------------------------------------------------------------


def test_a_body_over_the_cap_with_a_content_length_raises_fetch_error(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/big.xml").respond_with_data(b"x" * (LIMITS.max_bytes + 1))

    with pytest.raises(FetchError, match=str(LIMITS.max_bytes)) as caught:
        fetcher.fetch(httpserver.url_for("/big.xml"))

    assert caught.value.permanent is False
    assert httpserver.log[0][1].headers["Content-Length"] == str(LIMITS.max_bytes + 1)


def test_a_streamed_body_over_the_cap_without_content_length_raises_fetch_error(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    handler = streamed(chunks=100, size=1_000)  # 100 kB against a 10 kB cap
    httpserver.expect_request("/stream.xml").respond_with_handler(handler)

    try:
        with pytest.raises(FetchError, match=str(LIMITS.max_bytes)):
            fetcher.fetch(httpserver.url_for("/stream.xml"))
    finally:
        handler.stop.set()  # type: ignore[attr-defined]

    assert "Content-Length" not in httpserver.log[0][1].headers


def test_a_body_exactly_at_the_cap_with_a_content_length_is_returned_whole(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    body = b"y" * LIMITS.max_bytes
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
    assert len(bomb) < LIMITS.max_bytes
    httpserver.expect_request("/bomb.xml").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(FetchError, match=str(LIMITS.max_bytes)):
        fetcher.fetch(httpserver.url_for("/bomb.xml"))


# --- slow servers --------------------------------------------------------------------------


def test_a_server_that_does_not_answer_in_time_raises_fetch_error_promptly(
    httpserver: HTTPServer,
) -> None:
    limits = replace(LIMITS, read_timeout=0.5)
    release = threading.Event()

    def slow(_request: Request) -> Response:
        release.wait(30.0)  # silent well past the bound below; released when the test ends
        return Response(FEED)

    httpserver.expect_request("/slow.xml").respond_with_handler(slow)

    started = time.monotonic()
    try:
        with Fetcher(limits) as fetcher, pytest.raises(FetchError, match="timed out") as caught:
            fetcher.fetch(httpserver.url_for("/slow.xml"))
        elapsed = time.monotonic() - started
    finally:
        release.set()

    assert elapsed < limits.read_timeout + SLACK
    assert caught.value.permanent is False


def test_a_trickling_body_is_cut_off_at_the_total_deadline(httpserver: HTTPServer) -> None:
    limits = replace(LIMITS, total_timeout=1.5)
    # Each chunk comes well within the read timeout; all of them would take 10 s.
    handler = streamed(chunks=50, size=10, pause=0.2)
    httpserver.expect_request("/trickle.xml").respond_with_handler(handler)

    started = time.monotonic()
    try:
        with (
            Fetcher(limits) as fetcher,
            pytest.raises(FetchError, match=r"no complete response within 1\.5s"),
        ):
            fetcher.fetch(httpserver.url_for("/trickle.xml"))
        elapsed = time.monotonic() - started
    finally:
        handler.stop.set()  # type: ignore[attr-defined]

    assert elapsed < limits.total_timeout + SLACK


# --- the hard deadline, against a raw socket server ----------------------------------------

# Each read comes well within the read timeout; only the total deadline can stop these.
HARD = replace(LIMITS, total_timeout=1.0)
TRICKLE = 0.2  # seconds between bytes
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
    + f"Content-Length: {len(FEED)}\r\n\r\n".encode()
)

Script = Callable[[socket.socket, threading.Event], None]


def trickle(conn: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send one byte every TRICKLE seconds, until done, stopped or the client hangs up."""
    for i in range(len(data)):
        if stop.wait(TRICKLE):
            return
        conn.sendall(data[i : i + 1])


def trickled_head(conn: socket.socket, stop: threading.Event) -> None:
    trickle(conn, HEAD + FEED, stop)  # whole, it would take 46 s


def trickled_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(HEAD)
    trickle(conn, FEED, stop)


def trickled_unsized_body(conn: socket.socket, stop: threading.Event) -> None:
    # No Content-Length and not chunked: the body ends when the connection does, so the
    # deadline's own shutdown must not make a cut-off body look complete.
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n"
    )
    trickle(conn, FEED, stop)


def trickled_tls_handshake(conn: socket.socket, stop: threading.Event) -> None:
    # A TLS record header announcing a 16 kB handshake message: the client's TLS library
    # waits for the whole record, and so reads every byte of it within the timeout.
    conn.sendall(b"\x16\x03\x03\x40\x00")
    trickle(conn, b"\x00" * 200, stop)


def prompt(conn: socket.socket, _stop: threading.Event) -> None:
    conn.sendall(HEAD + FEED)


class RawServer:
    """HTTP by hand on a loopback socket, for misbehaviour a real server will not produce.

    The request's path picks the script that answers it (`/prompt`, `/trickled_head`, ...),
    each connection in its own thread. `close()` stops every script within TRICKLE seconds
    and joins every thread.
    """

    SCRIPTS: ClassVar[dict[str, Script]] = {
        f"/{f.__name__}": f
        for f in (
            trickled_head,
            trickled_body,
            trickled_unsized_body,
            trickled_tls_handshake,
            prompt,
        )
    }

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.acceptor.join(5)
        for thread in self.threads:
            thread.join(5)
        self.listener.close()
        assert not self.acceptor.is_alive()
        assert not any(t.is_alive() for t in self.threads)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(2.0)
                request = conn.recv(65536)  # a GET (or a TLS ClientHello) arrives whole
                if request.startswith(b"\x16"):  # a TLS handshake record, not HTTP
                    path = "/trickled_tls_handshake"
                else:
                    path = request.split(b" ", 2)[1].decode("latin-1")
                self.SCRIPTS[path](conn, self.stop)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, which is what these tests expect of it
            except BaseException as e:  # reported by the test, not lost in this thread
                self.errors.append(e)


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    try:
        yield server
    finally:
        server.close()
    assert server.errors == []


@pytest.fixture
def hard_fetcher() -> Iterator[Fetcher]:
    with Fetcher(HARD) as f:
        yield f


@pytest.mark.parametrize(
    ("path", "scheme"),
    [
        ("/trickled_head", "http"),
        ("/trickled_body", "http"),
        ("/trickled_unsized_body", "http"),
        ("/trickled_tls_handshake", "https"),
    ],
    ids=["status-line-and-headers", "body", "body-until-close", "tls-handshake"],
)
def test_a_trickling_response_is_cut_off_hard_at_the_total_deadline(
    raw_server: RawServer, hard_fetcher: Fetcher, path: str, scheme: str
) -> None:
    started = time.monotonic()

    with pytest.raises(FetchError, match=r"no complete response within 1s") as caught:
        hard_fetcher.fetch(raw_server.url(path, scheme))

    elapsed = time.monotonic() - started
    assert HARD.total_timeout <= elapsed < HARD.total_timeout + SLACK
    assert caught.value.permanent is False


def test_a_fetch_after_a_timed_out_one_still_works(
    raw_server: RawServer, hard_fetcher: Fetcher
) -> None:
    with pytest.raises(FetchError, match="no complete response"):
        hard_fetcher.fetch(raw_server.url("/trickled_head"))

    got = hard_fetcher.fetch(raw_server.url("/prompt"))

    assert got.status == 200
    assert got.content == FEED


def test_concurrent_fetches_through_one_fetcher_each_keep_their_own_deadline(
    raw_server: RawServer, hard_fetcher: Fetcher
) -> None:
    # The daemon's worker threads share one Fetcher: one feed's deadline must neither cut
    # off nor wait for another's.
    results: dict[str, object] = {}

    def run(path: str) -> None:
        try:
            results[path] = hard_fetcher.fetch(raw_server.url(path)).content
        except FetchError as e:
            results[path] = e

    threads = [threading.Thread(target=run, args=(p,)) for p in ("/trickled_head", "/prompt")]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HARD.total_timeout + 2 * SLACK)

    assert time.monotonic() - started < HARD.total_timeout + SLACK
    assert isinstance(results["/trickled_head"], FetchError)
    assert results["/prompt"] == FEED


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


def test_a_refused_connection_raises_fetch_error(fetcher: Fetcher, refusing_port: int) -> None:
    started = time.monotonic()

    with pytest.raises(FetchError, match="ConnectError") as caught:
        fetcher.fetch(f"http://127.0.0.1:{refusing_port}/feed.xml")

    assert caught.value.permanent is False
    # Refused at once, not after the connect timeout.
    assert time.monotonic() - started < LIMITS.connect_timeout / 2


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
    path.write_bytes(b"z" * (LIMITS.max_bytes + 1))

    with pytest.raises(FetchError, match=str(LIMITS.max_bytes)):
        fetcher.fetch(str(path))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/feed.xml", "gopher://127.0.0.1/1/feed"])
def test_an_unsupported_scheme_raises_a_permanent_fetch_error(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError, match="scheme") as caught:
        fetcher.fetch(url)

    assert caught.value.permanent is True
