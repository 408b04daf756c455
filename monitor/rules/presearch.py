"""The presearcher: rules indexed by the words a story must contain for them to match, so
that a story is evaluated only against the rules it could fire (after Lucene Monitor,
formerly Luwak, and the Elasticsearch percolator).

Each rule is indexed under the tokens of its rarest required clause: an OR under every
alternative, an AND, NEAR or phrase under its rarest part, a NOT never. A `prefix*` is
indexed under its first three letters, a `name~` and an `@place` under their spelling
keys. A rule with no required clause that can be indexed (`Libya OR NOT Egypt`) is
evaluated on every story.

"Rarest" is guessed without corpus statistics: a long word is rarer than a short one, a
function word rarest of nothing, a three-letter prefix or a spelling key broader than
any word. The guess only costs speed when wrong, never a match: every candidate is
evaluated in full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

from monitor.rules import names
from monitor.rules.document import Document, spelling_key
from monitor.rules.nodes import And, Near, Node, Not, Or, Phrase, Place, Scope, Term

WORD, START, KEY = "word", "start", "key"
Token = tuple[str, str]  # (WORD | START | KEY, value)

# Words so common in news that a clause of them is a poor index (checked before length).
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "says",
        "that",
        "the",
        "to",
        "was",
        "were",
        "will",
        "with",
        "after",
        "over",
        "new",
        "not",
        "no",
        "more",
        "than",
        "us",
        "uk",
        "up",
    ]
)

_spelling_keys = lru_cache(maxsize=1 << 12)(names.spelling_keys)


def _word_cost(word: str) -> int:
    return 40 if word in _FUNCTION_WORDS else max(1, 12 - len(word))


def _cost(token: Token) -> int:
    kind, value = token
    if kind == WORD:
        return _word_cost(value)
    # A prefix or a key stands for many words: broader than a word of the same length.
    return max(8, 36 - 4 * len(value)) if kind == START else max(4, 16 - 2 * len(value))


def _rarest_word(words: tuple[str, ...]) -> str:
    return min(words, key=_word_cost)


def index_tokens(node: Node) -> frozenset[Token] | None:
    """The tokens a story must contain one of for the query to match it, or None when
    no such set can be named (the rule must be checked on every story)."""
    return _rarest(required_clauses(node))


def required_clauses(node: Node) -> list[frozenset[Token]]:
    """Token sets a story must meet each of (one token of every set) to match the query."""
    match node:
        case Term(word, prefix=True):
            return [frozenset({(START, word)})]
        case Term(word, spelling=True, variants=variants):
            keys = {(KEY, k) for k in _spelling_keys(word)}
            return [frozenset(keys | {(WORD, _rarest_word(v)) for v in variants})]
        case Term(word):
            return [frozenset({(WORD, word)})]
        case Phrase(words, spelling=True):
            return [frozenset((KEY, k) for k in _spelling_keys(w)) for w in words]
        case Phrase(words):
            return [frozenset({(WORD, w)}) for w in words]
        case Or(children) | Place(_, children):
            tokens: set[Token] = set()
            for child in children:
                # An alternative is met through any one of its required clauses' tokens;
                # the rarest is enough, and one alternative with none leaves the OR none.
                found = _rarest(required_clauses(child))
                if found is None:
                    return []
                tokens |= found
            return [frozenset(tokens)]
        case And(children):
            return [clause for child in children for clause in required_clauses(child)]
        case Near(left, right):
            return required_clauses(left) + required_clauses(right)
        case Scope(_, child):
            return required_clauses(child)
        case Not():
            return []


def _rarest(clauses: Sequence[frozenset[Token]]) -> frozenset[Token] | None:
    """The clause a story is least likely to meet, or None when there is none."""
    if not clauses:
        return None
    return min(clauses, key=lambda tokens: sum(map(_cost, tokens)))


class _StoryTokens:
    """What the presearcher reads of a story: its words, their keys and first letters."""

    def __init__(self, doc: Document, with_keys: bool) -> None:
        self.words = doc.vocabulary
        self.keys = frozenset(map(spelling_key, self.words)) if with_keys else frozenset()
        starts: dict[str, list[str]] = {}
        for word in self.words:
            starts.setdefault(word[:3], []).append(word)
        self.starts = starts

    def has_prefix(self, prefix: str) -> bool:
        return any(w.startswith(prefix) for w in self.starts.get(prefix[:3], ()))

    def meets(self, clause: _Clause) -> bool:
        words, keys, prefixes = clause
        return (
            not words.isdisjoint(self.words)
            or not keys.isdisjoint(self.keys)
            or any(map(self.has_prefix, prefixes))
        )


# One required clause split by kind: (words, keys, prefixes), for set tests on a story.
_Clause = tuple[frozenset[str], frozenset[str], tuple[str, ...]]


def _split(tokens: frozenset[Token]) -> _Clause:
    return (
        frozenset(v for k, v in tokens if k == WORD),
        frozenset(v for k, v in tokens if k == KEY),
        tuple(v for k, v in tokens if k == START),
    )


class RuleIndex:
    """Queries indexed by token: which of them a story could match.

    A rule is filed under the tokens of its rarest required clause; a story's words,
    keys and prefixes pick the rules filed under them, and each of those must then meet
    every other required clause before it is evaluated (Luwak's presearch, then a
    cheap filter of token sets in place of a second index).
    """

    def __init__(self, queries: Sequence[Node]) -> None:
        words: defaultdict[str, list[int]] = defaultdict(list)
        keys: defaultdict[str, list[int]] = defaultdict(list)
        # A prefix is filed under its first three letters, beside the whole prefix: one
        # look-up per story word finds the bucket, and the prefix is then checked.
        starts: defaultdict[str, defaultdict[str, list[int]]] = defaultdict(
            lambda: defaultdict(list)
        )
        always: list[int] = []
        self._clauses: list[tuple[_Clause, ...]] = []
        for i, query in enumerate(queries):
            clauses = required_clauses(query)
            tokens = _rarest(clauses)
            # The filed clause is met by construction; the others are checked per story.
            self._clauses.append(tuple(_split(c) for c in clauses if c is not tokens))
            if tokens is None:
                always.append(i)
                continue
            for kind, value in tokens:
                if kind == START:
                    starts[value[:3]][value].append(i)
                else:
                    (words if kind == WORD else keys)[value].append(i)
        self.always = tuple(always)
        self._words, self._keys = dict(words), dict(keys)
        self._starts = {k: tuple(v.items()) for k, v in starts.items()}
        self._with_keys = bool(keys) or any(c[1] for cs in self._clauses for c in cs)

    def candidates(self, doc: Document) -> list[int]:
        """The positions of the queries the story could match, in order."""
        story = _StoryTokens(doc, self._with_keys)
        found = set(self.always)
        for word in story.words & self._words.keys():
            found.update(self._words[word])
        for start in story.starts.keys() & self._starts.keys():
            for prefix, ids in self._starts[start]:
                if story.has_prefix(prefix):
                    found.update(ids)
        for key in story.keys & self._keys.keys():
            found.update(self._keys[key])
        clauses, meets = self._clauses, story.meets
        return sorted(i for i in found if all(map(meets, clauses[i])))
