"""parse_feed: real feeds from the shared corpus, a golden file, and hostile documents."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import pytest

from monitor.config import load_config
from monitor.errors import ParseError
from monitor.feeds.parse import (
    MAX_CONTENT,
    MAX_ITEMS,
    MAX_LINK,
    MAX_LIST,
    MAX_NAME,
    MAX_SUMMARY,
    MAX_TITLE,
    parse_feed,
)
from monitor.models import ParsedFeed, Story
from monitor.rules.matcher import Matcher
from tests.conftest import ROOT

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "nytimes__us_2020-08-05.xml"
GOLDEN_EXPECTED = DATA / "nytimes__us_2020-08-05.expected.json"

# Only used to list the files at collection time; every test reads them through the
# `corpus` fixture, which skips (with its reason) where the corpus is absent.
_CORPUS_GUESS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
_ABSENT = "corpus-absent"


def _names(folder: str) -> list[str]:
    directory = _CORPUS_GUESS / folder
    if not directory.is_dir():
        return [_ABSENT]
    return sorted(p.name for p in directory.iterdir() if p.is_file())


FEED_FILES = _names("feeds")
ODD_FILES = _names("odd")

# The corpus files parse_feed refuses (ParseError): JSON Feeds, an empty response, HTML
# pages and an XML document whose root is no feed. All in odd/; every other file must parse.
REFUSED = frozenset(
    {
        "allthis__truncated-jsonfeed.json",
        "daringfireball__jsonfeed-1.json",
        "inessential__jsonfeed-1.json",
        "jsonfeed__sample.json",
        "bbc__empty-zero-byte-response_2020-04-28.xml",
        "daringfireball__html-with-feed-autodiscovery.html",
        "furbo__html-page-instead-of-feed.html",
        "latimes__cloudfront-403-html-instead-of-feed_2021-10-16.xml",
        "unrecognized__not-a-feed-root.rss",
    }
)

TRUNCATED = [
    "foxnews__truncated-at-4096-bytes_2020-05-17.xml",
    "foxnews__truncated-at-8192-bytes_2020-05-17.xml",
    "nzherald__truncated-at-16384-bytes_2020-04-28.xml",
    "latimes__truncated-inside-cdata_2020-04-28.xml",
]

CONTENT_NS = 'xmlns:content="http://purl.org/rss/1.0/modules/content/"'
DC_NS = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'


def rss(items: str, *, channel: str = "<title>Test feed</title>") -> str:
    """A small UTF-8 RSS 2.0 document around the given <item> elements."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0" {CONTENT_NS} {DC_NS}><channel>{channel}\n{items}\n</channel></rss>\n'
    )


def parse_one(item: str, **kwargs: Any) -> Story:
    parsed = parse_feed(rss(item).encode("utf-8"), feed="test", **kwargs)
    assert len(parsed.stories) == 1
    return parsed.stories[0]


def as_expected(story: Story) -> dict[str, Any]:
    return {
        "guid": story.guid,
        "link": story.link,
        "title": story.title,
        "summary": story.summary,
        "published": story.published.isoformat() if story.published else None,
        "tags": list(story.tags),
    }


def corpus_file(corpus: Path, folder: str, name: str) -> Path:
    if name == _ABSENT:
        pytest.fail(f"the corpus was absent when tests were collected but is at {corpus} now")
    return corpus / folder / name


# --- golden file ---------------------------------------------------------------------------


def test_a_real_nyt_snapshot_parses_to_its_golden_stories() -> None:
    expected = json.loads(GOLDEN_EXPECTED.read_text(encoding="utf-8"))

    parsed = parse_feed(GOLDEN.read_bytes(), feed="nytimes-us")

    assert parsed.warning is None
    assert parsed.title == expected["feed_title"]
    assert len(parsed.stories) == expected["story_count"]
    assert [as_expected(s) for s in parsed.stories[:3]] == expected["stories"]
    assert all(s.feed == "nytimes-us" for s in parsed.stories)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
        ("utf-32-be", b"\x00\x00\xfe\xff"),
    ],
)
def test_the_golden_feed_reencoded_with_a_byte_order_mark_reads_the_same_stories(
    encoding: str, bom: bytes
) -> None:
    original = GOLDEN.read_bytes()
    declared = encoding[:6]  # utf-8, utf-16, utf-32
    text = original.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{declared}"', 1)
    assert f'encoding="{declared}"' in text

    reencoded = parse_feed(bom + text.encode(encoding), feed="nytimes-us")

    assert reencoded.warning is None
    assert reencoded == parse_feed(original, feed="nytimes-us")


