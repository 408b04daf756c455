"""Matching: stories against compiled watch rules → matches with the words that fired. Pure.

A story is indexed once (folded word → positions) and every rule's syntax tree is
evaluated against that index. Each hit remembers its span so the alert can say which
words matched, spelled as the story spells them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from monitor.models import Match, Story
from monitor.query import And, Node, Not, Or, Phrase, Term
from monitor.text import tokenize

Span = tuple[int, int]  # first and last token index, inclusive


@dataclass(frozen=True)
class Rule:
    """A watch rule ready to match: its id, a human name, the parsed query and its channels."""

    id: str
    name: str
    query: Node
    channels: tuple[str, ...] = ()
    severity: str = "normal"


def fuzz_budget(term: Term) -> int:
    """How many edits a `word~` term allows: by word length unless the query set it."""
    if term.fuzz >= 0:
        return term.fuzz
    length = len(term.word)
    return 0 if length <= 4 else 1 if length <= 8 else 2


class IndexedText:
    """A text split into folded words, with a lookup from word to its positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        positions: defaultdict[str, list[int]] = defaultdict(list)
        for i, token in enumerate(self.tokens):
            positions[token.folded].append(i)
        self.positions: dict[str, list[int]] = dict(positions)

    @cached_property
    def vocabulary(self) -> list[str]:
        """The distinct words, built once per story and only if a `word~` term asks."""
        return list(self.positions)

    def surface(self, span: Span) -> str:
        """The words of a span as the text spells them."""
        return self.text[self.tokens[span[0]].start : self.tokens[span[1]].end]

    def term_positions(self, term: Term) -> list[int]:
        if term.prefix:
            return [
                p for word, ps in self.positions.items() if word.startswith(term.word) for p in ps
            ]
        budget = fuzz_budget(term)
        if budget == 0:
            return self.positions.get(term.word, [])
        near = process.extract(
            term.word,
            self.vocabulary,
            scorer=Levenshtein.distance,
            score_cutoff=budget,
            limit=None,
        )
        return [p for word, _, _ in near for p in self.positions[word]]

    def phrase_starts(self, phrase: Phrase) -> list[int]:
        first, rest = phrase.words[0], phrase.words[1:]
        return [
            p
            for p in self.positions.get(first, [])
            if p + len(rest) < len(self.tokens)
            and all(self.tokens[p + 1 + i].folded == word for i, word in enumerate(rest))
        ]


def evaluate(node: Node, doc: IndexedText) -> tuple[bool, list[Span]]:
    """Whether the query matches the text, and the spans of the words that made it match."""
    match node:
        case Term():
            return _hits([(p, p) for p in doc.term_positions(node)])
        case Phrase():
            n = len(node.words) - 1
            return _hits([(p, p + n) for p in doc.phrase_starts(node)])
        case And(children):
            spans: list[Span] = []
            for child in children:
                ok, child_spans = evaluate(child, doc)
                if not ok:
                    return False, []
                spans.extend(child_spans)
            return True, spans
        case Or(children):
            results = [evaluate(child, doc) for child in children]
            return any(ok for ok, _ in results), [s for ok, ss in results if ok for s in ss]
        case Not(child):
            return not evaluate(child, doc)[0], []


def _hits(spans: list[Span]) -> tuple[bool, list[Span]]:
    return bool(spans), spans


def matched_terms(doc: IndexedText, spans: list[Span]) -> tuple[str, ...]:
    """The matched words in the order they first appear, each spelling once; a word that
    only matched inside a longer matched phrase ("arms" in "arms embargo") is not repeated."""
    seen: dict[str, str] = {}
    reach = -1  # the furthest token a longer span starting at or before this one covers
    for span in sorted(set(spans), key=lambda s: (s[0], -s[1])):
        if span[1] <= reach:
            continue
        reach = span[1]
        word = doc.surface(span).replace("\n", " ")
        seen.setdefault(word.casefold(), word)
    return tuple(seen.values())


class Matcher:
    """Matches stories against a fixed set of rules."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def match(self, story: Story) -> list[Match]:
        """Every rule that fires on the story, with its matched words."""
        doc = IndexedText(story.text)
        matches = []
        for rule in self.rules:
            ok, spans = evaluate(rule.query, doc)
            if ok:
                matches.append(Match(rule.id, rule.name, matched_terms(doc, spans), rule.channels))
        return matches
