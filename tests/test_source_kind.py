"""fetch.source_kind: which URLs fetch reads, and how; the config check asks the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import FetchError
from monitor.feeds.fetch import Fetcher, Source, local_path, source_kind


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        pytest.param("https://example.org/feed.xml", Source.HTTP, id="https"),
        pytest.param("http://example.org/feed.xml", Source.HTTP, id="http"),
        pytest.param("HTTPS://EXAMPLE.ORG/feed.xml", Source.HTTP, id="upper-case-scheme"),
        pytest.param("file:///srv/feed.xml", Source.FILE, id="file-url"),
        pytest.param("feeds/feed.xml", Source.FILE, id="relative-path"),
        pytest.param("/srv/feed.xml", Source.FILE, id="absolute-path"),
        pytest.param("www.bbc.co.uk/feed.xml", Source.FILE, id="host-without-scheme-is-a-path"),
        pytest.param("C:\\feeds\\feed.xml", Source.FILE, id="windows-drive"),
        pytest.param("ftp://example.org/feed.xml", None, id="ftp"),
        pytest.param("gopher://example.org/1/feed", None, id="gopher"),
        pytest.param("javascript:alert(1)", None, id="javascript"),
        pytest.param("localhost:8080/feed.xml", None, id="host-and-port"),
    ],
)
def test_source_kind_says_how_fetch_reads_a_url(url: str, kind: Source | None) -> None:
    assert source_kind(url) is kind


@pytest.mark.parametrize(
    ("url", "path"),
    [
        pytest.param("file:///srv/my%20feed.xml", Path("/srv/my feed.xml"), id="file-url"),
        pytest.param("FILE:///srv/feed.xml", Path("/srv/feed.xml"), id="upper-case-file-url"),
        pytest.param("/srv/feed.xml", Path("/srv/feed.xml"), id="path"),
    ],
)
def test_local_path_is_the_file_a_url_names(url: str, path: Path) -> None:
    assert local_path(url) == path


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "javascript:alert(1)"])
def test_fetch_refuses_what_source_kind_refuses_as_permanent(url: str) -> None:
    with Fetcher() as fetcher, pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert caught.value.permanent
    assert "unsupported URL scheme" in str(caught.value)


def test_fetch_reads_an_upper_case_file_url(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss/>")

    with Fetcher() as fetcher:
        fetched = fetcher.fetch(feed.as_uri().replace("file:", "FILE:", 1))

    assert fetched.content == b"<rss/>"