# --- the corpus ----------------------------------------------------------------------------


def test_the_parametrized_file_lists_cover_the_whole_corpus(corpus: Path) -> None:
    assert sorted(p.name for p in (corpus / "feeds").iterdir()) == FEED_FILES
    assert sorted(p.name for p in (corpus / "odd").iterdir()) == ODD_FILES
    assert len(FEED_FILES) == 183
    assert len(ODD_FILES) == 57
    assert sorted(REFUSED - set(ODD_FILES)) == []  # a renamed file must not drop out unseen


@pytest.mark.parametrize(
    ("folder", "name"),
    [pytest.param("feeds", n, id=n) for n in FEED_FILES]
    + [pytest.param("odd", n, id=n) for n in ODD_FILES],
)
def test_every_corpus_file_parses_or_raises_parse_error(
    corpus: Path, folder: str, name: str
) -> None:
    data = corpus_file(corpus, folder, name).read_bytes()

    if folder == "odd" and name in REFUSED:
        with pytest.raises(ParseError):
            parse_feed(data, feed="corpus", base_url="https://feed.example/rss.xml")
        return

    parsed = parse_feed(data, feed="corpus", base_url="https://feed.example/rss.xml")

    assert isinstance(parsed, ParsedFeed)
    assert len(parsed.title) <= MAX_TITLE
    for story in parsed.stories:
        assert story.feed == "corpus"
        assert story.guid
        assert len(story.title) <= MAX_TITLE
        assert len(story.summary) <= MAX_SUMMARY
        assert len(story.content) <= MAX_CONTENT
        assert len(story.link) <= MAX_LINK
        assert story.published is None or story.published.tzinfo is UTC


@pytest.mark.parametrize("name", FEED_FILES)
def test_a_snapshot_in_feeds_is_read_whole_and_without_a_warning(corpus: Path, name: str) -> None:
    data = corpus_file(corpus, "feeds", name).read_bytes()
    items = len(re.findall(rb"<(?:item|entry)[\s>]", data))

    parsed = parse_feed(data, feed="corpus")

    assert parsed.warning is None
    assert len(parsed.stories) == items
    assert all(s.title and s.link for s in parsed.stories)


@pytest.mark.parametrize("name", TRUNCATED)
def test_a_truncated_feed_still_yields_its_items_with_a_warning(corpus: Path, name: str) -> None:
    data = (corpus / "odd" / name).read_bytes()
    complete = data.count(b"</item>")
    assert complete > 0

    parsed = parse_feed(data, feed="truncated")

    assert len(parsed.stories) >= complete
    assert parsed.warning is not None
    assert "malformed" in parsed.warning
    assert all(s.title and s.published for s in parsed.stories[:complete])


@pytest.mark.parametrize("name", TRUNCATED)
def test_a_truncated_feed_yields_no_half_read_story(corpus: Path, name: str) -> None:
    # A half-read item is stored under its guid; when the next poll brings the whole item,
    # dedupe treats it as seen and its real title is never matched.
    data = (corpus / "odd" / name).read_bytes()

    parsed = parse_feed(data, feed="truncated")

    assert len(parsed.stories) == data.count(b"</item>")


@pytest.mark.parametrize(
    "name",
    [
        "bbc__empty-zero-byte-response_2020-04-28.xml",
        "latimes__cloudfront-403-html-instead-of-feed_2021-10-16.xml",
        "furbo__html-page-instead-of-feed.html",
        "unrecognized__not-a-feed-root.rss",
    ],
)
def test_an_empty_or_non_feed_document_raises_parse_error(corpus: Path, name: str) -> None:
    with pytest.raises(ParseError):
        parse_feed((corpus / "odd" / name).read_bytes(), feed="odd")


