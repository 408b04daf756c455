"""Compiled queries, for the matcher. `compile_query` turns a syntax tree into nested
closures that give the same hits as `evaluate`, without the per-node dispatch, with the
words and keys each part needs worked out once per rule instead of once per story; the
tests compare the two on real stories (and the presearcher with them against evaluating
every rule). The cuts a compiled query makes:
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
from monitor.rules.evaluate import is_spelling_of_cached, near_hits
from monitor.rules.nodes import FIELDS, And, Near, Node, Not, Or, Phrase, Place, Scope, Term
from monitor.rules.presearch import KEY, WORD, index_tokens

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
    present = field.has
    found = [w for w in exact if present(w)]
    for key in keys:
        for word in keyed.get(key, ()):
            if present(word) and is_spelling_of_cached(name, word, tolerance):
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
            text[p + 1 + i] == w or (spelling and is_spelling_of_cached(w, text[p + 1 + i], None))
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
