"""The watch-rule query language: text → a small syntax tree. Pure; no matching here.

    query    := or
    or       := and ("OR" and)*
    and      := unary (["AND"] unary)*          adjacent terms are ANDed
    unary    := "NOT" unary | "-" unary | primary
    primary  := "(" or ")" | PHRASE | WORD
    PHRASE   := '"' words '"'                   the words in order, next to each other
    WORD     := word | word* (prefix) | word~ | word~N (spellings within N edits)

Operators are upper case, so a lower-case "and" is a word. A WORD that folds to several
words ("cease-fire", "Al-Qaddahiya") is a phrase. Words are compared case- and
accent-insensitively and whole: "Libya" does not match "Libyan"; "Libya*" does.

Parentheses and NOT (or -) may nest at most MAX_DEPTH levels deep. The parser and every
walk over the tree recurse once per level, so without a limit one rule of a few thousand
"(" would raise RecursionError out of load_config and stop the daemon. Long flat queries
("a OR b OR …", thousands of terms) are read in a loop and cost no depth.

Later operators (NEAR/n, field scopes such as title:, gazetteer names) slot in as new
node types and new branches of `_primary`/`_and`, not as a rewrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.errors import QueryError
from monitor.text import fold_words


@dataclass(frozen=True)
class Term:
    """One word, matched whole; `prefix` matches any word it starts; `fuzz` allows edits."""

    word: str
    prefix: bool = False
    fuzz: int = 0


@dataclass(frozen=True)
class Phrase:
    """Words that must stand next to each other, in order."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Term | Phrase | And | Or | Not

# Far beyond any real rule, and far inside Python's recursion limit (about four frames
# per level here, and one per level in match.py and positive_terms).
MAX_DEPTH = 64

_OPERATORS = {"AND", "OR", "NOT"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<phrase>"[^"]*"?)
  | (?P<minus>-(?=[\w("]))
  | (?P<word>[^\s()"]+)
    """,
    re.VERBOSE,
)
_FUZZ = re.compile(r"~(\d?)$")


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # lparen, rparen, phrase, minus, word, AND, OR, NOT, end
    text: str
    column: int  # 1-based


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
        lexemes.append(_Lexeme(kind, value, m.start() + 1))
    lexemes.append(_Lexeme("end", "", len(text) + 1))
    return lexemes


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexemes = _lex(text)
        self.pos = 0
        self.depth = 0  # the parentheses and NOTs open around the current position

    @property
    def current(self) -> _Lexeme:
        return self.lexemes[self.pos]

    def advance(self) -> _Lexeme:
        lexeme = self.lexemes[self.pos]
        self.pos += 1
        return lexeme

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise QueryError("the query is empty", 1)
        node = self._or()
        if self.current.kind == "rparen":
            raise QueryError("unmatched ')'", self.current.column)
        if self.current.kind != "end":  # pragma: no cover - _and consumes everything else
            raise QueryError(f"unexpected {self.current.text!r}", self.current.column)
        return node

    def _or(self) -> Node:
        children = [self._and()]
        while self.current.kind == "OR":
            self.advance()
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _and(self) -> Node:
        children = [self._unary()]
        while self.current.kind not in ("OR", "rparen", "end"):
            if self.current.kind == "AND":
                self.advance()
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _enter(self, lexeme: _Lexeme) -> None:
        """Open one level of nesting at `lexeme` (a '(' or NOT), or refuse the query."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            shown = "NOT" if lexeme.kind == "NOT" else repr(lexeme.text)
            raise QueryError(f"{shown} is nested more than {MAX_DEPTH} levels deep", lexeme.column)

    def _unary(self) -> Node:
        if self.current.kind in ("NOT", "minus"):
            self._enter(self.advance())
            node = Not(self._unary())
            self.depth -= 1
            return node
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
            return node
        if lexeme.kind == "phrase":
            return _phrase(lexeme.text[1:-1], lexeme.column)
        if lexeme.kind == "word":
            return _word(lexeme.text, lexeme.column)
        if lexeme.kind == "end":
            raise QueryError("the query ends where a word was expected", lexeme.column)
        if lexeme.kind == "rparen":
            raise QueryError("unmatched ')'", lexeme.column)
        raise QueryError(f"{lexeme.text} needs a word on each side", lexeme.column)


def _phrase(text: str, column: int) -> Node:
    words = fold_words(text)
    if not words:
        raise QueryError("a phrase needs at least one word", column)
    return Term(words[0]) if len(words) == 1 else Phrase(tuple(words))


def _word(original: str, column: int) -> Node:
    text = original
    prefix = text.endswith("*")
    fuzz_match = _FUZZ.search(text)
    fuzz = 0
    if prefix:
        text = text[:-1]
    elif fuzz_match:
        text = text[: fuzz_match.start()]
        fuzz = int(fuzz_match.group(1)) if fuzz_match.group(1) else -1  # -1: by word length
    if "*" in text or "~" in text:
        raise QueryError(f"in {original!r}: * and ~ go once, at the end of a word", column)
    words = fold_words(text)
    if not words:
        raise QueryError(f"{original!r} has no letters or digits to match", column)
    if len(words) > 1:
        if prefix or fuzz:
            raise QueryError("* and ~ apply to a single word, not to a phrase", column)
        return Phrase(tuple(words))
    if prefix and len(words[0]) < 2:
        raise QueryError("a prefix needs at least two letters before *", column)
    return Term(words[0], prefix=prefix, fuzz=fuzz)


def parse_query(text: str) -> Node:
    """Parse a query into its syntax tree, or raise QueryError naming the column."""
    return _Parser(text).parse()


def positive_terms(node: Node) -> list[Term | Phrase]:
    """The terms a story must contain for the query to match (outside any NOT)."""
    match node:
        case Term() | Phrase():
            return [node]
        case And(children) | Or(children):
            return [term for child in children for term in positive_terms(child)]
        case Not():
            return []