def test_a_whitespace_only_document_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_feed(b" \r\n\t\n ", feed="blank")


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("feedparser__koi8-r-undeclared.xml", "новогоднюю"),
        ("feedparser__windows-1252-bytes-undeclared.xml", "don\u2019t"),
        ("encoding__iso-8859-1-bytes.rss", "Raríssimas"),
        ("kc0011__gb2312-chinese-slash-dates.rss", "纪念"),
    ],
    ids=["koi8-r", "windows-1252", "iso-8859-1", "gb2312"],
)
def test_a_feed_in_a_legacy_encoding_decodes_to_readable_text(
    corpus: Path, name: str, word: str
) -> None:
    parsed = parse_feed((corpus / "odd" / name).read_bytes(), feed="odd")

    assert parsed.stories
    assert word in "\n".join(s.text for s in parsed.stories)


def test_a_charset_in_the_content_type_header_decodes_an_undeclared_koi8r_feed(
    corpus: Path,
) -> None:
    data = (corpus / "odd" / "feedparser__koi8-r-undeclared.xml").read_bytes()

    parsed = parse_feed(data, feed="odd", headers={"content-type": "text/xml; charset=koi8-r"})

    assert parsed.stories[0].title == "Как пережить новогоднюю ночь"


@pytest.mark.parametrize("name", ["feedparser__utf-16le-bom.xml", "feedparser__utf-32be-bom.xml"])
def test_a_utf16_or_utf32_feed_with_a_byte_order_mark_parses_cleanly(
    corpus: Path, name: str
) -> None:
    parsed = parse_feed((corpus / "odd" / name).read_bytes(), feed="odd")

    assert parsed.warning is None
    assert parsed.stories == ()


# --- hostile documents ---------------------------------------------------------------------


def billion_laughs(encoding_declaration: str = "utf-8") -> str:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0" encoding="{encoding_declaration}"?>\n'
        f"<!DOCTYPE rss [\n{chr(10).join(entities)}\n]>\n"
        '<rss version="2.0"><channel><title>&lol9;</title>'
        "<item><title>&lol9;</title><guid>laugh</guid></item></channel></rss>\n"
    )


@pytest.mark.parametrize(
    ("declared", "encode"),
    [
        pytest.param("utf-8", lambda s: s.encode("utf-8"), id="utf-8"),
        pytest.param("utf-8", lambda s: s.encode("utf-8-sig"), id="utf-8-bom"),
        pytest.param("utf-16", lambda s: s.encode("utf-16-le"), id="utf-16le-no-bom"),
        pytest.param("utf-16", lambda s: s.encode("utf-16-be"), id="utf-16be-no-bom"),
        pytest.param("utf-16", lambda s: b"\xff\xfe" + s.encode("utf-16-le"), id="utf-16le-bom"),
        pytest.param("utf-16", lambda s: b"\xfe\xff" + s.encode("utf-16-be"), id="utf-16be-bom"),
        pytest.param("utf-32", lambda s: s.encode("utf-32"), id="utf-32-bom"),
        pytest.param(
            "utf-32", lambda s: b"\x00\x00\xfe\xff" + s.encode("utf-32-be"), id="utf-32be-bom"
        ),
    ],
)
def test_a_billion_laughs_document_is_refused_quickly(
    declared: str, encode: Callable[[str], bytes]
) -> None:
    data = encode(billion_laughs(declared))
    started = time.monotonic()

    with pytest.raises(ParseError, match="ENTITY"):
        parse_feed(data, feed="hostile")

    assert time.monotonic() - started < 1.0


