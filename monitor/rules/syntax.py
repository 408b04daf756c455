"""The watch-rule query language: text → a syntax tree (nodes.py) and warnings. Pure.

    or       := and ("OR" and)*
    and      := near (["AND"] near)*            adjacent terms are ANDed
    near     := unary (("NEAR/n" | "ONEAR/n") unary)*
    unary    := "NOT" unary | "-" unary | primary
    primary  := "(" or ")" | FIELD ":" primary | PHRASE | WORD | "@" PLACE
    PHRASE   := '"' words '"'                   the words in order, next to each other
    WORD     := word | word* (prefix) | word~ | word~N (spellings of a name, names.py)

Operators are upper case, so a lower-case "or" is a word (with a warning when it stands
between two terms, where an operator was probably meant). A WORD that folds to several
words ("cease-fire", "Al-Qaddahiya") is a phrase. Words are compared case- and
accent-insensitively and whole: "Libya" does not match "Libyan"; "Libya*" does.

A hand-written recursive-descent parser rather than a grammar library: every error must
name the column of the offending token with a message an operator can act on ("'(' is
never closed", "unknown place '@x'"), and the grammar is a dozen lines. Parentheses,
NOT, field scopes and NEAR chains may nest at most MAX_DEPTH levels, so one rule of a
few thousand "(" is a QueryError, not a RecursionError that stops the daemon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from monitor.errors import QueryError
from monitor.rules import names
from monitor.rules.nodes import (
    FIELDS,
    MAX_DEPTH,
    And,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Place,
    Scope,
    Term,
    positive_terms,
)
from monitor.rules.places import PlaceNames
from monitor.text import fold_words


@lru_cache(maxsize=1 << 16)
def _folded(text: str) -> tuple[str, ...]:
    # Thousands of rules repeat the same words and place names: fold each text once.
    return tuple(fold_words(text))


@dataclass(frozen=True)
class QueryWarning:
    """Something a query probably does not mean, at a 1-based column of the query."""

    column: int
    message: str


@dataclass(frozen=True)
class ParsedQuery:
    """A query's syntax tree and what `monitor check` should warn about it."""

    node: Node
    warnings: tuple[QueryWarning, ...] = ()


