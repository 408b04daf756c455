"""What `name~` means: the spellings English-language news uses for a name, never ordinary words.

A word is a spelling of a name when
  * the curated data (data/name_variants.yaml) lists both in one group, or
  * it has the skeleton (`spelling_key`) of the name or of a one-word spelling of its group:
    q/g/k/gh/kh one class, d/dh/th one, s/z one, f/ph/v one; vowels and y, doubled letters
    and a final -ah/-eh dropped ("Qaddafi" and "Kadhafi" are both "kdf"); its vowel-folded
    form is within the tolerance of that spelling's (default 1 edit, 0 for a 3-consonant
    skeleton) and, in Latin script, its letters within 4 edits of that spelling's; and it is
    not a common English word (data/common_words.txt, from wordfreq).
Skeletons shorter than 3 consonants (Zawiya is "sw") match only curated spellings: so
little would fire on ordinary words. Arabic script is transliterated with anyascii; it writes
no short vowels, so an Arabic-script word is compared by skeleton alone.

This is not Lucene's edit distance: `~N` tunes the vowel-folded distance within one skeleton.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources

from anyascii import anyascii
from rapidfuzz.distance import Levenshtein
from ruamel.yaml import YAML

from monitor.text import fold_words

DEFAULT_TOLERANCE = 1
# Below this many consonant classes a skeleton says too little to match on (Zawiya → "s").
MIN_FUZZY_KEY = 3
# Vowel folding makes "Mazaurette" "masarata", as near Misurata's "masarata" as a real
# spelling; its letters are 6 edits from "misurata". Spellings of one name in the news are
# at most 4 apart, but for the doubled Gaddafi forms ("Qadhdhafi"), which are curated, and
# curated spellings meet without this test (measured over name_variants.yaml's groups).
MAX_LETTER_EDITS = 4

# Two-letter spellings of one consonant, mapped before single letters. The classes follow
# Arabic: one Arabic letter comes out as q, g, k, gh or kh; as d, dh or th; as s or z.
# Arabic has no p, j is mostly its own letter, and c/ch mostly come with English or French
# names ("Ciaran", "Chirac", "Joran"), so they stay apart: classes as wide as English
# spelling would meet every first name (measured: tests/rules/test_names.py).
_DIGRAPHS = {"gh": "k", "kh": "k", "ck": "k", "dh": "d", "th": "d", "sh": "x", "ch": "c", "ph": "f"}
_SINGLE = {"q": "k", "g": "k", "z": "s", "v": "f", "x": "ks"}
# In Arabic script w and y are also the long vowels u and i ("أبوقرين" → "bwqryn").
_LATIN_VOWELS = frozenset("aeiouy")
_ARABIC_VOWELS = frozenset("aeiouyw")
_NOT_LATIN = re.compile(r"[^a-z0-9]")
# Arabic spelling before transliteration: the article al- joins the word; a final taa
# marbuta (or the haa written for it) is a final vowel in the Latin spellings, which anyascii
# would write as "h" ("مصراتة" → "msrth", and "th" is another consonant).
_ARABIC_ARTICLE = "\u0627\u0644"
_ARABIC_FINAL_VOWELS = "\u0629\u0647"


def _is_latin(word: str) -> bool:
    return word.isascii()


def _to_latin(word: str) -> str:
    """A folded word in ASCII letters and digits: Arabic script transliterated."""
    if not _is_latin(word):
        if word.startswith(_ARABIC_ARTICLE) and len(word) > 4:
            word = word[2:]
        if len(word) > 3:
            word = word.rstrip(_ARABIC_FINAL_VOWELS)
        word = anyascii(word).lower()
    return _NOT_LATIN.sub("", word)


@lru_cache(maxsize=65536)
def _vowel_folded(word: str) -> str:
    """Consonant classes with each run of vowels as one "a": "Qaddafi" and "Kadhafi" → "kadafa"."""
    latin = _to_latin(word)
    vowels = _LATIN_VOWELS if _is_latin(word) else _ARABIC_VOWELS
    if len(latin) > 2 and latin[-1] == "h" and latin[-2] in vowels:
        latin = latin[:-1]
    out: list[str] = []
    i = 0
    while i < len(latin):
        pair = latin[i : i + 2]
        if pair in _DIGRAPHS:
            sound = _DIGRAPHS[pair]
            i += 2
        else:
            ch = latin[i]
            sound = "a" if ch in vowels else _SINGLE.get(ch, ch)
            i += 1
        # Doubled letters and vowel runs are one sound: "Gaddafi" is "Gadafi".
        if not out or out[-1] != sound:
            out.append(sound)
    return "".join(out)


@lru_cache(maxsize=262144)
def spelling_key(word: str) -> str:
    """The consonant skeleton under which spellings of one name meet: "qaddafi" → "kdf"."""
    return _vowel_folded(word).replace("a", "")


@cache
def _groups() -> tuple[dict[str, int], tuple[frozenset[str], ...]]:
    """The curated data: folded spelling → group number, and each group's folded spellings."""
    text = resources.files("monitor.rules").joinpath("data/name_variants.yaml").read_text("utf-8")
    data = YAML(typ="safe").load(text)
    index: dict[str, int] = {}
    groups: list[frozenset[str]] = []
    for canonical, spellings in data.items():
        group = frozenset(" ".join(fold_words(s)) for s in [canonical, *spellings])
        for spelling in group:
            index.setdefault(spelling, len(groups))
        groups.append(group)
    return index, tuple(groups)