def two_items(first_title: str) -> str:
    return (
        f"<item><title>{first_title}</title><guid>odd</guid></item>"
        "<item><title>Next story</title><guid>next</guid></item>"
    )


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param("&#55357;&#56840; Smile", "\ufffd\ufffd Smile", id="decimal-pair"),
        pytest.param("&#xD83D;", "\ufffd", id="hex"),
        pytest.param("&#x0000d83d; &#X00DFFF;", "\ufffd \ufffd", id="hex-leading-zeros"),
        pytest.param("&#0055296; &#57343;", "\ufffd \ufffd", id="decimal-edges"),
        pytest.param("&lt;b&gt;&#55357;&lt;/b&gt;", "\ufffd", id="inside-escaped-html"),
        pytest.param("&#1114112; &#x110000;", "\ufffd \ufffd", id="past-u10ffff"),
        pytest.param("&#xFFFFFFFFFF;", "\ufffd", id="past-a-c-int"),
        pytest.param(f"&#{'9' * 5_000};", "\ufffd", id="five-thousand-digits"),
    ],
)
def test_a_reference_to_a_non_character_becomes_u_fffd_and_the_feed_is_still_read(
    title: str, expected: str
) -> None:
    parsed = parse_feed(rss(two_items(title)).encode(), feed="odd-refs")

    assert [s.title for s in parsed.stories] == [expected, "Next story"]
    assert parsed.warning is None


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("&#55295; &#57344;", "\ud7ff \ue000"),  # the neighbours of the surrogate block
        ("&#128512; &#x1F600; &#x10FFFF;", "\U0001f600 \U0001f600 \U0010ffff"),
        ("Don&#8217;t &#xA0;stop", "Don\u2019t stop"),
    ],
    ids=["surrogate-neighbours", "astral", "common"],
)
def test_references_to_real_characters_are_left_alone(title: str, expected: str) -> None:
    parsed = parse_feed(rss(two_items(title)).encode(), feed="refs")

    assert parsed.stories[0].title == expected


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("bom", [True, False], ids=["bom", "no-bom"])
def test_a_surrogate_reference_in_a_utf16_or_utf32_feed_becomes_u_fffd(
    encoding: str, bom: bool
) -> None:
    text = rss(two_items("&#55357;&#56840; Smile")).replace('"utf-8"', f'"{encoding[:6]}"')
    data = ("\ufeff" if bom else "").encode(encoding) + text.encode(encoding)

    parsed = parse_feed(data, feed="wide")

    assert [s.title for s in parsed.stories] == ["\ufffd\ufffd Smile", "Next story"]


def test_an_exception_inside_feedparser_becomes_a_parse_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("boom\nat line 2")

    monkeypatch.setattr(feedparser, "parse", broken)

    with pytest.raises(ParseError, match=r"^feedparser failed: RuntimeError: boom at line 2$"):
        parse_feed(rss(two_items("Fine")).encode(), feed="broken")


def test_a_feed_whose_cdata_text_quotes_an_entity_declaration_is_still_read() -> None:
    # A security news item quoting an XXE payload is text, not a declaration.
    item = (
        "<item><title>How XXE works</title><guid>xxe</guid>"
        "<description><![CDATA[<p>The payload declares <code>&lt;!DOCTYPE x [<!ENTITY a "
        '"b">]&gt;</code></p>]]></description>'
        "</item>"
    )

    story = parse_one(item)

    assert story.title == "How XXE works"


BIG = "word " * 200_000  # 1 MB of text


@pytest.mark.parametrize(
    ("item", "field", "cap"),
    [
        (f"<title>{BIG}</title><guid>g</guid>", "title", MAX_TITLE),
        (f"<description>{BIG}</description><guid>g</guid>", "summary", MAX_SUMMARY),
        (
            f"<description>short</description><content:encoded>{BIG}</content:encoded>"
            "<guid>g</guid>",
            "content",
            MAX_CONTENT,
        ),
        (f"<link>https://example.com/{'a' * 1_000_000}</link>", "link", MAX_LINK),
        (f"<guid isPermaLink='false'>{'g' * 1_000_000}</guid>", "guid", MAX_LINK),
    ],
    ids=["title", "summary", "content", "link", "guid"],
)
def test_a_one_megabyte_field_is_cut_to_its_cap(item: str, field: str, cap: int) -> None:
    story = parse_one(f"<item>{item}</item>")

    value = getattr(story, field)
    assert cap * 0.8 < len(value) <= cap


def test_a_cut_title_keeps_its_beginning_and_ends_with_an_ellipsis() -> None:
    story = parse_one(f"<item><title>Breaking: {BIG}</title><guid>g</guid></item>")

    assert story.title.startswith("Breaking: word word")
    assert story.title.endswith("…")


def test_authors_and_tags_are_capped_in_length_and_number() -> None:
    tags = "".join(f"<category>tag{i} {BIG[:5_000]}</category>" for i in range(50))
    item = f"<item><guid>g</guid><dc:creator>{BIG}</dc:creator>{tags}</item>"

    story = parse_one(item)

    assert 0 < len(story.authors) <= MAX_LIST
    assert all(len(a) <= MAX_NAME for a in story.authors)
    assert len(story.tags) == MAX_LIST
    assert all(len(t) <= MAX_NAME for t in story.tags)
    assert story.tags[0].startswith("tag0 word")


