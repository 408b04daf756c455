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
    # A prefix or a key stands for many words: broader than the word it came from.
    return 20 if kind == START else max(4, 16 - 2 * len(value))


def _rarest_word(words: tuple[str, ...]) -> str:
    return min(words, key=_word_cost)


def index_tokens(node: Node) -> frozenset[Token] | None:
    """The tokens a story must contain one of for the query to match it, or None when
    no such set can be named (the rule must be checked on every story)."""
    match node:
        case Term(word, prefix=True):
            return frozenset({(START, word[:3])})
        case Term(word, spelling=True, variants=variants):
            keys = {(KEY, k) for k in _spelling_keys(word)}
            return frozenset(keys | {(WORD, _rarest_word(v)) for v in variants})
        case Term(word):
            return frozenset({(WORD, word)})
        case Phrase(words, spelling):
            rarest = _rarest_word(words)
            if spelling:
                return frozenset((KEY, k) for k in _spelling_keys(rarest))
            return frozenset({(WORD, rarest)})
        case Or(children) | Place(_, children):
            tokens: set[Token] = set()
            for child in children:
                found = index_tokens(child)
                if found is None:
                    return None
                tokens |= found
            return frozenset(tokens)
        case And(children):
            return _rarest(children)
        case Near(left, right):
            return _rarest((left, right))
        case Scope(_, child):
            return index_tokens(child)
        case Not():
            return None


def _rarest(children: Sequence[Node]) -> frozenset[Token] | None:
    """The token set of the required clause a story is least likely to contain."""
    options = [t for t in map(index_tokens, children) if t is not None]
    if not options:
        return None
    return min(options, key=lambda tokens: sum(map(_cost, tokens)))


class RuleIndex:
    """Queries indexed by token: which of them a story could match."""

    def __init__(self, queries: Sequence[Node]) -> None:
        index: dict[str, defaultdict[str, list[int]]] = {
            kind: defaultdict(list) for kind in (WORD, START, KEY)
        }
        always: list[int] = []
        for i, query in enumerate(queries):
            tokens = index_tokens(query)
            if tokens is None:
                always.append(i)
                continue
            for kind, value in tokens:
                index[kind][value].append(i)
        self.always = tuple(always)
        self._words = dict(index[WORD])
        self._starts = dict(index[START])
        self._keys = dict(index[KEY])

    def candidates(self, doc: Document) -> list[int]:
        """The positions of the queries the story could match, in order."""
        found = set(self.always)
        vocabulary = doc.vocabulary
        words, starts, keys = self._words, self._starts, self._keys
        for word in vocabulary & words.keys():
            found.update(words[word])
        if starts:
            for start in {w[:3] for w in vocabulary} & starts.keys():
                found.update(starts[start])
        if keys:
            for word in vocabulary:
                ids = keys.get(spelling_key(word))
                if ids:
                    found.update(ids)
        return sorted(found)
