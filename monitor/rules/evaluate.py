"""Evaluation: a query's syntax tree against an indexed story → the hits that made it
match, or None. Pure.

A hit is (field, first word, last word). Positions never mix fields, so a phrase or a
NEAR is looked for within each field on its own.

`evaluate` walks the tree and is the reference: explain walks it too. `compile_query`
turns the tree into nested closures for the matcher that give the same hits, without the
per-node dispatch, with the words and keys each part needs worked out once per rule
instead of once per story; the tests compare the two on real stories (and the
presearcher with them against evaluating every rule). Two cuts a compiled query makes:
  * A place set asks only the names that have one of their own required words or keys
    (presearch.py) in the story: a place of forty gazetteer names costs two dict
    intersections and the one or two names the story could spell, not forty look-ups.
    (A plain OR of a few terms gains nothing: each term is one look-up.)
  * Word positions are found per word on demand (`FieldText.where`), never for a
    whole long `content` field.
  * A `~` term's words are looked up by the skeletons and exact spellings of
    `names.spelling_index`, in the story's key map (`Document.keyed`), which the matcher
    fills from the presearcher's memory of the words it has seen: only the keys some
    rule asks about are ever computed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from monitor.rules import names
from monitor.rules.document import Document, FieldText, Hit
from monitor.rules.nodes import FIELDS, And, Near, Node, Not, Or, Phrase, Place, Scope, Term
from monitor.rules.presearch import KEY, WORD, index_tokens

ALL_FIELDS = tuple(range(len(FIELDS)))

# names.py's answers depend only on their arguments, and the same few names meet the
# same story words all day: remember them rather than recompute per story.
_is_spelling_of = lru_cache(maxsize=1 << 16)(names.is_spelling_of)
_spelling_keys = lru_cache(maxsize=1 << 12)(names.spelling_keys)


def spelled_words(field: FieldText, name: str, tolerance: int | None) -> list[str]:
    """The distinct words of a field that spell `name` (found by key, then confirmed)."""
    return [
        word
        for key in _spelling_keys(name)
        for word in field.by_key.get(key, ())
        if _is_spelling_of(name, word, tolerance)
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
            text[p + 1 + i] == w or (spelling and _is_spelling_of(w, text[p + 1 + i], None))
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


Compiled = Callable[[Document, tuple[int, ...]], list[Hit] | None]


def compile_query(node: Node) -> Compiled:
    """The query as a function of (story, fields) → hits, or None where it does not match,
    exactly as `evaluate(node, doc, fields)` answers."""
    match node:
        case Term(word, prefix=True):
            return _prefix(word)
        case Term(word, spelling=True, tolerance=tolerance, variants=variants):
            return _spelling(word, tolerance, variants)
        case Term(word, variants=variants):
            return _word(word) if not variants else _spelling_free_variants(word, variants)
        case Phrase(words, spelling=spelling):
            return _phrase(words, spelling)
        case And(children):
            return _and(tuple(map(compile_query, children)))
        case Place():
            return _place(node)
        case Or(children):
            return _or(tuple(map(compile_query, children)))
        case Not(child):
            return _not(compile_query(child))
        case Near(left, right, distance, ordered):
            return _near(compile_query(left), compile_query(right), distance, ordered)
        case Scope(name, child):
            return _scope(FIELDS.index(name), compile_query(child))


def _word(word: str) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        if word not in doc.vocabulary:
            return None
        hits: list[Hit] = []
        for f in fields:
            found = doc.fields[f].where(word)
            if found:
                hits.extend((f, p, p) for p in found)
        return hits or None

    return run


def _spelling_free_variants(word: str, variants: tuple[tuple[str, ...], ...]) -> Compiled:
    # A plain term with listed variants, as `evaluate` reads it (the word itself required),
    # kept for completeness: the parser gives variants only to `~` terms.
    plain = _word(word)
    phrases = tuple(_phrase(v, False) for v in variants)

    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        hits = plain(doc, fields)
        if hits is None:
            return None
        for phrase in phrases:
            hits.extend(phrase(doc, fields) or ())
        return hits

    return run


def _prefix(prefix: str) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        hits: list[Hit] = []
        for f in fields:
            field = doc.fields[f]
            if field.words:
                for w in field.starting_with(prefix):
                    hits.extend((f, p, p) for p in field.where(w))
        return hits or None

    return run


def _spelled(doc: Document, field: FieldText, name: str, tolerance: int | None) -> list[str]:
    """The distinct words of a field that spell `name`, found through the story's key map
    and the spellings that match only as written (names.spelling_index)."""
    keys, exact = names.spelling_index(name)
    keyed = doc.keyed
    present = field.word_set
    found = [w for w in exact if w in present]
    for key in keys:
        for word in keyed.get(key, ()):
            if word in present and _is_spelling_of(name, word, tolerance):
                found.append(word)
    return found


def _absent(doc: Document, name: str) -> bool:
    """Whether the story has no word that could spell `name` (a necessary test only)."""
    keys, exact = names.spelling_index(name)
    return doc.keys.isdisjoint(keys) and doc.vocabulary.isdisjoint(exact)


def _spelling(word: str, tolerance: int | None, variants: tuple[tuple[str, ...], ...]) -> Compiled:
    listed = tuple((v, frozenset(v), len(v) - 1) for v in variants)

    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        vocabulary = doc.vocabulary
        present = [(v, n) for v, words, n in listed if words <= vocabulary]
        if not present and _absent(doc, word):
            return None
        hits: list[Hit] = []
        for f in fields:
            field = doc.fields[f]
            if not field.words:
                continue
            for w in _spelled(doc, field, word, tolerance):
                hits.extend((f, p, p) for p in field.where(w))
            for v, n in present:
                hits.extend((f, p, p + n) for p in _starts(doc, field, v, False))
        return hits or None

    return run


def _starts(doc: Document, field: FieldText, words: tuple[str, ...], spelling: bool) -> list[int]:
    """Where the words stand in a field one after another (evaluate.phrase_starts)."""
    first = words[0]
    if spelling:
        firsts = [p for w in _spelled(doc, field, first, None) for p in field.where(w)]
    else:
        firsts = field.where(first)
    if len(words) == 1:
        return list(firsts)
    rest = words[1:]
    text = field.words
    last = len(text) - len(rest)
    return [
        p
        for p in firsts
        if p < last
        and all(
            text[p + 1 + i] == w or (spelling and _is_spelling_of(w, text[p + 1 + i], None))
            for i, w in enumerate(rest)
        )
    ]


def _phrase(words: tuple[str, ...], spelling: bool) -> Compiled:
    n = len(words) - 1
    needed = frozenset(words)

    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        if spelling:
            if any(_absent(doc, w) for w in words):
                return None
        elif not needed <= doc.vocabulary:
            return None
        hits: list[Hit] = []
        for f in fields:
            field = doc.fields[f]
            if field.words:
                hits.extend((f, p, p + n) for p in _starts(doc, field, words, spelling))
        return hits or None

    return run


def _and(children: tuple[Compiled, ...]) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        hits: list[Hit] = []
        for child in children:
            found = child(doc, fields)
            if found is None:
                return None
            hits.extend(found)
        return hits

    return run


def _or(children: tuple[Compiled, ...]) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        matched = False
        hits: list[Hit] = []
        for child in children:
            found = child(doc, fields)
            if found is not None:
                matched = True
                hits.extend(found)
        return hits if matched else None

    return run


@lru_cache(maxsize=1 << 12)
def _place(place: Place) -> Compiled:
    # A place set stands in many rules, with many names each: compiled once. Each name is
    # asked only when the story has one of that name's own required words or keys (it
    # cannot match otherwise): of forty gazetteer names, a story that has one is asked
    # about that one, not forty.
    names = tuple(map(compile_query, place.names))
    by_word: dict[str, list[int]] = {}
    by_key: dict[str, list[int]] = {}
    always: list[int] = []
    for i, name in enumerate(place.names):
        tokens = index_tokens(name)
        if tokens is None or any(kind not in (WORD, KEY) for kind, _ in tokens):
            always.append(i)
            continue
        for kind, value in tokens:
            (by_word if kind == WORD else by_key).setdefault(value, []).append(i)
    if not by_word and not by_key:
        return _or(names)
    fallback = frozenset(always)

    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        asked = set(fallback)
        for word in by_word.keys() & doc.vocabulary:
            asked.update(by_word[word])
        if by_key:
            for key in by_key.keys() & doc.keys:
                asked.update(by_key[key])
        if not asked:
            return None
        matched = False
        hits: list[Hit] = []
        for i in sorted(asked):
            found = names[i](doc, fields)
            if found is not None:
                matched = True
                hits.extend(found)
        return hits if matched else None

    return run


def _not(child: Compiled) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        return None if child(doc, fields) is not None else []

    return run


def _near(left: Compiled, right: Compiled, distance: int, ordered: bool) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        a = left(doc, fields)
        b = right(doc, fields) if a else None
        if not a or not b:
            return None
        return near_hits(a, b, distance, ordered) or None

    return run


def _scope(f: int, child: Compiled) -> Compiled:
    def run(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        return child(doc, (f,) if f in fields else ())

    return run