def test_a_one_megabyte_feed_title_is_cut_to_its_cap() -> None:
    parsed = parse_feed(rss("", channel=f"<title>{BIG}</title>").encode(), feed="big")

    assert 0 < len(parsed.title) <= MAX_TITLE


def test_html_in_an_rss_item_becomes_plain_text() -> None:
    item = (
        "<item><guid>g</guid>"
        "<title>&lt;b&gt;Bold&lt;/b&gt; move &amp;amp; AT&amp;T</title>"
        "<description><![CDATA[<p>Hello <b>world</b> &amp; &eacute;t&eacute;&#8217;s end</p>"
        "<script>alert('description')</script><style>p { color: red }</style>]]></description>"
        "<content:encoded><![CDATA[<div><h2>Body</h2><p>Text 3 &lt; 4</p>"
        "<script type='text/javascript'>document.write('content')</script></div>]]>"
        "</content:encoded></item>"
    )

    story = parse_one(item)

    assert story.title == "Bold move & AT&T"
    assert story.summary == "Hello world & été\u2019s end"
    assert "Body" in story.content
    assert "Text 3 < 4" in story.content
    for text in (story.title, story.summary, story.content):
        assert not re.search(r"</?[a-z]+[ >/]", text)
        assert "alert" not in text
        assert "document.write" not in text
        assert "color" not in text
        assert "&amp;" not in text
        assert "&eacute;" not in text


def test_html_in_an_atom_entry_becomes_plain_text() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title>'
        '<entry><id>tag:example.com,2020:1</id><title type="html">&lt;em&gt;Hi&lt;/em&gt; '
        "&amp;amp; bye</title>"
        '<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>One &amp; two</p>'
        "<script>steal()</script></div></summary>"
        '<content type="html">&lt;p&gt;Body&lt;/p&gt;&lt;script&gt;evil()&lt;/script&gt;</content>'
        "</entry></feed>"
    )

    story = parse_feed(atom.encode(), feed="atom").stories[0]

    assert story.title == "Hi & bye"
    assert story.summary == "One & two"
    assert story.content == "Body"


def test_the_guid_is_kept_when_it_differs_from_the_link() -> None:
    story = parse_one(
        "<item><link>https://example.com/a?utm_source=rss</link>"
        '<guid isPermaLink="false">urn:example:42</guid></item>'
    )

    assert story.guid == "urn:example:42"
    assert story.link == "https://example.com/a?utm_source=rss"


def test_the_guid_falls_back_to_the_link() -> None:
    story = parse_one("<item><title>T</title><link> https://example.com/story </link></item>")

    assert story.guid == "https://example.com/story"
    assert story.link == "https://example.com/story"


def test_the_guid_falls_back_to_a_sha1_of_the_text_without_guid_or_link() -> None:
    first = parse_one("<item><title>Quake hits</title><description>Big one</description></item>")
    again = parse_one("<item><title>Quake hits</title><description>Big one</description></item>")
    other = parse_one("<item><title>Quake hits</title><description>Aftershock</description></item>")

    assert re.fullmatch(r"sha1:[0-9a-f]{40}", first.guid)
    assert first.link == ""
    assert again.guid == first.guid
    assert other.guid != first.guid


def test_items_without_guid_or_link_in_one_feed_get_distinct_guids() -> None:
    items = "".join(f"<item><title>Story {i}</title></item>" for i in range(5))

    parsed = parse_feed(rss(items).encode(), feed="rss091")

    assert len({s.guid for s in parsed.stories}) == 5


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("/news/world-1", "https://www.example.com/news/world-1"),
        ("story-2.html", "https://www.example.com/feeds/story-2.html"),
        ("https://other.example/abs", "https://other.example/abs"),
    ],
)
def test_a_relative_link_resolves_against_the_base_url(link: str, expected: str) -> None:
    story = parse_one(
        f"<item><title>T</title><link>{link}</link></item>",
        base_url="https://www.example.com/feeds/rss.xml",
    )

    assert story.link == expected
    assert story.guid == expected


def test_a_relative_atom_link_resolves_against_the_base_url() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        '<title>A</title><entry><id>e1</id><title>T</title><link href="/posts/1"/></entry></feed>'
    )

    parsed = parse_feed(atom.encode(), feed="a", base_url="https://blog.example/feed.atom")

    story = parsed.stories[0]

    assert story.link == "https://blog.example/posts/1"


