"""Text normalisation: feed HTML to plain text, and words folded for matching.

Matching is whole-word, case- and accent-insensitive: "Misrātah", "MISRATAH" and
"misratah" are one word. Tokens keep their offsets in the original text so that an
alert can quote the words "as they appear in" the story.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

# Block-level tags end a line when HTML becomes text; anything else joins inline.
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "td",
        "th",
        "ul",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "head", "template", "noscript"})


def _combining_marks_class() -> str:
    """A regex class of the BMP's combining marks, which \\w alone does not match."""
    ranges: list[str] = []
    start: int | None = None
    for cp in range(0x10001):
        is_mark = cp < 0x10000 and unicodedata.category(chr(cp)).startswith("M")
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
            start = None
    return "".join(ranges)


# A word is letters or digits with the marks that belong to them: without the marks,
# Arabic with harakat or Devanagari with vowel signs would split mid-word.
_WORD = re.compile(rf"\w[\w{_combining_marks_class()}]*")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> is one line break, not a start and an end tag's two.
        if tag in _BLOCK_TAGS and not self._skipping:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Turn (possibly broken) HTML into readable plain text: tags dropped, entities decoded."""
    if "<" not in markup and "&" not in markup:
        return clean_whitespace(markup)
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return clean_whitespace("".join(extractor.parts))


def clean_whitespace(text: str) -> str:
    """NFC-normalise and collapse runs of spaces; keep at most one blank line."""
    # Soft hyphens are invisible hyphenation hints; left in, they would split "Mis\xadrata".
    text = unicodedata.normalize("NFC", text).replace("\u00ad", "")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def fold(word: str) -> str:
    """Case- and accent-fold a word: 'Misrātah' → 'misratah'."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Token:
    """One word of a text: its folded form and where it stands in the original."""

    folded: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split text into words, folded for matching, with their offsets in `text`."""
    return [Token(fold(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]


def fold_words(text: str) -> list[str]:
    """The folded words of a text, as a query term or phrase is compared."""
    return [fold(m.group()) for m in _WORD.finditer(text)]


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters, at a word boundary where one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 story", "2 stories": the count with its noun in the right number."""
    word = noun if count == 1 else (nouns or f"{noun}s")
    return f"{count} {word}"
