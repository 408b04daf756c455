"""Parsing: fetched bytes → stories as plain text. Pure; feedparser never sees a URL.

feedparser is called with sanitize_html and resolve_relative_uris off: we never render
feed HTML, we turn it into text ourselves, and those two passes cost time for nothing
(about 20% of feedparser's time on our corpus, see BENCHMARKS.md). A title or summary is
feedparser's entry[key], never its `*_detail` (a nested element can overwrite that), and
plain text stays word for word unless feedparser's own test says it is HTML. Documents that
declare XML entities are refused (feedparser does not stop the "billion laughs"
expansion), and every field is capped so a hostile feed cannot grow a story without
bound.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser

# feedparser 6 (pinned below 7) has its plain-text-or-HTML guess only as this staticmethod;
# tests/test_parse.py pins what it decides.
from feedparser.mixin import _FeedParserMixin

from monitor.errors import ParseError
from monitor.feeds.items import FIRST_ELEMENT, ITEM_END, item_digests, item_spans, keeping
from monitor.models import ParsedFeed, Story
from monitor.text import clean_whitespace, html_to_text, truncate

MAX_TITLE = 500
MAX_SUMMARY = 4_000
MAX_CONTENT = 20_000
MAX_LINK = 2_048
MAX_NAME = 200
MAX_LIST = 20
MAX_ITEMS = 2_000

_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}
# The type feedparser gives a title or summary of each format when nothing says otherwise:
# RSS descriptions are HTML, RSS titles and every Atom text construct plain text.
_RSS_TYPES = {"title": "text/plain", "summary": "text/html"}
_ATOM_TYPES = {"title": "text/plain", "summary": "text/plain"}


# A numeric character reference to a UTF-16 surrogate (some generators spell an emoji as
# &#55357;&#56840;) or past U+10FFFF names no character. feedparser decodes it anyway and
# raises (UnicodeEncodeError, ValueError, OverflowError), losing the whole feed. Only a
# reference of 4+ hex or 5+ decimal significant digits can be one, so the common ones
# (&#8217;, &#xA0;) never reach the callback. Without its ";" feedparser leaves it as text.
_LONG_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")
_REPLACEMENT_REF = b"&#xFFFD;"
# Encodings whose characters are not single bytes, so "<!ENTITY" or "&#" is not a byte
# pattern: told by their byte-order mark, or by how "<" starts a document without one.
_WIDE_ENCODINGS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def _wide_encoding(data: bytes) -> str | None:
    """UTF-16 or UTF-32 (with or without a byte-order mark), or None for byte encodings."""
    return next((enc for prefix, enc in _WIDE_ENCODINGS if data.startswith(prefix)), None)


def _ascii_view(data: bytes) -> bytes:
    """The document as ASCII-compatible bytes: UTF-16/32 decoded."""
    encoding = _wide_encoding(data)
    if encoding is None:
        return data
    return data.decode(encoding, errors="ignore").encode("utf-8", errors="ignore")


def declares_entities(data: bytes) -> bool:
    """Whether an XML document declares entities (<!ENTITY) in its DOCTYPE, whatever its
    encoding. A feed item that merely quotes "<!ENTITY" in its text is not refused."""
    data = _ascii_view(data)
    doctype = data.find(b"<!DOCTYPE")
    if doctype < 0:
        return False
    root = FIRST_ELEMENT.search(data, doctype)
    prolog = data[doctype : root.start() if root else len(data)]
    return b"<!ENTITY" in prolog


def _replacement(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match[1], match[2]
    digits = hex_digits or decimal
    # Over 7 significant digits is past U+10FFFF in either base; and int() refuses a
    # string of thousands of digits (int_max_str_digits), so it is not asked.
    if len(digits) > 7:
        return _REPLACEMENT_REF
    code = int(digits, 16 if hex_digits else 10)
    return _REPLACEMENT_REF if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match[0]


def without_invalid_char_refs(data: bytes) -> bytes:
    """The document with each numeric reference to a non-character (a UTF-16 surrogate,
    or past U+10FFFF) replaced by one to U+FFFD, in whatever encoding it comes."""
    encoding = _wide_encoding(data)
    if encoding is None:
        return _LONG_CHAR_REF.sub(_replacement, data) if b"&#" in data else data
    # UTF-16/32: substitute in UTF-8 and encode back. surrogatepass keeps the round trip
    # exact even for raw lone surrogates, which are feedparser's to judge, not ours.
    try:
        text = data.decode(encoding, errors="surrogatepass")
        if "&#" not in text:
            return data
        utf8 = _LONG_CHAR_REF.sub(_replacement, text.encode("utf-8", errors="surrogatepass"))
        return utf8.decode("utf-8", errors="surrogatepass").encode(encoding, "surrogatepass")
    except UnicodeError:  # not really UTF-16/32 after all: feedparser will say what it is
        return data


def parse_feed(
    data: bytes,
    *,
    feed: str,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    known: Collection[int] = (),
) -> ParsedFeed:
    """Parse a feed document into stories. Raises ParseError when nothing can be read.

    `known` holds item digests (`ParsedFeed.digests`) of the feed's last document: items
    that repeat one byte for byte are left out before feedparser sees them, and only named
    in `ParsedFeed.repeated`."""
    # Whitespace before the XML declaration (even after a UTF-8 BOM) makes expat refuse it.
    data = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not data:
        raise ParseError("the document is empty")
    if data.startswith((b"{", b"[")):
        raise ParseError("this is JSON (a JSON Feed?); monitor reads RSS, Atom and RDF only")
    if declares_entities(data):
        raise ParseError("the document declares XML entities (<!ENTITY); refused as unsafe")
    data = without_invalid_char_refs(data)
    headers = dict(headers or {})
    spans = item_spans(data)
    digests = item_digests(data, spans, headers=headers, base_url=base_url) if spans else []
    if known and digests and len(digests) <= MAX_ITEMS:
        kept = [i for i, digest in enumerate(digests) if digest not in known]
        if len(kept) < len(digests):
            shorter = _read(keeping(data, spans or [], kept), headers)
            # Only a clean reading of the shorter document stands for the whole one; anything
            # odd (cutting items out broke it, an item was not an entry) reads it all again.
            if (
                not shorter.get("bozo")
                and shorter.get("version")
                and len(shorter.get("entries", [])) == len(kept)
            ):
                skipped = set(kept)
                return _parsed(
                    shorter,
                    feed=feed,
                    base_url=base_url,
                    entries=shorter["entries"],
                    digests=tuple(digests[i] for i in kept),
                    repeated=tuple(d for i, d in enumerate(digests) if i not in skipped),
                )
    parsed = _read(data, headers)
    entries = parsed.get("entries", [])
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None:
        # A document cut off mid-item yields a half-read last entry (no title, no date).
        # Stored, it would shadow the whole item when it arrives, so only closed ones count.
        entries = entries[: len(ITEM_END.findall(data))]
    if not entries and not parsed.get("version"):
        if _looks_like_page(data):
            found = advertised_feeds(data, base_url)
            where = f"; it advertises the feed {found[0]}" if found else ""
            raise ParseError(f"not a feed: an HTML page{where}")
        if problem is not None:
            raise ParseError(f"not a readable feed: {_describe(problem)}")
        raise ParseError("not a feed: no RSS, Atom or RDF root element")
    # Item i is entry i only when feedparser read exactly the items the pattern found.
    aligned = problem is None and len(entries) == len(digests)
    return _parsed(
        parsed,
        feed=feed,
        base_url=base_url,
        entries=entries,
        digests=tuple(digests[:MAX_ITEMS]) if aligned else (),
        problem=problem,
    )


def _read(data: bytes, headers: Mapping[str, str]) -> Any:
    """feedparser's reading of a document, or ParseError when feedparser itself fails."""
    try:
        return feedparser.parse(
            data,
            response_headers=dict(headers),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:
        # feedparser means to report every problem as `bozo`, yet some input it was never
        # shown still raises. That costs this feed alone, reported like any unreadable one.
        raise ParseError(f"feedparser failed: {type(e).__name__}: {_describe(e)}") from e


def _parsed(
    parsed: Any,
    *,
    feed: str,
    base_url: str,
    entries: list[Any],
    digests: tuple[int, ...] = (),
    repeated: tuple[int, ...] = (),
    problem: object = None,
) -> ParsedFeed:
    atom = str(parsed.get("version", "")).startswith("atom")
    stories = tuple(
        _story(entry, feed=feed, base_url=base_url, atom=atom) for entry in entries[:MAX_ITEMS]
    )
    warning = None
    if problem is not None:
        warning = f"malformed feed, read {len(stories)} items: {_describe(problem)}"
    elif len(entries) > MAX_ITEMS:
        warning = f"feed has {len(entries)} items; read the first {MAX_ITEMS}"
    title = truncate(
        _field_text(parsed.get("feed", {}), "title", _ATOM_TYPES if atom else _RSS_TYPES),
        MAX_TITLE,
    )
    return ParsedFeed(
        title=title,
        stories=stories,
        warning=warning,
        ttl=_ttl(parsed),
        digests=digests,
        repeated=repeated,
    )


def _ttl(parsed: Mapping[str, Any]) -> float | None:
    """RSS <ttl> (minutes) in seconds, when it is a whole number of at most 30 days."""
    value = str(parsed.get("feed", {}).get("ttl", "")).strip()
    return float(value) * 60.0 if value.isdigit() and 0 < int(value) <= 43_200 else None


_PAGE = re.compile(rb"<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)
_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml"}


def _looks_like_page(data: bytes) -> bool:
    return bool(_PAGE.search(_ascii_view(data[:4096])))


class _AlternateLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link" or len(self.found) >= MAX_LIST:
            return
        values = {k.lower(): (v or "").strip() for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";", 1)[0].strip()
        if "alternate" in rels and kind in _FEED_TYPES and values.get("href"):
            self.found.append(values["href"])


def advertised_feeds(page: bytes, base_url: str = "") -> list[str]:
    """The feed URLs a web page advertises (`<link rel="alternate" type="application/rss+xml"
    href=...>`, Atom and RDF alike), absolute, in the page's order, each once."""
    reader = _AlternateLinks()
    text = _ascii_view(page[:1_000_000]).decode("utf-8", errors="replace")
    try:
        reader.feed(text)
        reader.close()
    except AssertionError:  # html.parser gives up on some broken markup
        pass
    urls = (urljoin(base_url, href) if base_url else href for href in reader.found)
    return list(dict.fromkeys(u[:MAX_LINK] for u in urls))


def _describe(problem: object) -> str:
    message = str(problem).strip() or type(problem).__name__
    return truncate(message.replace("\n", " "), 300)


def _looks_like_html(value: str) -> bool:
    """feedparser's own guess whether a nominally plain-text field is really HTML: a closing
    tag or an entity, and every tag a known HTML element (so "<gorilla>" stays text)."""
    # Most titles have neither character: they skip feedparser's three regex scans.
    return ("<" in value or "&" in value) and bool(_FeedParserMixin.looks_like_html(value))


def _to_text(value: str, content_type: str) -> str:
    """A field's value as plain text: HTML converted, plain text kept word for word."""
    if content_type in _HTML_TYPES or _looks_like_html(value):
        return html_to_text(value)
    return clean_whitespace(value)


def _field_text(entry: Mapping[str, Any], key: str, defaults: Mapping[str, str]) -> str:
    """The plain text of entry[key] ("title" or "summary").

    The value is always entry[key]: a nested element (an <image>'s <title>, a
    <media:description>) overwrites `<key>_detail` but not the entry's own value. So the
    detail's type counts only when its value is this value. A summary that feedparser
    copied from the content has no detail of its own; its type is that content's. With
    neither, the field has its format's default type.
    """
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        return ""
    details = [entry.get(f"{key}_detail"), *entry.get("content", [])]
    content_type = next(
        (
            str(d.get("type", "")).lower()
            for d in details
            if isinstance(d, Mapping) and d.get("value") == value
        ),
        defaults[key],
    )
    return _to_text(value, content_type)


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get falls back between these keys with a DeprecationWarning.
        value = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (ValueError, OverflowError):
                continue
    return None


def _names(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = [
        str(a.get("name", "")).strip() for a in entry.get("authors", []) if isinstance(a, dict)
    ]
    if not any(names) and entry.get("author"):
        names = [str(entry["author"]).strip()]
    return tuple(truncate(html_to_text(n), MAX_NAME) for n in names if n)[:MAX_LIST]


def _tags(entry: Mapping[str, Any]) -> tuple[str, ...]:
    terms = (str(t.get("term") or t.get("label") or "").strip() for t in entry.get("tags", []))
    return tuple(truncate(html_to_text(t), MAX_NAME) for t in terms if t)[:MAX_LIST]


def _story(entry: Mapping[str, Any], *, feed: str, base_url: str, atom: bool) -> Story:
    defaults = _ATOM_TYPES if atom else _RSS_TYPES
    title = truncate(_field_text(entry, "title", defaults), MAX_TITLE)
    summary = truncate(_field_text(entry, "summary", defaults), MAX_SUMMARY)
    contents = [
        _to_text(str(c.get("value", "")), str(c.get("type", "")).lower())
        for c in entry.get("content", [])
        if isinstance(c, Mapping)
    ]
    # Content that only repeats the summary (often the same HTML with other line breaks)
    # would double every word; a summary cut at its cap leaves the content whole.
    said = summary.split()
    content = truncate("\n\n".join(c for c in contents if c and c.split() != said), MAX_CONTENT)
    link = str(entry.get("link", "")).strip()
    if link and base_url:
        link = urljoin(base_url, link)
    link = link[:MAX_LINK]
    guid = str(entry.get("id", "")).strip()[:MAX_LINK] or link
    if not guid:
        # No guid and no link (RSS 0.91, odd Atom): the text is the only identity there is.
        guid = "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()
    return Story(
        feed=feed,
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=content,
        published=_published(entry),
        authors=_names(entry),
        tags=_tags(entry),
    )
