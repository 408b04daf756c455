"""The presearcher: rules indexed by the words a story must contain for them to match, so
that a story is evaluated only against the rules it could fire (after Lucene Monitor,
formerly Luwak, and the Elasticsearch percolator).

Each rule is indexed under the tokens of its rarest required clause: an OR under every
alternative, an AND, NEAR or phrase under its rarest part, a NOT never. A `prefix*` is
indexed under the whole prefix, a `name~` and an `@place` under their spelling
keys, and a word of such a key meets the clause only when `names.is_spelling_of` says it
spells the name (asked once per word: "sort" has Sirte's key and never meets `Sirte~`).
A rule with no required clause that can be indexed (`Libya OR NOT Egypt`) is evaluated
on every story.

"Rarest" is guessed without corpus statistics: a long word is rarer than a short one, a
function word rarest of nothing, a three-letter prefix or a spelling key broader than
any word. The guess only costs speed when wrong, never a match: every candidate is
evaluated in full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from itertools import compress

from monitor.rules import names
from monitor.rules.document import Document, spelling_key
from monitor.rules.nodes import And, Near, Node, Not, Or, Phrase, Place, Scope, Term

WORD, START, KEY, SPELL = "word", "start", "key", "spell"
Token = tuple[str, str]  # (WORD | START | KEY | SPELL, value)

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


def _spelling_tokens(name: str) -> frozenset[Token]:
    """The tokens one of which a story word `name~` accepts has (names.spelling_index)."""
    keys, words = names.spelling_index(name)
    return frozenset({(KEY, k) for k in keys} | {(WORD, w) for w in words})


def _spell(name: str, tolerance: int | None) -> Token:
    """The token of a word that `name~` (or `name~tolerance`) accepts: met by the words
    that `names.is_spelling_of` confirms, not by every word of one of the name's keys."""
    return (SPELL, f"{name}~{'' if tolerance is None else tolerance}")


def _unspell(value: str) -> tuple[str, int | None]:
    name, _, tolerance = value.rpartition("~")
    return name, int(tolerance) if tolerance else None


def _loose(tokens: frozenset[Token]) -> frozenset[Token]:
    """The tokens with each SPELL as the words and keys a spelling has one of."""
    if all(kind != SPELL for kind, _ in tokens):
        return tokens
    found: set[Token] = set()
    for kind, value in tokens:
        found |= _spelling_tokens(_unspell(value)[0]) if kind == SPELL else {(kind, value)}
    return frozenset(found)


def _word_cost(word: str) -> int:
    return 40 if word in _FUNCTION_WORDS else max(1, 12 - len(word))


def _cost(token: Token) -> int:
    kind, value = token
    if kind == WORD:
        return _word_cost(value)
    if kind == SPELL:
        return sum(map(_cost, _spelling_tokens(_unspell(value)[0])))
    # A prefix or a key stands for many words: broader than a word of the same length.
    return max(8, 36 - 4 * len(value)) if kind == START else max(4, 16 - 2 * len(value))


def _rarest_word(words: tuple[str, ...]) -> str:
    return min(words, key=_word_cost)


def index_tokens(node: Node) -> frozenset[Token] | None:
    """The tokens a story must contain one of for the query to match it, or None when
    no such set can be named (the rule must be checked on every story). A spelling is
    given as the words and keys one of which it has."""
    found = _rarest(required_clauses(node))
    return None if found is None else _loose(found)


def required_clauses(node: Node) -> list[frozenset[Token]]:
    """Token sets a story must meet each of (one token of every set) to match the query."""
    match node:
        case Term(word, prefix=True):
            return [frozenset({(START, word)})]
        case Term(word, spelling=True, tolerance=tolerance, variants=variants):
            listed = {(WORD, _rarest_word(v)) for v in variants}
            return [frozenset({_spell(word, tolerance), *listed})]
        case Term(word):
            return [frozenset({(WORD, word)})]
        case Phrase(words, spelling=True):
            return [frozenset({_spell(w, None)}) for w in words]
        case Phrase(words):
            return [frozenset({(WORD, w)}) for w in words]
        case Place():
            return _place_clauses(node)
        case Or(children):
            return _or_clauses(children)
        case And(children):
            return [clause for child in children for clause in required_clauses(child)]
        case Near(left, right):
            return required_clauses(left) + required_clauses(right)
        case Scope(_, child):
            return required_clauses(child)
        case Not():
            return []


