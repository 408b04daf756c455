"""The presearcher: rules indexed by the words a story must contain for them to match, so
that a story is evaluated only against the rules it could fire (after Lucene Monitor,
formerly Luwak, and the Elasticsearch percolator).

Each rule is indexed under the tokens of its rarest required clause: an OR under one
required part of every alternative, an AND, NEAR or phrase under its rarest part, a NOT
never. A `prefix*` is indexed under the whole prefix, a `name~` and an `@place` under
their spelling keys, and a word of such a key meets the clause only when
`names.is_spelling_of` says it spells the name (asked once per word: "sort" has Sirte's
key and never meets `Sirte~`). A rule with no required clause that can be indexed
(`Libya OR NOT Egypt`) is evaluated on every story.

"Rarest" is first guessed without corpus statistics: a long word is rarer than a short
one, a function word rarest of nothing, a three-letter prefix or a spelling key broader
than any word. Once the index has seen stories it knows better: it counts the stories
each token met, and refiles every rule under the clause (and every OR under the parts
of its alternatives) that the fewest of them met. A wrong guess only costs speed, never a
match: every candidate is evaluated in full.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain, compress, repeat
from operator import not_

from monitor.rules import names
from monitor.rules.document import Document, spelling_key
from monitor.rules.nodes import FIELDS, And, Near, Node, Not, Or, Phrase, Place, Scope, Term

WORD, START, KEY, SPELL = "word", "start", "key", "spell"
Token = tuple[str, str]  # (WORD | START | KEY | SPELL, value), the kind + TITLED in a title:
# A token of a clause inside `title:`, met only by a word of the title (clause_specs).
TITLED = "@title"
_TITLE = FIELDS.index("title")

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
    if kind.endswith(TITLED):
        # A title is a fraction of a story's words: its clause is rarer than the same anywhere.
        return max(1, _cost((kind.removesuffix(TITLED), value)) - 1)
    if kind == WORD:
        return _word_cost(value)
    if kind == SPELL:
        return sum(map(_cost, _spelling_tokens(_unspell(value)[0])))
    # A prefix or a key stands for many words: broader than a word of the same length.
    return max(8, 36 - 4 * len(value)) if kind == START else max(4, 16 - 2 * len(value))


def _option_cost(tokens: frozenset[Token]) -> int:
    return sum(map(_cost, tokens))


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


# A required clause as the index files it: alternatives, one of which a story must meet
# (one for a word), each given as the token sets it requires every one of; any one of
# them stands for the alternative, the one the fewest stories meet.
Spec = tuple[tuple[frozenset[Token], ...], ...]


def clause_specs(node: Node) -> list[Spec]:
    """The required clauses of `required_clauses`, each OR with its alternatives' choices,
    and the tokens of a clause inside `title:` marked TITLED."""
    match node:
        case Or(children):
            return _or_specs(children)
        case Place():
            return _place_specs(node)
        case And(children):
            return [spec for child in children for spec in clause_specs(child)]
        case Near(left, right):
            return clause_specs(left) + clause_specs(right)
        case Scope(name, child):
            specs = clause_specs(child)
            return [_titled(spec) for spec in specs] if name == FIELDS[_TITLE] else specs
        case Not():
            return []
        case _:
            return [((clause,),) for clause in required_clauses(node)]


def _titled(spec: Spec) -> Spec:
    return tuple(
        tuple(
            frozenset((k if k.endswith(TITLED) else k + TITLED, v) for k, v in option)
            for option in options
        )
        for options in spec
    )


def _or_specs(children: tuple[Node, ...]) -> list[Spec]:
    alternatives: list[tuple[frozenset[Token], ...]] = []
    for child in children:
        # An OR or a place set inside an OR adds its own alternatives (OR is associative),
        # so that each of a place's names is chosen for, not the place as a whole.
        if isinstance(child, Or | Place):
            if not (inner := clause_specs(child)):
                return []
            alternatives.extend(inner[0])
        elif options := tuple(required_clauses(child)):
            alternatives.append(options)
        else:
            return []
    return [tuple(alternatives)]


@lru_cache(maxsize=1 << 12)
def _place_specs(place: Place) -> list[Spec]:
    return _or_specs(place.names)


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
# Stories observed before the rules are first refiled by what the stories met, and the
# count past which the observations are halved: refiling comes at 1,024, 2,048, … stories,
# then every half of _MAX_OBSERVED, older news weighing half as much each time.
_FIRST_REFILE = 1 << 10
_MAX_OBSERVED = 1 << 16

# What a word meets, per word once seen: the rules filed under its atoms (pre-candidates),
# and the atoms some rule checks after its filed clause.
_Entry = tuple[frozenset[int], frozenset[int]]
_NOTHING: _Entry = (frozenset(), frozenset())
# An atom id no token has, which every story is taken to meet: the one "other clause" of a
# rule that has none, so that one test serves every pre-candidate.
_ALWAYS = -1
_MET = frozenset({_ALWAYS})
# After the first refiling, one story in _SAMPLE is observed: counting costs several
# microseconds on every story it is done for (one story in four cost about 6 µs a story on
# average at 10,000 rules, in an A/B), and a sample tells frequencies as well.
_SAMPLE = 16


def _second(option: tuple[frozenset[int], int]) -> int:
    return option[1]


def _halved(counts: Counter[str]) -> Counter[str]:
    return Counter({word: n // 2 for word, n in counts.items() if n > 1})


class RuleIndex:
    """Queries indexed by token: which of them a story could match.

    Every distinct token of a required clause (a word, a prefix, a key, a confirmed
    spelling) is an atom with an id, and a clause is a set of atoms. A rule is filed under
    its rarest clause: first by the static guess (`_cost`), then, once the index has seen
    stories, by how many of them met each of its atoms (`observed`), refiled as the counts
    grow. The rules filed under the atoms a story meets are its pre-candidates; a
    pre-candidate whose other clauses each share an atom with the story is a candidate
    (Luwak's presearch, with the other clauses counted against the story's atoms). A story
    word is turned into its atoms, and the rules filed under them, once, and remembered:
    the same words come back story after story, so a story costs a few set operations in C
    on the words that meet something.
    """

    def __init__(self, queries: Sequence[Node]) -> None:
        atom_ids: dict[Token, int] = {}
        clause_ids: dict[Spec, int] = {}
        self._words: defaultdict[str, list[int]] = defaultdict(list)
        self._keys: defaultdict[str, list[int]] = defaultdict(list)
        self._starts: defaultdict[str, list[int]] = defaultdict(list)
        # key → (atom, name, tolerance): a word of the key meets the spelling only when it
        # spells the name, checked once per word (most words of a key like "trmp" do not).
        self._spells: defaultdict[str, list[tuple[int, str, int | None]]] = defaultdict(list)
        self._titled: set[int] = set()  # the atoms met only by a word of the title
        # Per clause, its alternatives as (atoms, static cost) options, and the tokens of
        # the static choice (the rarest option of each alternative, by `_cost`).
        self._specs: list[tuple[tuple[tuple[frozenset[int], int], ...], ...]] = []
        self._clause_cost: list[int] = []
        self._rule_clauses: list[tuple[int, ...]] = []
        for query in queries:
            ids: dict[int, None] = {}
            for spec in clause_specs(query):
                if spec not in clause_ids:
                    clause_ids[spec] = len(self._specs)
                    self._specs.append(
                        tuple(
                            tuple(
                                (frozenset(self._atom(t, atom_ids) for t in o), sum(map(_cost, o)))
                                for o in options
                            )
                            for options in spec
                        )
                    )
                    static = frozenset().union(*(min(o, key=_option_cost) for o in spec))
                    self._clause_cost.append(sum(map(_cost, static)))
                ids[clause_ids[spec]] = None
            self._rule_clauses.append(tuple(ids))
        self._tokens = atom_ids
        # A word starts with prefix p exactly when its first len(p) letters are p: one
        # look-up per indexed prefix length, not one per prefix.
        self._prefix_lengths = tuple(sorted({len(p) for p in self._starts}))
        self._needs_key = bool(self._keys or self._spells)
        # Every key evaluation may ask a story about; a story's key map holds only these.
        self.asked_keys: frozenset[str] = frozenset().union(*map(asked_keys, queries))
        # Every word seen: a set, not a dict of what each meets, because the set difference
        # each story takes with it touches a third less memory (measured 2-3x faster).
        self._seen: set[str] = set()
        self._atomic: dict[str, frozenset[int]] = {}  # the words that meet an atom → those
        self._met_by: dict[str, _Entry] = {}  # the words some rule needs → their entry
        self._title_met_by: dict[str, _Entry] = {}  # the same, for their titled atoms
        self._key_of: dict[str, str] = {}  # words whose key some rule asks about → the key
        # How many observed stories had each word that meets an atom, and how many stories.
        self._counts: Counter[str] = Counter()
        self._title_counts: Counter[str] = Counter()  # the same, in the title
        self.observed = 0
        self._next_refile = _FIRST_REFILE
        self._stories = 0
        self._sample = 1  # observe every story until the first refiling, then one in _SAMPLE
        self._file(None)

    def _atom(self, token: Token, atom_ids: dict[Token, int]) -> int:
        """The id of a token, entered in the look-up tables the first time."""
        atom = atom_ids.get(token)
        if atom is None:
            atom = atom_ids[token] = len(atom_ids)
            kind, value = token
            if kind.endswith(TITLED):
                kind = kind.removesuffix(TITLED)
                self._titled.add(atom)
            if kind == SPELL:
                name, tolerance = _unspell(value)
                spelled, exact = names.spelling_index(name)
                for key in spelled:
                    self._spells[key].append((atom, name, tolerance))
                for word in exact:
                    self._words[word].append(atom)
            else:
                table = self._words if kind == WORD else self._keys if kind == KEY else self._starts
                table[value].append(atom)
        return atom

    def _file(self, met: Sequence[int] | None) -> None:
        """File every rule under its rarest clause: the one whose atoms the fewest observed
        stories met (`met`, per atom), the static guess breaking ties and standing in
        before any story is observed. The other clauses are checked rarest first."""
        cost = self._clause_cost
        if met is None:
            self._clause_atoms = [
                frozenset().union(*(min(alt, key=_second)[0] for alt in spec))
                for spec in self._specs
            ]
            # Only a clause with an alternative of several parts has a choice to redo.
            self._choices = [
                c for c, spec in enumerate(self._specs) if any(len(alt) > 1 for alt in spec)
            ]
            rank = cost
        else:
            count = met.__getitem__
            for c in self._choices:
                self._clause_atoms[c] = frozenset().union(
                    *(
                        alt[0][0]
                        if len(alt) == 1
                        else min(alt, key=lambda o: (sum(map(count, o[0])), o[1]))[0]
                        for alt in self._specs[c]
                    )
                )
            rank = [sum(map(count, atoms)) for atoms in self._clause_atoms]
        clause_atoms = self._clause_atoms
        filed: defaultdict[int, list[int]] = defaultdict(list)
        always: list[int] = []
        self._filed: list[int] = []  # rule → its filed clause (-1: none, checked always)
        # rule → the atoms of its rarest other clause, one of which the story must meet
        # (_MET, which every story meets, for a rule with no other clause)
        self._need: list[frozenset[int]] = []
        self._rest: dict[int, tuple[frozenset[int], ...]] = {}  # rule → its further clauses'
        for i, clauses in enumerate(self._rule_clauses):
            if not clauses:
                always.append(i)
                self._filed.append(-1)
                self._need.append(_MET)
                continue
            ordered = sorted(clauses, key=lambda c: (rank[c], cost[c], c))
            self._filed.append(ordered[0])
            for atom in clause_atoms[ordered[0]]:
                filed[atom].append(i)
            self._need.append(clause_atoms[ordered[1]] if len(ordered) > 1 else _MET)
            if len(ordered) > 2:
                self._rest[i] = tuple(clause_atoms[c] for c in ordered[2:])
        self.always = tuple(always)
        self._by_atom = dict(filed)
        # Only atoms some rule checks after its filed clause need remembering per word: the
        # sets a story unions stay small when most atoms are only ever filed under.
        further = (c for clauses in self._rest.values() for c in clauses)
        self._checked_atoms = _MET.union(*self._need, *further) - _MET
        self._met_by, self._title_met_by = {}, {}
        for word, atoms in self._atomic.items():
            self._enter(word, atoms)

    def _enter(self, word: str, atoms: frozenset[int]) -> None:
        """Remember what `word` (meeting `atoms`) brings a story, anywhere and in a title."""
        titled = self._titled
        if (entry := self._entry(atoms.difference(titled))) != _NOTHING:
            self._met_by[word] = entry
        if titled and (entry := self._entry(atoms.intersection(titled))) != _NOTHING:
            self._title_met_by[word] = entry

    def _entry(self, atoms: frozenset[int]) -> _Entry:
        return (
            frozenset(chain.from_iterable(map(self._by_atom.get, atoms, repeat(())))),
            self._checked_atoms.intersection(atoms),
        )

    def _atoms_of(self, word: str, key: str) -> frozenset[int]:
        """The atoms `word` (whose spelling key is `key`) meets."""
        met = list(self._words.get(word, ()))
        if self._keys:
            met.extend(self._keys.get(key, ()))
        for atom, name, tolerance in self._spells.get(key, ()):
            if names.is_spelling_of(name, word, tolerance):
                met.append(atom)
        for n in self._prefix_lengths:
            if len(word) < n:
                break
            met.extend(self._starts.get(word[:n], ()))
        return frozenset(met)

    def _learn(self, new: frozenset[str], vocabulary: frozenset[str]) -> None:
        """Remember what each word of `new` (the words of `vocabulary` not seen before) meets."""
        if len(self._seen) + len(new) > _MAX_WORDS:
            self._seen.clear()
            self._atomic.clear()
            self._met_by.clear()
            self._title_met_by.clear()
            self._key_of.clear()
            new = vocabulary
        self._seen.update(new)
        asked = self.asked_keys
        needs_key = bool(asked) or self._needs_key
        for word in new:
            key = spelling_key(word) if needs_key else ""
            if key in asked:
                self._key_of[word] = key
            atoms = self._atoms_of(word, key)
            if atoms:
                self._atomic[word] = atoms
                self._enter(word, atoms)

    def _refile(self) -> None:
        """File the rules again by the atoms the observed stories met."""
        if self.observed >= _MAX_OBSERVED:
            # Older news weighs half: what a desk's stories meet drifts with the news.
            self._counts = _halved(self._counts)
            self._title_counts = _halved(self._title_counts)
            self.observed //= 2
        self._next_refile = min(2 * self.observed, _MAX_OBSERVED)
        self._sample = _SAMPLE
        met = [0] * len(self._tokens)
        titled = self._titled
        for counts, in_title in ((self._counts, False), (self._title_counts, True)):
            for word, n in counts.items():
                atoms = self._atomic.get(word)
                if atoms is None:  # forgotten since (the memory bound): found again
                    atoms = self._atoms_of(word, spelling_key(word) if self._needs_key else "")
                for atom in atoms.intersection(titled) if in_title else atoms.difference(titled):
                    met[atom] += n
        self._file(met)

    def candidates(self, doc: Document) -> list[int]:
        """The positions of the queries the story could match, in order."""
        vocabulary = doc.vocabulary
        if new := vocabulary.difference(self._seen):
            self._learn(new, vocabulary)
        self._stories += 1
        if self._stories % self._sample == 0:
            self._counts.update(self._atomic.keys() & vocabulary)
            if self._titled:
                self._title_counts.update(self._atomic.keys() & doc.fields[_TITLE].word_set)
            self.observed += 1
            if self.observed >= self._next_refile:
                self._refile()
        met_by = self._met_by
        entries = list(map(met_by.__getitem__, met_by.keys() & vocabulary))
        if titled := self._title_met_by:
            # The title's word list, not its set: a few words, and no set to build.
            title = doc.fields[_TITLE].words
            entries.extend(map(titled.__getitem__, titled.keys() & title))
        if not entries:
            return list(self.always)
        # Every step a set operation or a map in C: no Python loop over rules or atoms.
        filed, atoms = zip(*entries, strict=True)
        pending = set().union(*filed)
        met = set().union(*atoms)
        met.add(_ALWAYS)
        need = self._need
        found = list(
            compress(pending, map(not_, map(met.isdisjoint, map(need.__getitem__, pending))))
        )
        if rest := self._rest:
            found = [i for i in found if i not in rest or not any(map(met.isdisjoint, rest[i]))]
        return sorted(found + list(self.always) if self.always else found)

    def filed(self, position: int) -> frozenset[Token] | None:
        """The clause the query at `position` is filed under now, as tokens, or None."""
        clause = self._filed[position]
        if clause < 0:
            return None
        tokens = {atom: token for token, atom in self._tokens.items()}
        return frozenset(tokens[a] for a in self._clause_atoms[clause])

    def keyed(self, doc: Document) -> dict[str, list[str]]:
        """The story's key map as far as the rules ask (`Document.keyed`), from memory:
        call after `candidates` has seen the story."""
        key_of = self._key_of
        found: dict[str, list[str]] = {}
        for word in key_of.keys() & doc.vocabulary:
            found.setdefault(key_of[word], []).append(word)
        return found
