"""A story indexed for matching: per field (title, summary, content), its folded words and
where each stands. Built once per story; every rule reads the same one.

Fields are kept apart so that no phrase or NEAR spans two of them: "Clashes in Tripoli"
then "Airport workers strike" is not the phrase "Tripoli airport". Work is deferred to
the first rule that needs it: the presearcher reads only the words, most stories stop
there, and only a story with candidate rules pays for positions, offsets and keys.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from functools import cached_property, lru_cache
from itertools import islice

from monitor.models import Story
from monitor.rules import names
from monitor.rules.nodes import FIELDS
from monitor.text import _WORD, Token, fold, tokenize

# The same words as monitor.text's tokenizer, on ASCII text where folding is lower():
# findall on the lowered text is several times faster than folding word by word.
_ASCII_WORD = re.compile(r"\w+", re.ASCII)

Hit = tuple[int, int, int]  # field index, first and last word position (inclusive)

# names.py computes a key for every story word the presearcher sees; the same words come
# back story after story, so remember the recent ones.
spelling_key = lru_cache(maxsize=1 << 16)(names.spelling_key)


class FieldText:
    """One field of a story: its text with entities decoded, split into folded words."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        # Feeds that escape twice leave "&amp;" in the parsed text; a rule means the letters.
        self.text = html.unescape(text) if "&" in text else text
        self.ascii = self.text.isascii()
        # Elsewhere the tokenizer's own pattern, so word i is token i, folding only the
        # words that need more than lower() (a curly quote makes a whole text non-ASCII).
        self.words: list[str] = (
            _ASCII_WORD.findall(self.text.lower())
            if self.ascii
            else [w.lower() if w.isascii() else fold(w) for w in _WORD.findall(self.text)]
        )

    # What candidate rules ask, built on the first question: plain attributes, not
    # cached_property (on Python 3.11 its lock costs about a microsecond a first read, and a
    # candidate reads several per field), defaulting here so a field no rule asks about
    # sets none of them.
    _word_set: frozenset[str] | None = None
    _sorted: list[str] | None = None
    _where: dict[str, list[int]] | None = None
    _spans: list[tuple[int, int]] | None = None
    _span_iter: Iterator[re.Match[str]] | None = None
    _raw: list[str] | None = None

    @cached_property
    def tokens(self) -> list[Token]:
        """The words with their offsets, for quoting them as the story spells them."""
        return tokenize(self.text)

    @cached_property
    def positions(self) -> dict[str, list[int]]:
        """Each distinct folded word → where it stands, in order (every word at once: the
        reference evaluation and explain; the matcher asks `where` for the few it needs)."""
        found: defaultdict[str, list[int]] = defaultdict(list)
        for i, word in enumerate(self.words):
            found[word].append(i)
        return dict(found)

    @property
    def word_set(self) -> frozenset[str]:
        """The distinct folded words of the field."""
        if self._word_set is None:
            self._word_set = frozenset(self.words)
        return self._word_set

    def where(self, word: str) -> list[int]:
        """Where `word` stands in the field, in order. Found by scanning the words in C for
        that word alone, and remembered: a candidate rule asks about a few words, and a long
        `content` field would cost a Python loop over every word to index them all."""
        cache = self._where
        if cache is None:
            cache = self._where = {}
        found = cache.get(word)
        if found is None:
            found = []
            if self.has(word):
                index = self.words.index
                i = -1
                try:
                    while True:
                        i = index(word, i + 1)
                        found.append(i)
                except ValueError:
                    pass
            cache[word] = found
        return found

    def has(self, word: str) -> bool:
        """Whether the field has `word`: a scan of its words in C until `word_set` is built
        (building it costs a set entry per word of a long field, for a question or two)."""
        words = self._word_set
        return word in (self.words if words is None else words)

    @cached_property
    def by_key(self) -> dict[str, list[str]]:
        """Each spelling key (names.py) → the distinct words that have it."""
        found: defaultdict[str, list[str]] = defaultdict(list)
        for word in dict.fromkeys(self.words):
            found[spelling_key(word)].append(word)
        return dict(found)

    @property
    def sorted_words(self) -> list[str]:
        """The distinct words in order: the words a prefix starts stand together, found by
        bisection (sorting is done in C; a dict of first letters cost a Python loop over
        every word of a long text for the one prefix a story is asked about)."""
        if self._sorted is None:
            self._sorted = sorted(self.word_set)
        return self._sorted

    def starting_with(self, prefix: str) -> list[str]:
        """The distinct words that start with `prefix` (prefix*)."""
        words = self.sorted_words
        i = bisect_left(words, prefix)
        found = []
        while i < len(words) and words[i].startswith(prefix):
            found.append(words[i])
            i += 1
        return found

    def spans(self, upto: int) -> list[tuple[int, int]]:
        """Where words 0..`upto` (at least) stand in the text: the offsets of `tokens`
        without folding every word again, found only as far as a quoted word (a hit in
        the first lines of a long `content` does not scan the rest)."""
        spans = self._spans
        if spans is None:
            spans = self._spans = []
        if len(spans) <= upto:
            if self._span_iter is None:
                self._span_iter = _WORD.finditer(self.text)
            spans.extend(m.span() for m in islice(self._span_iter, upto + 1 - len(spans)))
        return spans

    def surface(self, start: int, end: int) -> str:
        """Words `start`..`end` as the text spells them, on one line."""
        if start == end:
            # One word: the tokenizer's own words of the text, found in C at the first
            # quote, cost far less than offsets up to a word deep in a long field.
            if self._raw is None:
                self._raw = (_ASCII_WORD if self.ascii else _WORD).findall(self.text)
            return self._raw[start]
        spans = self.spans(end)
        return self.text[spans[start][0] : spans[end][1]].replace("\n", " ")


class Document:
    """A story's fields, indexed for matching."""

    _keyed: dict[str, list[str]] | None = None  # built on the first question (FieldText's)
    _keys: frozenset[str] | None = None

    def __init__(self, title: str = "", summary: str = "", content: str = "") -> None:
        self.fields = tuple(
            FieldText(name, text)
            for name, text in zip(FIELDS, (title, summary, content), strict=True)
        )

    @classmethod
    def of(cls, story: Story) -> Document:
        """The document of a story."""
        return cls(story.title, story.summary, story.content)

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every distinct folded word of every field: what the presearcher looks up."""
        return frozenset().union(*(f.words for f in self.fields))

    @property
    def keys(self) -> frozenset[str]:
        """The spelling key (names.py) of every word: a `~` term with none of its name's
        keys here has no spelling here."""
        if self._keys is None:
            keyed = self._keyed
            self._keys = frozenset(map(spelling_key, self.vocabulary) if keyed is None else keyed)
        return self._keys

    @property
    def keyed(self) -> dict[str, list[str]]:
        """Each spelling key → the distinct words of the story that have it."""
        if self._keyed is None:
            found: defaultdict[str, list[str]] = defaultdict(list)
            for word in self.vocabulary:
                found[spelling_key(word)].append(word)
            self._keyed = dict(found)
        return self._keyed

    def limit_keys(self, keyed: dict[str, list[str]]) -> None:
        """Take `keyed` as the story's key map (and its keys as `keys`): the matcher's,
        which holds only the keys its rules ask about. Every question those rules can ask
        gets the same answer; a query asking about other keys must not use this story."""
        self._keyed = keyed
        self._keys = None

    def field_index(self, name: str) -> int:
        """The position of a field by name."""
        return FIELDS.index(name)