_OPERATORS = {"AND", "OR", "NOT"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<phrase>"[^"]*"?)
  | (?P<near>O?NEAR(?:/[^\s()"]*)?)(?=[\s()"]|$)
  | (?P<field>(?:title|summary|content):)(?=[^\s)])
  | (?P<badfield>\w+:)(?=\()
  | (?P<place>@[^\s()"]*)
  | (?P<minus>-(?=[^\s)]))
  | (?P<dash>-)
  | (?P<word>[^\s()"]+)
    """,
    re.VERBOSE,
)
_DISTANCE = re.compile(r"O?NEAR/([1-9]\d{0,3})")
_FUZZ = re.compile(r"~(\d?)$")
# Lower-case words that are operators in upper case, and what the upper case would mean.
_LOWER_OPERATORS = {
    "and": "write AND to mean both",
    "or": "write OR to mean either",
    "not": "write NOT to leave out what follows",
    "near": "write NEAR/n to mean within n words",
}
# Lexemes after which a word is a term's neighbour, and before which one follows.
_ENDS_TERM = {"word", "phrase", "rparen", "place"}
_STARTS_TERM = {"word", "phrase", "lparen", "place", "field", "minus", "dash"}


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # lparen, rparen, phrase, near, field, place, minus, dash, word, AND, OR, NOT, end
    text: str
    column: int  # 1-based
    end: int  # 0-based offset just past it


def _lex(text: str) -> list[_Lexeme]:
    lexemes: list[_Lexeme] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or ""
        if kind == "space":
            continue
        value = m.group()
        if kind == "word" and value in _OPERATORS:
            kind = value
        if kind == "phrase" and (len(value) < 2 or not value.endswith('"')):
            raise QueryError('unclosed quote: add the closing "', m.start() + 1)
        if kind == "near" and not _DISTANCE.fullmatch(value):
            op = value.split("/")[0]
            raise QueryError(f"{op} needs a distance in words, e.g. {op}/5", m.start() + 1)
        if kind == "badfield":
            raise QueryError(
                f"unknown field {value[:-1]!r}; fields are {', '.join(FIELDS)}", m.start() + 1
            )
        lexemes.append(_Lexeme(kind, value, m.start() + 1, m.end()))
    lexemes.append(_Lexeme("end", "", len(text) + 1, len(text)))
    return lexemes


class _Parser:
    def __init__(self, text: str, places: Mapping[str, PlaceNames] | None) -> None:
        self.text = text
        self.places = places or {}
        self.lexemes = _lex(text)
        self.pos = 0
        self.depth = 0  # the parentheses, NOTs, scopes and NEARs open around the position
        self.warnings: list[QueryWarning] = []

    @property
    def current(self) -> _Lexeme:
        return self.lexemes[self.pos]

    def advance(self) -> _Lexeme:
        lexeme = self.lexemes[self.pos]
        self.pos += 1
        return lexeme

    def since(self, start: _Lexeme) -> str:
        """The query text from `start` to the last lexeme read: a node's source."""
        return self.text[start.column - 1 : self.lexemes[self.pos - 1].end]

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise QueryError("the query is empty", 1)
        node = self._or()
        if self.current.kind == "rparen":
            raise QueryError("unmatched ')'", self.current.column)
        if self.current.kind != "end":  # pragma: no cover - _and consumes everything else
            raise QueryError(f"unexpected {self.current.text!r}", self.current.column)
        if not positive_terms(node):
            raise QueryError(
                "the query matches only by what a story lacks; add a word it must "
                "contain (e.g. Libya NOT Lebanon)",
                1,
            )
        return node

    def _or(self) -> Node:
        start = self.current
        children = [self._and()]
        while self.current.kind == "OR":
            self.advance()
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(children), self.since(start))

    def _and(self) -> Node:
        start = self.current
        children = [self._near()]
        while self.current.kind not in ("OR", "rparen", "end"):
            if self.current.kind == "AND":
                self.advance()
            children.append(self._near())
        return children[0] if len(children) == 1 else And(tuple(children), self.since(start))

    def _near(self) -> Node:
        start = self.current
        node = self._unary()
        opened = 0
        while self.current.kind == "near":
            op = self.advance()
            # A chain (a NEAR b NEAR c …) nests to the left: each link is a level deeper.
            self._enter(op)
            opened += 1
            right = self._unary()
            for side in (node, right):
                if not positive_terms(side):
                    raise QueryError(f"{op.text} needs a word or phrase on each side", op.column)
            distance = int(op.text.split("/")[1])
            node = Near(node, right, distance, op.text.startswith("O"), self.since(start))
        self.depth -= opened
        return node

    def _enter(self, lexeme: _Lexeme) -> None:
        """Open one level of nesting at `lexeme` (a '(', NOT, scope or NEAR), or refuse."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            shown = lexeme.text if lexeme.kind in ("NOT", "near") else repr(lexeme.text)
            raise QueryError(f"{shown} is nested more than {MAX_DEPTH} levels deep", lexeme.column)

    def _unary(self) -> Node:
        if self.current.kind in ("NOT", "minus", "dash"):
            start = self.advance()
            if start.kind == "dash" and self.current.kind in _STARTS_TERM:
                self.warnings.append(
                    QueryWarning(
                        start.column,
                        "a lone '-' is read as NOT; write -word or NOT word to say so",
                    )
                )
            self._enter(start)
            child = self._unary()
            self.depth -= 1
            return Not(child, self.since(start))
        return self._primary()

    def _primary(self) -> Node:
        lexeme = self.advance()
        if lexeme.kind == "lparen":
            if self.current.kind == "rparen":
                raise QueryError("empty parentheses", lexeme.column)
            self._enter(lexeme)
            node = self._or()
            if self.current.kind != "rparen":
                raise QueryError("'(' is never closed", lexeme.column)
            self.advance()
            self.depth -= 1
            return replace(node, source=self.since(lexeme))
        if lexeme.kind == "field":
            if self.current.kind not in ("lparen", "phrase", "word", "place", "field"):
                raise QueryError(
                    f"{lexeme.text} needs a word, a phrase or a (group) right after it",
                    lexeme.column,
                )
            self._enter(lexeme)
            child = self._primary()
            self.depth -= 1
            return Scope(lexeme.text[:-1], child, self.since(lexeme))
        if lexeme.kind == "phrase":
            return _phrase(lexeme.text[1:-1], lexeme.column, lexeme.text)
        if lexeme.kind == "word":
            self._warn_lower_operator(lexeme)
            return self._word(lexeme.text, lexeme.column)
        if lexeme.kind == "place":
            return self._place(lexeme)
        if lexeme.kind == "end":
            raise QueryError("the query ends where a word was expected", lexeme.column)
        if lexeme.kind == "rparen":
            raise QueryError("unmatched ')'", lexeme.column)
        raise QueryError(f"{lexeme.text} needs a word on each side", lexeme.column)

    def _warn_lower_operator(self, lexeme: _Lexeme) -> None:
        word = lexeme.text.split("/")[0]
        if word not in _LOWER_OPERATORS or self.pos < 2:
            return
        before, after = self.lexemes[self.pos - 2], self.current
        if before.kind in _ENDS_TERM and after.kind in _STARTS_TERM:
            self.warnings.append(
                QueryWarning(
                    lexeme.column,
                    f"lower-case {word!r} is a word here; {_LOWER_OPERATORS[word]}",
                )
            )

    def _word(self, original: str, column: int) -> Node:
        text = original
        prefix = text.endswith("*")
        fuzz_match = _FUZZ.search(text)
        spelling, tolerance = False, None
        if prefix:
            text = text[:-1]
        elif fuzz_match:
            text = text[: fuzz_match.start()]
            spelling = True
            tolerance = int(fuzz_match.group(1)) if fuzz_match.group(1) else None
        if "*" in text or "~" in text:
            raise QueryError(f"in {original!r}: * and ~ go once, at the end of a word", column)
        words = _folded(text)
        if not words:
            raise QueryError(f"{original!r} has no letters or digits to match", column)
        if len(words) > 1:
            if prefix or spelling:
                raise QueryError("* and ~ apply to a single word, not to a phrase", column)
            return Phrase(tuple(words), source=original)
        word = words[0]
        if prefix and len(word) < 3:
            raise QueryError(f"a prefix needs at least 3 letters before *: {original!r}", column)
        if spelling:
            if names.is_common_word(word):
                self.warnings.append(
                    QueryWarning(
                        column,
                        f"{text!r} is a common English word, so {original} matches only "
                        "that spelling",
                    )
                )
            return spelling_term(word, tolerance, original)
        return Term(word, prefix=prefix, source=original)

    def _place(self, lexeme: _Lexeme) -> Node:
        place_id = lexeme.text[1:]
        place = self.places.get(place_id)
        if place is None:
            known = ", ".join(f"@{p}" for p in sorted(self.places)) or "none (places: defines them)"
            raise QueryError(f"unknown place {lexeme.text!r}; places are {known}", lexeme.column)
        node = _place_node(place)
        if node is None:
            raise QueryError(f"place {lexeme.text!r} has no usable names", lexeme.column)
        return node if node.source == lexeme.text else replace(node, source=lexeme.text)


@lru_cache(maxsize=1 << 12)
def _place_node(place: PlaceNames) -> Place | None:
    """The place set as a query node, or None when it has no usable names. Built once per
    place set: the rules that name the same place share one node (and its compiled form)."""
    alternatives: dict[Term | Phrase, None] = {}
    for name in place.names:
        words = _folded(name)
        if len(words) == 1:
            alternatives.setdefault(spelling_term(words[0], None, name))
        elif words:
            alternatives.setdefault(Phrase(words, spelling=True, source=name))
    if not alternatives:
        return None
    return Place(place.id, tuple(alternatives), f"@{place.id}")


def spelling_term(word: str, tolerance: int | None, source: str) -> Term:
    """A `word~` term with the curated variants names.py gives for it."""
    variants = tuple(_folded(v) for v in names.curated_variants(word))
    return Term(
        word,
        spelling=True,
        tolerance=tolerance,
        variants=tuple(v for v in variants if v),
        source=source,
    )


def _phrase(text: str, column: int, source: str) -> Node:
    words = _folded(text)
    if not words:
        raise QueryError("a phrase needs at least one word", column)
    return Term(words[0], source=source) if len(words) == 1 else Phrase(tuple(words), source=source)


def parse_query(text: str, *, places: Mapping[str, PlaceNames] | None = None) -> ParsedQuery:
    """Parse a query into its syntax tree and warnings, or raise QueryError at a column.

    `places` resolves `@id` to the names of that place set; an unknown id is an error.
    """
    parser = _Parser(text, places)
    node = parser.parse()
    return ParsedQuery(node, tuple(parser.warnings))