def test_an_rss_pubdate_becomes_a_utc_datetime() -> None:
    story = parse_one(
        "<item><guid>g</guid><pubDate>Tue, 10 Jun 2003 09:41:01 +0200</pubDate></item>"
    )

    assert story.published == datetime(2003, 6, 10, 7, 41, 1, tzinfo=UTC)
    assert story.published is not None
    assert story.published.tzinfo is UTC


def test_an_atom_entry_with_only_an_updated_date_gets_it_as_utc() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>A</title><entry><id>e1</id><title>T</title>"
        "<updated>2021-10-16T20:15:00-05:00</updated></entry></feed>"
    )

    story = parse_feed(atom.encode(), feed="a").stories[0]

    assert story.published == datetime(2021, 10, 17, 1, 15, tzinfo=UTC)


def test_an_unparseable_pubdate_gives_no_date_and_no_warning() -> None:
    # Portuguese day and month names, as the UOL feed in corpus/odd has them.
    item = "<item><guid>g</guid><pubDate>Seg, 24 Set 2018 19:42:40 -0300</pubDate></item>"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        story = parse_one(item)

    assert story.published is None
    assert [str(w.message) for w in caught] == []


def test_more_than_max_items_are_cut_with_a_warning() -> None:
    items = "".join(
        f"<item><guid>g{i}</guid><title>t{i}</title></item>" for i in range(MAX_ITEMS + 3)
    )

    parsed = parse_feed(rss(items).encode(), feed="huge")

    assert len(parsed.stories) == MAX_ITEMS
    assert parsed.stories[0].guid == "g0"
    assert parsed.stories[-1].guid == f"g{MAX_ITEMS - 1}"
    assert parsed.warning is not None
    assert str(MAX_ITEMS + 3) in parsed.warning
    assert str(MAX_ITEMS) in parsed.warning


def test_exactly_max_items_are_all_read_without_a_warning() -> None:
    items = "".join(f"<item><guid>g{i}</guid></item>" for i in range(MAX_ITEMS))

    parsed = parse_feed(rss(items).encode(), feed="full")

    assert len(parsed.stories) == MAX_ITEMS
    assert parsed.warning is None


@pytest.mark.parametrize(
    "prefix",
    [b"\n\n  ", b"\xef\xbb\xbf\n", b"\xef\xbb\xbf  \r\n"],
    ids=["spaces", "bom-nl", "bom-sp"],
)
def test_whitespace_before_the_xml_declaration_does_not_make_the_feed_malformed(
    prefix: bytes,
) -> None:
    parsed = parse_feed(prefix + GOLDEN.read_bytes(), feed="nytimes-us")

    assert parsed.warning is None
    assert len(parsed.stories) == 7


# --- issue 10: what feedparser reports, read right (tests/data/fidelity) ----------------------

FIDELITY = DATA / "fidelity"


def fidelity_stories(name: str) -> list[Story]:
    return list(parse_feed((FIDELITY / name).read_bytes(), feed="fidelity").stories)


def plain(guid: str, title: str, summary: str = "", content: str = "", link: str = "") -> Story:
    """A story as the fidelity documents give them: no date, authors or tags."""
    return Story("fidelity", guid, link or guid, title, summary, content)


def test_an_atom_entry_with_content_and_no_summary_gets_its_content_as_text() -> None:
    # feedparser copies the content into `summary` with no summary_detail of its own.
    assert fidelity_stories("atom-content-only.xml") == [
        plain("tag:fidelity.test,2026:1", "Atom with content only", "Example Atom"),
        plain("tag:fidelity.test,2026:2", "An XHTML title", "Para one.\n\nPara two."),
    ]


def test_an_rss_item_with_only_content_encoded_matches_no_word_of_its_urls_or_scripts() -> None:
    rules = [r for r in load_config(ROOT / "config").rules if r.id == "libya-named-towns"]
    assert len(rules) == 1

    stories = fidelity_stories("rss-content-encoded-only.xml")

    assert stories == [
        plain("weather-1", "Weather report for the coast", "Sunny spells, light winds.\nRead more")
    ]
    assert Matcher(rules).match(stories[0]) == []


