"""monitor's plain text against feedparser's own parse: the same words, entry by entry.

For every document monitor reads (the shared corpus, a sample of the replay archives and
the hand-written documents in tests/data/fidelity), each entry's title, summary and content
must carry the words that feedparser's default parse (sanitising on) has, once that is
reduced to text here, independently of monitor.text. The only differences allowed are the
deliberate ones listed in ARCHITECTURE.md; each is one named piece of code below, none is a
threshold.

Words are compared as their folded letters run together: this reduction drops every tag,
so it cannot know which tags break a word (<p>) and which do not (<b>), while monitor can.
"""

from __future__ import annotations

import csv
import difflib
import html
import re
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import feedparser
import pytest
from feedparser.mixin import _FeedParserMixin

from monitor.errors import ParseError
from monitor.feeds.parse import MAX_CONTENT, MAX_SUMMARY, MAX_TITLE, parse_feed
from monitor.models import Story
from monitor.text import fold_words
from tests.test_parse import FEED_FILES, ODD_FILES, REFUSED, corpus_file

FIDELITY = Path(__file__).resolve().parent / "data" / "fidelity"
OWN_FILES = sorted(p.name for p in FIDELITY.glob("*.xml"))
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Per replay archive, this many snapshots spread evenly over its history, leaving out any
# over REPLAY_BYTES (the scraped outlets' reach 1.5 MB; their like is in feeds/ already).
REPLAY_SAMPLE = 2
REPLAY_BYTES = 500_000

# --- the deliberate differences (ARCHITECTURE.md, "Parse fidelity") -------------------------

# 1. Documents that declare entities are refused; feedparser reads them.
ENTITY_DOCUMENTS = frozenset({"declares-an-entity.xml"})
# 2. The text inside these elements is dropped. feedparser's sanitiser drops script and
#    style (and applet) itself; monitor also drops what a browser never shows as text.
HIDDEN_ELEMENTS = ("head", "template", "noscript")
# 3. Each field is capped (monitor.feeds.parse.MAX_*), cut at a word and ended with "…".
CAPS = {"title": MAX_TITLE, "summary": MAX_SUMMARY, "content": MAX_CONTENT}
# 4 and 5 are read_as_html and kept_contents below; 6 is in compare_document.
# Deliberate as well, with nothing here to compare: a reference to a non-character becomes
# U+FFFD, where feedparser raises and reads nothing; whitespace before <?xml is removed,
# where feedparser falls back to its loose parser (which reads the corpus's such files to
# the same text).


def read_as_html(value: str, content_type: str) -> bool:
    """4. A plain-text field that looks like HTML by feedparser's own test is read as HTML.
    feedparser does this for RSS only; monitor for Atom's type="text" too, where
    publishers double-escape markup just as often."""
    return content_type in HTML_TYPES or bool(_FeedParserMixin.looks_like_html(value))


def kept_contents(contents: Sequence[str], summary: str) -> Iterator[tuple[str, bool]]:
    """5. Content that repeats the summary word for word may be left out: each content's
    letters, and whether monitor may leave it out."""
    for run in contents:
        yield run, run == summary


def within_cap(mine: str, cap: int) -> tuple[str, bool]:
    """3, applied: a field's letters, and whether monitor cut it at its cap. A cut field
    loses its last word too (the cut may have split it) and is compared as a prefix."""
    if not (mine.endswith("…") and len(mine) >= cap * 0.8):
        return letters(mine), False
    return "".join(fold_words(mine[:-1])[:-1]), True


# --- feedparser's parse reduced to text -----------------------------------------------------

