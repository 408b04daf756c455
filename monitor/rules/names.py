"""What `name~` means: the spellings of a name (a STAND-IN until the names branch lands).

This keeps the interface the rest of monitor/rules/ is written to, with the behaviour
main had: a `~` word allows a few edits by its length. A word meets a name only if it
also shares the name's spelling key (first letter and consonant skeleton), so that the
matcher can find the candidates of a name by key, as the real module's keys allow.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import Levenshtein

# Letters a key leaves out after the first: vowels and the weak consonants.
_WEAK = frozenset("aeiouyhw")

# The stand-in's curated spellings: one entry, so the wiring of multi-word variants is tested.
_CURATED: dict[str, tuple[str, ...]] = {"abugrein": ("abu qurayn", "abu grein")}

# The stand-in's common words (the real module asks a word-frequency list).
_COMMON = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "also",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "more",
        "new",
        "not",
        "of",
        "on",
        "one",
        "or",
        "out",
        "over",
        "said",
        "say",
        "says",
        "she",
        "site",
        "sort",
        "that",
        "the",
        "their",
        "there",
        "they",
        "this",
        "to",
        "up",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
    ]
)


@lru_cache(maxsize=1 << 16)
def spelling_key(word: str) -> str:
    """The key under which the spellings of one folded name meet: its first letter and
    the consonants after it, repeats collapsed ("misurata" and "misrata" are "msrt")."""
    if not word:
        return ""
    key = [word[0]]
    for ch in word[1:]:
        if ch not in _WEAK and ch != key[-1]:
            key.append(ch)
    return "".join(key)


def spelling_keys(name: str) -> frozenset[str]:
    """Every key a `name~` term is indexed under: its own and its curated variants'."""
    words = [name, *(w for v in curated_variants(name) for w in v.split())]
    return frozenset(spelling_key(w) for w in words)


def fuzz_budget(name: str, tolerance: int | None = None) -> int:
    """How many edits a `name~` allows: `tolerance` when the query set it, else by length."""
    if tolerance is not None:
        return tolerance
    return 0 if len(name) <= 4 else 1 if len(name) <= 8 else 2


def is_spelling_of(name: str, word: str, tolerance: int | None = None) -> bool:
    """Whether a folded word is a spelling of a folded name."""
    if word == name:
        return True
    return spelling_key(word) in spelling_keys(name) and Levenshtein.distance(
        name, word
    ) <= fuzz_budget(name, tolerance)


def is_common_word(word: str) -> bool:
    """Whether a folded word is common English (`What~` then matches only "what")."""
    return word in _COMMON


def curated_variants(name: str) -> tuple[str, ...]:
    """Extra spellings of a folded name, possibly of several words, to match as phrases."""
    return _CURATED.get(name, ())
