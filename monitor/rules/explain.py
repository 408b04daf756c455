"""Explain: why a rule did or did not match a story, term by term, as query text. Pure.

The explanation walks the same tree the matcher evaluates, with the same evaluation of
each part (evaluate.py), so it can never disagree with what the matcher decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.models import Story
from monitor.rules.document import Document
from monitor.rules.evaluate import (
    ALL_FIELDS,
    evaluate,
    matched_terms,
    phrase_starts,
    term_hits,
    word_positions,
)
from monitor.rules.matcher import Rule
from monitor.rules.nodes import FIELDS, And, Near, Node, Not, Or, Phrase, Place, Scope, Term
from monitor.text import fold

_Found = tuple[int, int, int, "Hit"]  # field, first and last word, and the hit there


@dataclass(frozen=True)
class Hit:
    """One term of the query found in the story: the term as the query writes it, the
    story's words, the field they are in, and why they count."""

    query: str
    text: str
    field: str
    why: str


@dataclass(frozen=True)
class Explanation:
    """Whether a rule matched a story, the words it would alert with, the parts of its
    query that were not satisfied (as query text) and every term the story contains."""

    rule: str
    matched: bool
    terms: tuple[str, ...]
    failed: tuple[str, ...]
    hits: tuple[Hit, ...]


def explain(rule: Rule, story: Story) -> Explanation:
    """Why `rule` does or does not match `story`."""
    doc = Document.of(story)
    found = evaluate(rule.query, doc)
    found_hits: list[_Found] = []
    _collect(rule.query, doc, ALL_FIELDS, found_hits)
    # In text order, each once; where two names of a place find the same words, the
    # name spelled as the story spells it explains them best.
    hits: dict[tuple[str, int, int, str], Hit] = {}
    for f, start, _end, hit in sorted(found_hits, key=lambda h: (h[0], h[1], -h[2])):
        key = (hit.query, f, start, hit.text)
        if key not in hits or fold(hit.text) == fold(hit.why.rsplit(", name ", 1)[-1]):
            hits[key] = hit
    return Explanation(
        rule=rule.id,
        matched=found is not None,
        terms=matched_terms(doc, found) if found is not None else (),
        failed=() if found is not None else tuple(_failed(rule.query, doc, ALL_FIELDS)),
        hits=tuple(dict.fromkeys(hits.values())),
    )


def _failed(node: Node, doc: Document, fields: tuple[int, ...]) -> list[str]:
    """The smallest parts of a node that does not match which, each, it needed."""
    match node:
        case And(children):
            return [
                part
                for child in children
                if evaluate(child, doc, fields) is None
                for part in _failed(child, doc, fields)
            ]
        case Scope(name, And() as child):
            return _failed(child, doc, _scoped(name, fields))
        case _:
            return [node.source]


def _scoped(name: str, fields: tuple[int, ...]) -> tuple[int, ...]:
    f = FIELDS.index(name)
    return (f,) if f in fields else ()


def _collect(node: Node, doc: Document, fields: tuple[int, ...], out: list[_Found]) -> None:
    """Every hit of the terms outside a NOT, with why each counts."""
    match node:
        case Term() | Phrase():
            _term(node, node.source, _why(node), doc, fields, out)
        case Place(place_id, names):
            for name in names:
                why = f"place {place_id}, name {name.source}"
                _term(name, node.source, why, doc, fields, out)
        case And(children) | Or(children):
            for child in children:
                _collect(child, doc, fields, out)
        case Near(left, right):
            _collect(left, doc, fields, out)
            _collect(right, doc, fields, out)
        case Scope(name, child):
            _collect(child, doc, _scoped(name, fields), out)
        case Not():
            pass


def _why(term: Term | Phrase) -> str:
    if isinstance(term, Phrase):
        return "spelling of each word" if term.spelling else "exact phrase"
    if term.prefix:
        return f"word starting {term.word!r}"
    if term.spelling:
        return f"spelling of {_name(term)}"
    return "exact word"


def _name(term: Term) -> str:
    return term.source.rsplit("~", 1)[0] or term.word


def _term(
    term: Term | Phrase,
    query: str,
    why: str,
    doc: Document,
    fields: tuple[int, ...],
    out: list[_Found],
) -> None:
    if not (isinstance(term, Term) and term.spelling):
        for f, start, end in term_hits(doc, term, fields):
            out.append(
                (f, start, end, Hit(query, doc.fields[f].surface(start, end), FIELDS[f], why))
            )
        return
    # A `~` term: its spellings and its listed variants say different things.
    for f in fields:
        field = doc.fields[f]
        for p in word_positions(field, term):
            out.append((f, p, p, Hit(query, field.surface(p, p), FIELDS[f], why)))
        for variant in term.variants:
            for p in phrase_starts(field, variant, False):
                end = p + len(variant) - 1
                listed = f"listed spelling of {_name(term)}"
                out.append((f, p, end, Hit(query, field.surface(p, end), FIELDS[f], listed)))