def _or_clauses(children: tuple[Node, ...]) -> list[frozenset[Token]]:
    tokens: set[Token] = set()
    for child in children:
        # An alternative is met through any one of its required clauses' tokens; the
        # rarest is enough, and one alternative with none leaves the OR none.
        found = _rarest(required_clauses(child))
        if found is None:
            return []
        tokens |= found
    return [frozenset(tokens)]


@lru_cache(maxsize=1 << 12)
def _place_clauses(place: Place) -> list[frozenset[Token]]:
    # A place set stands in many rules, with many names each: worked out once.
    return _or_clauses(place.names)


def asked_keys(node: Node) -> frozenset[str]:
    """Every spelling key evaluating the query may look a story word up by, NOT parts
    included: the keys a story's key map (`Document.keyed`) must hold for it."""
    match node:
        case Term(word, spelling=True):
            return names.spelling_index(word)[0]
        case Phrase(words, spelling=True):
            return frozenset().union(*(names.spelling_index(w)[0] for w in words))
        case Term() | Phrase():
            return frozenset()
        case Place():
            return _place_keys(node)
        case And(children) | Or(children):
            return frozenset().union(*map(asked_keys, children))
        case Not(child) | Scope(_, child):
            return asked_keys(child)
        case Near(left, right):
            return asked_keys(left) | asked_keys(right)


@lru_cache(maxsize=1 << 12)
def _place_keys(place: Place) -> frozenset[str]:
    return frozenset().union(*map(asked_keys, place.names))


def _rarest(clauses: Sequence[frozenset[Token]]) -> frozenset[Token] | None:
    """The clause a story is least likely to meet, or None when there is none."""
    if not clauses:
        return None
    return min(clauses, key=lambda tokens: sum(map(_cost, tokens)))


# Words seen by one index before its memory of them is dropped: news vocabulary is mostly
# the same words day after day, but numbers, typos and names keep coming.
_MAX_WORDS = 1 << 17


