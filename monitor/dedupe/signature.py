"""What clustering knows of a story: its terms, its names and its MinHash. Pure.

A story's `Signature` is computed once, from its title and summary only (the content of a
feed item is often the whole article, or absent: comparing outlets on it would be unfair):

- `terms`: the content words, folded, stop words dropped, lightly stemmed ("clashes" and
  "clash", "Libyan" and "Libya" meet), each with the weight of the field it stands in
  (a title word counts twice); a word written with a capital where a sentence would not
  have one is a name, and weighs more (`NAME_BOOST`).
- `title`: the title's content words, for the rapidfuzz confirmation.
- `minhash`: the MinHash of the word 3-shingles of title and summary, for near-copies of
  one wire text.

The MinHash is our own, not datasketch's: datasketch brings numpy and scipy (~100 MB) for
arrays we do not need at 16 hashes over a few dozen shingles. Each shingle is hashed once
with BLAKE2b to 64 bytes, read as 16 independent 32-bit hash values; the signature is the
column-wise minimum, taken in C by `min` over `zip`.
"""

from __future__ import annotations

import hashlib
import html
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.text import fold

MINHASH_SIZE = 16  # hash functions; 64 bytes of BLAKE2b are 16 32-bit values
SHINGLE = 3  # words per shingle
TITLE_WEIGHT = 2.0
SUMMARY_WEIGHT = 1.0
NAME_BOOST = 1.5
MAX_TERMS = 48  # a long summary's words past these add little and cost every comparison

_UNPACK = struct.Struct(f"<{MINHASH_SIZE}I").unpack
_SIBILANTS = ("s", "x", "z", "ch", "sh")  # "buses", "taxes", "marches": -es is the plural
_APOSTROPHE = "\u2019"  # the typographic apostrophe most feeds write
_WORD = re.compile(rf"[^\W_]+(?:['{_APOSTROPHE}][^\W_]+)*")
# A capital after these starts a sentence or a quotation, and says nothing of a name.
_SENTENCE_END = re.compile('[.!?:;"\u201c\u201d\u2018\u2019\u2013\u2014|]\\s*$')

# Function words and newsroom boilerplate: words that say nothing about which event it is.
STOP_WORDS = frozenset(
    """
    a about above after again against ago all also am among an and another any are around as
    at be because been before being below between both but by can could did do does doing
    down during each early either else ever every few first for from further get gets got had
    has have having he her here hers herself him himself his how however i if in into is it
    its itself just last late later least less like made make makes many may me might more
    most much must my near new news next no nor not now of off on once one only or other our
    ours out over own per s said same say says see she should since so some still such than
    that the their theirs them themselves then there these they this those though three
    through to today too two under until up upon us very via was we were what when where
    whether which while who whom whose why will with within without would year years yet you
    your yours yesterday week weeks day days time times amid back big could call calls top
    update updates live latest watch video photos opinion analysis breaking report reports
    reported according people told tell way want wants take takes take know known just
    """.split()  # noqa: SIM905 (a list literal of 200 words would fill 60 lines)
)


@dataclass(frozen=True)
class Signature:
    """A story as clustering compares it: weighted terms, title words, names, MinHash."""

    terms: tuple[tuple[str, float], ...]  # (stemmed term, field weight x name boost), unique
    title: str  # the title's stemmed content words, space-separated
    names: frozenset[str]  # the terms that were written as names
    minhash: tuple[int, ...]  # MINHASH_SIZE values; empty when the text has no shingle

    @property
    def term_set(self) -> frozenset[str]:
        """The terms without their weights."""
        return frozenset(t for t, _ in self.terms)


def stem(word: str) -> str:
    """A light English stem, enough for headlines to meet: plurals and -ing/-ed endings,
    a final e ("strikes", "striking", "strike"; "earthquakes" and "earthquake"), -ies as -y,
    and the demonyms that are the country plus a letter or two (Libyan, Israeli, Moroccan).
    Both sides of a comparison are stemmed alike, so an odd stem only has to be stable."""
    for suffix in ("ings", "ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            if suffix == "ies":
                word = word[:-3] + "y"
            elif suffix == "es" and not word[:-2].endswith(_SIBILANTS):
                word = word[:-1]  # "strikes": only the plural s (its e goes below)
            else:
                word = word[: -len(suffix)]
            break
    if len(word) >= 5 and word.endswith("e"):
        word = word[:-1]
    if len(word) >= 6 and word.endswith(("an", "i")) and word[-2] != "i":
        word = word[:-1]
    if len(word) >= 6 and word.endswith(("a", "o")):
        word = word[:-1]  # then "Libya" and "Libyan", "Morocco" and "Moroccan" meet
    return word


def _is_title_case(words: Sequence[str]) -> bool:
    """Whether a text capitalises most of its longer words (a headline style), so that a
    capital says nothing about a name."""
    longer = [w for w in words if len(w) > 3]
    return len(longer) >= 3 and sum(w[0].isupper() for w in longer) > 0.6 * len(longer)


def _field(text: str) -> list[tuple[str, bool]]:
    """A field's words, folded, each with whether it is written as a name: a capital that
    neither starts a sentence nor belongs to a title-case or all-capitals text."""
    matches = list(_WORD.finditer(text))
    raw = [m.group() for m in matches]
    title_case = _is_title_case(raw) or text.isupper()
    words = []
    previous_end = 0
    for i, m in enumerate(matches):
        word = m.group()
        # Only the gap since the previous word can end a sentence: searching the whole text
        # before each word made a long summary cost its length squared.
        starts_sentence = i == 0 or bool(_SENTENCE_END.search(text, previous_end, m.start()))
        previous_end = m.end()
        name = not title_case and word[0].isupper() and not starts_sentence
        words.append((fold(word), name))
    return words


def _content(words: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
    out = []
    for word, name in words:
        word = word.replace(_APOSTROPHE, "'").partition("'")[0]  # Libya's → libya
        if len(word) < 3 or word in STOP_WORDS or word.isdigit():
            continue
        out.append((stem(word), name))
    return out


def minhash(words: Sequence[str]) -> tuple[int, ...]:
    """The MinHash of a word sequence's SHINGLE-word shingles (one shingle for a shorter
    text, none for an empty one)."""
    if not words:
        return ()
    count = max(1, len(words) - SHINGLE + 1)
    rows = [
        _UNPACK(hashlib.blake2b(" ".join(words[i : i + SHINGLE]).encode()).digest())
        for i in range(count)
    ]
    return tuple(min(column) for column in zip(*rows, strict=True))


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """The Jaccard similarity two MinHashes estimate: the share of equal values."""
    if not a or not b:
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def signature(title: str, summary: str) -> Signature:
    """The signature of a story's title and summary (plain text; entities are decoded)."""
    title = html.unescape(title)
    summary = html.unescape(summary).rstrip().removesuffix("…")
    title_words, summary_words = _field(title), _field(summary)
    weights: dict[str, float] = {}
    names: set[str] = set()
    for words, weight in ((title_words, TITLE_WEIGHT), (summary_words, SUMMARY_WEIGHT)):
        for term, name in _content(words):
            if name:
                names.add(term)
            if len(weights) < MAX_TERMS or term in weights:
                weights[term] = max(weights.get(term, 0.0), weight)
    terms = tuple((t, w * NAME_BOOST if t in names else w) for t, w in weights.items())
    shingled = [w for w, _ in title_words] + [w for w, _ in summary_words]
    return Signature(
        terms=terms,
        title=" ".join(t for t, _ in _content(title_words)),
        names=frozenset(names),
        minhash=minhash(shingled),
    )
