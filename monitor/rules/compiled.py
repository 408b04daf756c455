"""A query compiled for the matcher: the syntax tree turned into nested closures that
give the same hits as `evaluate` (evaluate.py), without its per-node dispatch, with the
words and keys each part needs worked out once per rule instead of once per story. Pure.

`evaluate` stays the reference: explain walks it, and the tests compare the two on real
stories (and the presearcher with them against evaluating every rule).

Two cuts a compiled query makes that `evaluate` does not:
  * A place set is first asked for the tokens of its required clause (presearch.py):
    when the story has none of the words and spelling keys of any of its names, none can
    match, and a place of forty gazetteer names is one set operation instead of forty
    term look-ups. (A plain OR of a few terms gains nothing: each term is one look-up.)
  * A `~` term's candidate words come from the story's key map (`Document.keyed`), which
    the matcher fills from the presearcher's memory of the words it has seen: only the
    keys some rule asks about are ever computed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from monitor.rules import names
from monitor.rules.document import Document, FieldText, Hit
from monitor.rules.evaluate import near_hits
from monitor.rules.nodes import FIELDS, And, Near, Node, Not, Or, Phrase, Place, Scope, Term
from monitor.rules.presearch import KEY, WORD, index_tokens

Compiled = Callable[[Document, tuple[int, ...]], list[Hit] | None]

_is_spelling_of = lru_cache(maxsize=1 << 16)(names.is_spelling_of)


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
            found = doc.fields[f].positions.get(word)
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
                positions = field.positions
                for w in field.starting_with(prefix):
                    hits.extend((f, p, p) for p in positions[w])
        return hits or None

    return run


def _spelled(doc: Document, field: FieldText, name: str, tolerance: int | None) -> list[str]:
    """The distinct words of a field that spell `name`, found through the story's key map
    and the spellings that match only as written (names.spelling_index)."""
    keys, exact = names.spelling_index(name)
    keyed = doc.keyed
    positions = field.positions
    found = [w for w in exact if w in positions]
    for key in keys:
        for word in keyed.get(key, ()):
            if word in positions and _is_spelling_of(name, word, tolerance):
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
            positions = field.positions
            for w in _spelled(doc, field, word, tolerance):
                hits.extend((f, p, p) for p in positions[w])
            for v, n in present:
                hits.extend((f, p, p + n) for p in _starts(doc, field, v, False))
        return hits or None

    return run


def _starts(doc: Document, field: FieldText, words: tuple[str, ...], spelling: bool) -> list[int]:
    """Where the words stand in a field one after another (evaluate.phrase_starts)."""
    first = words[0]
    if spelling:
        firsts = [p for w in _spelled(doc, field, first, None) for p in field.positions[w]]
    else:
        firsts = field.positions.get(first, [])
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


def _guarded(node: Node, run: Compiled) -> Compiled:
    """`run`, asked only when the story has one of the node's required words or keys."""
    tokens = index_tokens(node)
    if tokens is None or any(kind not in (WORD, KEY) for kind, _ in tokens):
        return run  # a prefix (or nothing) to guard by: no cheap test
    words = frozenset(value for kind, value in tokens if kind == WORD)
    keys = frozenset(value for kind, value in tokens if kind == KEY)

    def guarded(doc: Document, fields: tuple[int, ...]) -> list[Hit] | None:
        if doc.vocabulary.isdisjoint(words) and doc.keys.isdisjoint(keys):
            return None
        return run(doc, fields)

    return guarded


@lru_cache(maxsize=1 << 12)
def _place(place: Place) -> Compiled:
    # A place set stands in many rules, with many names each: compiled once.
    return _guarded(place, _or(tuple(map(compile_query, place.names))))


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
