"""The syntax tree of a watch-rule query: plain frozen values, compared by meaning.

Every node keeps `source`, the query text it was parsed from, so that `explain` can name
the part of a query that failed as the operator wrote it. `source` (and a `~` term's
curated variants, which come from names.py) take no part in equality: two queries that
mean the same compare equal however they were spelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Far beyond any real rule, and far inside Python's recursion limit (about four frames
# per level in the parser, and one per level in every walk over the tree).
MAX_DEPTH = 64

FIELDS = ("title", "summary", "content")


@dataclass(frozen=True)
class Term:
    """One word, matched whole; `prefix` matches any word it starts; `spelling` (`word~`)
    matches the spellings of a name (names.py), within `tolerance` when `word~N` set one."""

    word: str
    prefix: bool = False
    spelling: bool = False
    tolerance: int | None = None
    # Extra spellings (each one or more folded words) matched exactly, from names.py.
    variants: tuple[tuple[str, ...], ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Phrase:
    """Words that must stand next to each other, in order, in one field. With `spelling`
    (a place name), each word is matched as its `word~` would be."""

    words: tuple[str, ...]
    spelling: bool = False
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    child: Node
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Near:
    """`left NEAR/distance right`: both in one field, word positions at most `distance`
    apart; `ordered` (ONEAR) also wants left before right."""

    left: Node
    right: Node
    distance: int
    ordered: bool = False
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Scope:
    """`title:(...)`: the child matched only within the field `name`."""

    name: str
    child: Node
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Place:
    """`@id`: any usable name of a place set, each a `~`-tolerant term or phrase whose
    `source` is the name as the place set writes it."""

    id: str
    names: tuple[Term | Phrase, ...]
    source: str = field(default="", compare=False, repr=False)


Node = Term | Phrase | And | Or | Not | Near | Scope | Place


def positive_terms(node: Node) -> list[Term | Phrase]:
    """The terms a story may contain for the query to match (outside any NOT)."""
    match node:
        case Term() | Phrase():
            return [node]
        case And(children) | Or(children):
            return [term for child in children for term in positive_terms(child)]
        case Near(left, right):
            return positive_terms(left) + positive_terms(right)
        case Scope(_, child):
            return positive_terms(child)
        case Place(_, names):
            return list(names)
        case Not():
            return []