class RuleIndex:
    """Queries indexed by token: which of them a story could match.

    Every distinct required clause gets an id, and each token (word, spelling key,
    prefix) names the clauses it meets. A story word is turned into the clause ids it
    meets once, and remembered: the same words come back story after story, so a story
    costs a few set operations on its vocabulary rather than a key and prefixes per word.
    A rule is filed under its rarest clause; the rules filed under the met clauses are
    the pre-candidates, and a pre-candidate whose other clauses are all met is a
    candidate (Luwak's presearch, with clause ids counted against the story instead of a
    second index).
    """

    def __init__(self, queries: Sequence[Node]) -> None:
        ids: dict[frozenset[Token], int] = {}
        words: defaultdict[str, list[int]] = defaultdict(list)
        keys: defaultdict[str, list[int]] = defaultdict(list)
        starts: defaultdict[str, list[int]] = defaultdict(list)
        # key → (clause, name, tolerance): a word of the key meets the clause only when it
        # spells the name, checked once per word (most words of a key like "trmp" do not).
        spells: defaultdict[str, list[tuple[int, str, int | None]]] = defaultdict(list)
        filed: defaultdict[int, list[int]] = defaultdict(list)
        always: list[int] = []
        self._others: list[frozenset[int]] = []
        for i, query in enumerate(queries):
            clauses = required_clauses(query)
            tokens = _rarest(clauses)
            for clause in clauses:
                if clause not in ids:
                    ids[clause] = len(ids)
                    for kind, value in clause:
                        if kind == SPELL:
                            name, tolerance = _unspell(value)
                            spelled, exact = names.spelling_index(name)
                            for key in spelled:
                                spells[key].append((ids[clause], name, tolerance))
                            for word in exact:
                                words[word].append(ids[clause])
                            continue
                        table = words if kind == WORD else keys if kind == KEY else starts
                        table[value].append(ids[clause])
            # The filed clause is met by construction; the others are checked per story.
            self._others.append(frozenset(ids[c] for c in clauses if c is not tokens))
            if tokens is None:
                always.append(i)
            else:
                filed[ids[tokens]].append(i)
        self.always = tuple(always)
        self._filed = {c: tuple(rules) for c, rules in filed.items()}
        self._words, self._keys, self._starts = dict(words), dict(keys), dict(starts)
        self._spells = dict(spells)
        # A word starts with prefix p exactly when its first len(p) letters are p: one
        # look-up per indexed prefix length, not one per prefix.
        self._prefix_lengths = tuple(sorted({len(p) for p in starts}))
        # Only clauses some rule checks after its filed one need remembering per word: the
        # sets a story unions stay small when most clauses are only ever filed.
        self._checked: frozenset[int] = frozenset().union(*self._others)
        # Every key evaluation may ask a story about; a story's key map holds only these.
        self.asked_keys: frozenset[str] = frozenset().union(*map(asked_keys, queries))
        # Per word once seen: the clauses it meets, the rules filed under them that are
        # candidates outright (no other clause), and those that have others to check.
        self._met_by: dict[str, tuple[frozenset[int], frozenset[int], frozenset[int]]] = {}
        self._key_of: dict[str, str] = {}  # words whose key some rule asks about → the key
        self._seen: set[str] = set()  # every word looked at, meeting a clause or not

    def _met(self, word: str, key: str) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
        met = list(self._words.get(word, ()))
        if self._keys:
            met.extend(self._keys.get(key, ()))
        for clause, name, tolerance in self._spells.get(key, ()):
            if names.is_spelling_of(name, word, tolerance):
                met.append(clause)
        for n in self._prefix_lengths:
            if len(word) < n:
                break
            met.extend(self._starts.get(word[:n], ()))
        filed, others = self._filed, self._others
        rules = [i for c in met if c in filed for i in filed[c]]
        return (
            frozenset(self._checked.intersection(met)),
            frozenset(i for i in rules if not others[i]),
            frozenset(i for i in rules if others[i]),
        )

    def _learn(self, vocabulary: frozenset[str]) -> None:
        """Remember what each word of `vocabulary` not seen before meets."""
        new = vocabulary.difference(self._seen)
        if not new:
            return
        if len(self._seen) + len(new) > _MAX_WORDS:
            self._seen.clear()
            self._met_by.clear()
            self._key_of.clear()
            new = vocabulary
        self._seen.update(new)
        asked = self.asked_keys
        needs_key = bool(asked or self._keys or self._spells)
        for word in new:
            key = spelling_key(word) if needs_key else ""
            if key in asked:
                self._key_of[word] = key
            met = self._met(word, key)
            if met[0] or met[1] or met[2]:
                self._met_by[word] = met

    def candidates(self, doc: Document) -> list[int]:
        """The positions of the queries the story could match, in order."""
        vocabulary = doc.vocabulary
        self._learn(vocabulary)
        met_by = self._met_by
        if not (hits := list(map(met_by.__getitem__, met_by.keys() & vocabulary))):
            return list(self.always)
        # Every step a set operation or a map in C: no Python loop over rules or clauses.
        met, outright, checked = zip(*hits, strict=True)
        found: set[int] = set(self.always).union(*outright)
        if checking := list(set().union(*checked)):
            clauses = set().union(*met)
            pending = map(self._others.__getitem__, checking)
            found.update(compress(checking, map(clauses.issuperset, pending)))
        return sorted(found)

    def keyed(self, doc: Document) -> dict[str, list[str]]:
        """The story's key map as far as the rules ask (`Document.keyed`), from memory:
        call after `candidates` has seen the story."""
        key_of = self._key_of
        found: dict[str, list[str]] = {}
        for word in key_of.keys() & doc.vocabulary:
            found.setdefault(key_of[word], []).append(word)
        return found