_HIDDEN = re.compile(rf"<({'|'.join(HIDDEN_ELEMENTS)})\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
# What feedparser's sanitiser drops with its text, from the raw value of a hidden element.
_SANITISED = re.compile(r"<(script|style|applet)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
# What an HTML tokenizer takes for markup: "<" then a letter, "/", "!" or "?".
# "< REP.MC >" (a Reuters ticker) is text.
_MARKUP = re.compile(r"<[A-Za-z/!?][^>]*>")
_MAY_HIDE = re.compile(rb"(?:<|&lt;)(?:%s)\b" % "|".join(HIDDEN_ELEMENTS).encode(), re.IGNORECASE)


def letters(text: str) -> str:
    """The folded words of a text run together."""
    return "".join(fold_words(text))


def unmarked(markup: str) -> str:
    """HTML as text: every tag dropped, entities decoded."""
    return html.unescape(_MARKUP.sub("", markup))


def field_letters(value: str, content_type: str, raw: str) -> str:
    """The letters of feedparser's value of one field, `raw` being the same field parsed
    without sanitising: the hidden elements' text is taken out (difference 2)."""
    if not read_as_html(value, content_type):
        return letters(value)
    text = letters(unmarked(value))
    for hidden in _HIDDEN.finditer(raw):
        text = text.replace(letters(unmarked(_SANITISED.sub("", hidden.group()))), "", 1)
    return text


def content_type_of(entry: Mapping[str, Any], key: str, *, atom: bool) -> str:
    """The type of entry[key] as feedparser reports it: its detail's, when that detail
    holds this value (a nested <image><title> or <media:description> overwrites the
    detail but not the value); the content's it was copied from; else the format's
    default (an RSS description is HTML, everything else plain text)."""
    value = entry.get(key)
    for detail in (entry.get(f"{key}_detail"), *entry.get("content", [])):
        if detail and detail.get("value") == value:
            return str(detail.get("type", ""))
    return "text/html" if key == "summary" and not atom else "text/plain"


def reference_letters(
    entry: Mapping[str, Any], raw: Mapping[str, Any], *, atom: bool
) -> tuple[str, str, list[str]]:
    """An entry's title, summary and each content as letters."""
    title, summary = (
        field_letters(
            str(entry.get(key, "")),
            content_type_of(entry, key, atom=atom),
            str(raw.get(key, "")),
        )
        for key in ("title", "summary")
    )
    raw_contents = [str(c.get("value", "")) for c in raw.get("content", [])]
    contents = [
        field_letters(str(c.get("value", "")), str(c.get("type", "")), raw_value)
        for c, raw_value in zip(entry.get("content", []), raw_contents, strict=True)
    ]
    return title, summary, contents


# --- the comparison -------------------------------------------------------------------------


def difference(where: str, mine: str, theirs: str) -> str:
    """A readable account of where two letter runs part."""
    matcher = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
    parts = [
        f"  monitor {mine[max(0, i1 - 20) : i2 + 20]!r}\n"
        f"  feedparser {theirs[max(0, j1 - 20) : j2 + 20]!r}"
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op != "equal"
    ]
    return f"{where}:\n" + "\n".join(parts[:3])


def compare_entry(
    story: Story, entry: Mapping[str, Any], raw: Mapping[str, Any], *, atom: bool
) -> list[str]:
    """Every way one story's text differs from its entry's, beyond the deliberate ones."""
    problems = []
    title, summary, contents = reference_letters(entry, raw, atom=atom)
    for key, expected in (("title", title), ("summary", summary)):
        mine, cut = within_cap(getattr(story, key), CAPS[key])
        if not (expected.startswith(mine) if cut else expected == mine):
            problems.append(difference(key, mine, expected))
    # Walk feedparser's contents in order: each is the next part of monitor's content, or
    # a repeat of the summary that monitor left out, or the part its cap fell in.
    rest, cut = within_cap(story.content, MAX_CONTENT)
    for run, may_skip in kept_contents(contents, summary):
        if rest.startswith(run):
            rest = rest[len(run) :]
        elif cut and run.startswith(rest):
            rest = ""
        elif not may_skip:
            problems.append(difference("content", rest, run))
            return problems
    if rest:
        problems.append(difference("content", rest, ""))
    return problems


def compare_document(data: bytes) -> list[str]:
    """Every difference between monitor's stories and feedparser's entries of a document."""
    stories = parse_feed(data, feed="fidelity").stories
    reference = feedparser.parse(data)
    entries = reference.entries
    # The unsanitised parse only tells where hidden elements were: skipped when none can be.
    raws = entries
    if _MAY_HIDE.search(data):
        raws = feedparser.parse(data, sanitize_html=False).entries
    problems = []
    # 6. A malformed document's half-read last entry is dropped (see test_parse.py).
    dropped = len(entries) - len(stories)
    if dropped not in ((0, 1) if reference.bozo else (0,)):
        problems.append(f"monitor read {len(stories)} stories of {len(entries)} entries")
    atom = str(reference.get("version", "")).startswith("atom")
    for i, (story, entry, raw) in enumerate(zip(stories, entries, raws, strict=False)):
        problems += [f"entry {i} {p}" for p in compare_entry(story, entry, raw, atom=atom)]
    return problems


def assert_faithful(data: bytes) -> None:
    problems = compare_document(data)
    assert not problems, "\n".join(problems[:10])


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OWN_FILES)
def test_our_own_documents_read_like_feedparser(name: str) -> None:
    data = (FIDELITY / name).read_bytes()

    if name in ENTITY_DOCUMENTS:
        assert feedparser.parse(data).entries, "feedparser reads it"
        with pytest.raises(ParseError, match="ENTITY"):
            parse_feed(data, feed="fidelity")
        return

    assert_faithful(data)


@pytest.mark.parametrize(
    ("folder", "name"),
    [pytest.param("feeds", n, id=n) for n in FEED_FILES]
    + [pytest.param("odd", n, id=n) for n in ODD_FILES if n not in REFUSED],
)
def test_every_corpus_entry_reads_like_feedparser(corpus: Path, folder: str, name: str) -> None:
    assert_faithful(corpus_file(corpus, folder, name).read_bytes())


def replay_sample(archive: Path, count: int) -> Iterator[tuple[str, bytes]]:
    """REPLAY_SAMPLE of an archive's `count` snapshots, evenly spread, each at most
    REPLAY_BYTES, read in one pass (seeking back in an .xz decompresses it again)."""
    wanted = {count * (2 * i + 1) // (2 * REPLAY_SAMPLE) for i in range(REPLAY_SAMPLE)}
    with tarfile.open(archive) as tar:
        for position, member in enumerate(m for m in tar if m.isfile()):
            if position > max(wanted):
                return  # the rest of the archive need not be decompressed
            if position in wanted and 0 < member.size <= REPLAY_BYTES:
                handle = tar.extractfile(member)
                assert handle is not None
                yield member.name, handle.read()


def test_sampled_replay_snapshots_read_like_feedparser(corpus: Path) -> None:
    with (corpus / "replay" / "index.csv").open(encoding="utf-8") as f:
        counts = {row["outlet"]: int(row["file_count"]) for row in csv.DictReader(f)}
    assert len(counts) == 19
    problems, outlets = [], set()
    for outlet, count in sorted(counts.items()):
        for name, data in replay_sample(corpus / "replay" / f"{outlet}.tar.xz", count):
            try:
                problems += [f"{name} {p}" for p in compare_document(data)]
            except ParseError:
                continue  # the CloudFront 403 pages and empty snapshots
            outlets.add(outlet)

    assert sorted(outlets) == sorted(counts)
    assert not problems, "\n".join(problems[:10])


# --- the comparison itself catches what it is for ---------------------------------------


@pytest.mark.parametrize(
    ("story", "problem"),
    [
        pytest.param(Story("f", "g", "", "Logo", "x"), "title", id="wrong-title"),
        pytest.param(Story("f", "g", "", "Real headline", "<b>x</b>"), "summary", id="raw-html"),
        pytest.param(
            Story("f", "g", "", "Real headline", "x", "extra words"), "content", id="extra"
        ),
    ],
)
def test_the_comparison_reports_a_story_that_differs(story: Story, problem: str) -> None:
    entry = feedparser.parse(
        b"<rss version='2.0'><channel><item><title>Real headline</title>"
        b"<description>&lt;b&gt;x&lt;/b&gt;</description></item></channel></rss>"
    ).entries[0]

    problems = compare_entry(story, entry, entry, atom=False)

    assert [p.split(":")[0].split(" ")[0] for p in problems] == [problem]