@cache
def _common_words() -> frozenset[str]:
    text = resources.files("monitor.rules").joinpath("data/common_words.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _group_of(name: str) -> frozenset[str]:
    index, groups = _groups()
    number = index.get(name)
    return groups[number] if number is not None else frozenset()


def is_common_word(word: str) -> bool:
    """Whether a folded word is common English ("what", "after"); curated names never are."""
    return word in _common_words() and word not in _groups()[0]


def _is_common_form(word: str) -> bool:
    """A common word, or a plural or -ed/-ing form of one: "triples" is not Tripoli, even
    though the frequency list holds only "triple"."""
    if is_common_word(word):
        return True
    stems = [word[: -len(end)] for end in ("s", "es", "ed", "ing") if word.endswith(end)]
    if word.endswith("ies"):
        stems.append(word[:-3] + "y")
    return any(len(stem) >= 3 and is_common_word(stem) for stem in stems)


def curated_variants(name: str) -> tuple[str, ...]:
    """The other curated spellings of a folded name, multi-word ones space-joined, sorted."""
    return tuple(sorted(_group_of(name) - {name}))


def spelling_keys(name: str) -> frozenset[str]:
    """Every key a story word accepted for `name` can have: the name's and its one-word
    curated variants' (Tripoli's "trbl" and Tarabulus's "trbls"). Index `name~` under each."""
    words = [name, *(v for v in curated_variants(name) if " " not in v)]
    return frozenset(spelling_key(w) for w in words)


@lru_cache(maxsize=1 << 14)
def spelling_index(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """What a story word must have for `name~` to accept it: one of `keys` (the skeletons
    of MIN_FUZZY_KEY consonants or more among `spelling_keys`) or be one of `words` (the
    name and its one-word curated spellings whose skeleton is shorter, which match only
    as written). Every word `is_spelling_of` accepts meets one; the presearcher and the
    compiled matcher look words up by these, never by a one- or two-consonant skeleton
    that half the story's words have."""
    spellings = [name, *(v for v in curated_variants(name) if " " not in v)]
    keys = frozenset(k for s in spellings if len(k := spelling_key(s)) >= MIN_FUZZY_KEY)
    words = frozenset(s for s in spellings if len(spelling_key(s)) < MIN_FUZZY_KEY)
    return keys, words


def _default_tolerance(key: str) -> int:
    # Three consonants fit a crowd of first names ("Karine", "Kiran" are "krn" like Gharyan):
    # only vowel changes within the same vowel slots, unless a rule asks for more.
    return 0 if len(key) <= MIN_FUZZY_KEY else DEFAULT_TOLERANCE


def is_spelling_of(name: str, word: str, tolerance: int | None = None) -> bool:
    """Whether folded `word` is a spelling of folded `name` used in the news (see the module)."""
    if word == name:
        return True
    group = _group_of(name)
    if word in group:
        return True
    key = spelling_key(word)
    # A common word is only ever its own spelling: "sort" is not Sirte, and `What~` is "what".
    if len(key) < MIN_FUZZY_KEY or _is_common_form(word) or is_common_word(name):
        return False
    limit = _default_tolerance(key) if tolerance is None else tolerance
    # Near any one-word spelling of the group counts: "Tarabulous" is near "Tarabulus".
    for spelling in (name, *(s for s in group if " " not in s)):
        if spelling_key(spelling) != key:
            continue
        if not _is_latin(word):
            # Arabic script writes no short vowels: the skeleton is all there is to compare.
            return True
        if not _is_latin(spelling):
            # ... but a Latin word must be near a Latin spelling, vowels and all.
            continue
        if Levenshtein.distance(spelling, word, score_cutoff=MAX_LETTER_EDITS) > MAX_LETTER_EDITS:
            continue
        distance = Levenshtein.distance(
            _vowel_folded(spelling), _vowel_folded(word), score_cutoff=limit
        )
        if distance <= limit:
            return True
    return False
