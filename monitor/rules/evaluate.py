"""Evaluation: a query's syntax tree against an indexed story → the hits that made it
match, or None. Pure.

A hit is (field, first word, last word). Positions never mix fields, so a phrase or a
NEAR is looked for within each field on its own.

`evaluate` walks the tree and is the reference; explain walks it too, and the
compiled queries of `rules/compiled.py` must give the same hits.
"""

from __future__ import annotations

from functools import lru_cache

from monitor.rules import names
from monitor.rules.document import Document, FieldText, Hit
from monitor.rules.nodes import FIELDS, And, Near, Node, Not, Or, Phrase, Place, Scope, Term

ALL_FIELDS = tuple(range(len(FIELDS)))

# names.py's answers depend only on their arguments, and the same few names meet the
# same story words all day: remember them rather than recompute per story.
# Shared with compiled.py: one memory of the answers for both.
is_spelling_of_cached = lru_cache(maxsize=1 << 16)(names.is_spelling_of)
_spelling_keys = lru_cache(maxsize=1 << 12)(names.spelling_keys)


def spelled_words(field: FieldText, name: str, tolerance: int | None) -> list[str]:
    """The distinct words of a field that spell `name` (found by key, then confirmed)."""
    return [
        word
        for key in _spelling_keys(name)
        for word in field.by_key.get(key, ())
        if is_spelling_of_cached(name, word, tolerance)
    ]


def word_positions(field: FieldText, term: Term) -> list[int]:
    """Where a single-word reading of `term` stands in a field (not its curated phrases)."""
    if term.prefix:
        words = field.starting_with(term.word)
    elif term.spelling:
        words = spelled_words(field, term.word, term.tolerance)
    else:
        return field.positions.get(term.word, [])
    return [p for w in words for p in field.positions[w]]


def phrase_starts(field: FieldText, words: tuple[str, ...], spelling: bool) -> list[int]:
    """Where the words stand in a field one after another, each matched exactly or, with
    `spelling`, as a spelling of it."""
    first = Term(words[0], spelling=spelling)
    rest = words[1:]
    text = field.words
    return [
        p
        for p in word_positions(field, first)
        if p + len(rest) < len(text)
        and all(
            text[p + 1 + i] == w or (spelling and is_spelling_of_cached(w, text[p + 1 + i], None))
            for i, w in enumerate(rest)
        )
    ]


def term_hits(doc: Document, term: Term | Phrase, fields: tuple[int, ...]) -> list[Hit]:
    """Every hit of one term or phrase in the given fields."""
    # Most terms of a candidate rule are absent from the story: one set look-up over the
    # whole story says so before any field builds its positions.
    # A spelling has one of the name's keys (names.py's contract), so a story without any
    # of them has none, whatever the field.
    vocabulary = doc.vocabulary
    if isinstance(term, Phrase):
        if term.spelling:
            if any(doc.keys.isdisjoint(_spelling_keys(w)) for w in term.words):
                return []
        elif not vocabulary.issuperset(term.words):
            return []
    elif term.spelling:
        if doc.keys.isdisjoint(_spelling_keys(term.word)) and not any(
            vocabulary.issuperset(v) for v in term.variants
        ):
            return []
    elif not term.prefix and term.word not in vocabulary:
        return []
    hits: list[Hit] = []
    for f in fields:
        field = doc.fields[f]
        if not field.words:
            continue
        if isinstance(term, Phrase):
            n = len(term.words) - 1
            hits.extend((f, p, p + n) for p in phrase_starts(field, term.words, term.spelling))
            continue
        hits.extend((f, p, p) for p in word_positions(field, term))
        for variant in term.variants:
            n = len(variant) - 1
            hits.extend((f, p, p + n) for p in phrase_starts(field, variant, False))
    return hits


def near_hits(left: list[Hit], right: list[Hit], distance: int, ordered: bool) -> list[Hit]:
    """The hits of each side that have a partner on the other within `distance` words."""
    found: dict[Hit, None] = {}
    for a in left:
        for b in right:
            if a[0] != b[0]:
                continue
            gap = b[1] - a[2] if ordered else max(b[1] - a[2], a[1] - b[2])
            if 1 <= gap <= distance:
                found[a] = None
                found[b] = None
    return list(found)


def evaluate(node: Node, doc: Document, fields: tuple[int, ...] = ALL_FIELDS) -> list[Hit] | None:
    """The hits that make the query match the story, or None when it does not match.
    An empty list is a match with no words to show (what a NOT contributes)."""
    match node:
        case Term() | Phrase():
            return term_hits(doc, node, fields) or None
        case And(children):
            hits: list[Hit] = []
            for child in children:
                found = evaluate(child, doc, fields)
                if found is None:
                    return None
                hits.extend(found)
            return hits
        case Or(children) | Place(_, children):
            matched = False
            hits = []
            for child in children:
                found = evaluate(child, doc, fields)
                if found is not None:
                    matched = True
                    hits.extend(found)
            return hits if matched else None
        case Not(child):
            return None if evaluate(child, doc, fields) is not None else []
        case Near(left, right, distance, ordered):
            a = evaluate(left, doc, fields)
            b = evaluate(right, doc, fields) if a else None
            if not a or not b:
                return None
            return near_hits(a, b, distance, ordered) or None
        case Scope(name, child):
            f = FIELDS.index(name)
            return evaluate(child, doc, (f,) if f in fields else ())


def matched_terms(doc: Document, hits: list[Hit]) -> tuple[str, ...]:
    """The matched words in the order they first appear, each spelling once; a word that
    only matched inside a longer matched phrase ("arms" in "arms embargo") is not repeated."""
    seen: dict[str, str] = {}
    reach = (-1, -1)  # the furthest (field, word) a longer hit starting at or before covers
    for f, start, end in sorted(set(hits), key=lambda h: (h[0], h[1], -h[2])):
        if (f, end) <= reach:
            continue
        reach = (f, end)
        word = doc.fields[f].surface(start, end)
        seen.setdefault(word.casefold(), word)
    return tuple(seen.values())