def test_a_nested_title_or_description_does_not_replace_the_items_own() -> None:
    # <image><title> and <media:description> overwrite title_detail / summary_detail.
    assert fidelity_stories("rss-nested-titles.xml") == [
        plain("http://x.example/1", "Real headline"),
        plain("http://x.example/2", "Beach reopens", "The county reopened its beaches."),
        # No content:encoded, so feedparser files the caption as content.
        plain("http://x.example/3", "Picture story", "Boats in the harbour", "Harbour caption"),
    ]


def test_a_latimes_item_keeps_its_description_not_the_photo_caption(corpus: Path) -> None:
    data = (corpus / "feeds" / "latimes__california_2020-04-22.xml").read_bytes()

    story = parse_feed(data, feed="latimes").stories[0]

    assert story == Story(
        feed="latimes",
        guid=LATIMES_LINK,
        link=LATIMES_LINK,
        title="Ventura County urges residents to keep social distancing despite coronavirus "
        "progress",
        summary="County officials stressed that residents are still required to stay home as "
        "much as possible and practice social distancing inside businesses.",
        content="",
        published=datetime(2020, 4, 22, 0, 14, 53, tzinfo=UTC),
        authors=("Priscella Vega",),
    )


LATIMES_LINK = (
    "https://www.latimes.com/california/story/2020-04-21/"
    "ventura-county-urges-residents-to-keep-social-distancing-despite-coronavirus-progress"
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "literal-angle-brackets.xml",
            [
                plain(
                    "tag:fidelity.test,2026:blink",
                    "History of the <blink> tag",
                    "Nice <gorilla> what's he weigh?",
                ),
                # Looks like HTML (a closing tag, an entity): read as HTML, even in Atom.
                plain(
                    "tag:fidelity.test,2026:escaped",
                    "Double-escaped bold & more",
                    "3 < 4 and 5 > 4",
                ),
            ],
        ),
        (
            "rss-literal-angle-brackets.xml",
            [
                plain("gorilla", "Nice <gorilla> what's he weigh?", "A bold claim"),
                plain("html-title", "An emphatic title", "Fish & chips"),
            ],
        ),
    ],
    ids=["atom", "rss"],
)
def test_plain_text_keeps_a_literal_word_in_angle_brackets(
    name: str, expected: list[Story]
) -> None:
    assert fidelity_stories(name) == expected


def test_hidden_html_is_dropped_and_content_repeating_the_summary_is_left_out() -> None:
    assert fidelity_stories("deliberate-differences.xml") == [
        plain("hidden-parts", "Hidden parts", "Seen text"),
        plain("repeated", "Content repeats the summary", "One line. Another line."),
    ]


@pytest.mark.parametrize(
    ("value", "looks"),
    [
        ("Nice <gorilla> what's he weigh?", False),  # unknown element
        ("History of the <blink> tag", False),  # no closing tag, no entity
        ("3 < 4 and 5 > 4", False),
        ("A <b>bold</b> claim", True),
        ("Fish &amp; chips", True),
        ("&bogus; entity", False),  # not an HTML entity
        ("<b>bold</b> and <gorilla>", False),  # every tag must be known
        ("plain words", False),
    ],
)
def test_plain_text_is_read_as_html_only_when_feedparser_says_it_looks_like_html(
    value: str, looks: bool
) -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>A</title><entry><id>e</id><title type='text'>{escape(value)}</title></entry>"
        "</feed>"
    )

    title = parse_feed(atom.encode(), feed="a").stories[0].title

    assert (title != value) is looks


@pytest.mark.parametrize(
    ("document", "title"),
    [
        pytest.param(
            rss("", channel="<title>Desk &amp; wire</title><image><title>Logo</title></image>"),
            "Desk & wire",
            id="rss-image-title",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title type="html">&lt;b&gt;Atom&lt;/b&gt; desk</title></feed>',
            "Atom desk",
            id="atom-html-title",
        ),
        pytest.param(
            rss("", channel="<title>The &lt;blink&gt; blog</title>"),
            "The <blink> blog",
            id="rss-literal-brackets",
        ),
    ],
)
def test_the_feed_title_follows_the_same_rules_as_a_story_title(document: str, title: str) -> None:
    assert parse_feed(document.encode(), feed="t").title == title
