"""The presearcher: which rules a story is evaluated against, and the property that
presearching never changes a result (real stories, real-looking rules)."""

from __future__ import annotations

import json
import lzma
from pathlib import Path
from types import ModuleType

import pytest
from ruamel.yaml import YAML

from monitor.config import load_config
from monitor.models import Story
from monitor.rules import Matcher, Rule, parse_query, presearch
from monitor.rules.document import Document
from monitor.rules.evaluate import evaluate
from monitor.rules.places import PlaceNames
from monitor.rules.presearch import WORD, index_tokens, required_clauses
from tests.conftest import ROOT


def tokens(query: str) -> set[tuple[str, str]] | None:
    found = index_tokens(parse_query(query).node)
    return None if found is None else set(found)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("Libya", {(WORD, "libya")}, id="word"),
        pytest.param("Libya OR Tripoli", {(WORD, "libya"), (WORD, "tripoli")}, id="or-every-one"),
        pytest.param("Libya AND ceasefire", {(WORD, "ceasefire")}, id="and-the-longer-word"),
        pytest.param('"arms embargo"', {(WORD, "embargo")}, id="phrase-its-rarest-word"),
        pytest.param('"the embargo" Libya', {(WORD, "embargo")}, id="never-a-function-word"),
        pytest.param("Haftar NEAR/3 Sirte", {(WORD, "haftar")}, id="near-one-side"),
        pytest.param("violat*", {("start", "violat")}, id="prefix"),
        pytest.param("Libya NOT Egypt", {(WORD, "libya")}, id="not-never-indexed"),
        pytest.param("title:(Misrata)", {(WORD, "misrata")}, id="scope-as-its-child"),
        pytest.param("Libya OR NOT Egypt", None, id="unindexable"),
    ],
)
def test_a_rule_is_indexed_under_its_rarest_required_clause(
    query: str, expected: set[tuple[str, str]] | None
) -> None:
    assert tokens(query) == expected


def test_a_tilde_term_is_indexed_under_its_spelling_keys_and_curated_words() -> None:
    found = tokens("Abugrein~")
    assert found is not None
    assert {kind for kind, _ in found} == {"key", WORD}
    assert (WORD, "qurayn") in found or (WORD, "grein") in found


def test_a_tilde_name_with_a_short_skeleton_is_indexed_under_its_spellings_only() -> None:
    """Zawiya's skeleton "sw" matches only curated spellings (names.py): indexing it under
    "sw" would make every "saw" and "sow" a pre-candidate."""
    found = tokens("Zawiya~")
    assert found is not None
    assert (WORD, "zawiya") in found
    assert all(len(value) >= 3 for kind, value in found if kind == "key")


def test_every_word_of_a_phrase_is_required() -> None:
    clauses = required_clauses(parse_query('Libya "arms embargo"').node)
    assert [set(c) for c in clauses] == [{(WORD, "libya")}, {(WORD, "arms")}, {(WORD, "embargo")}]


def test_rules_that_cannot_be_indexed_are_named_and_still_matched() -> None:
    rules = [
        Rule("libya", "Libya", parse_query("Libya").node),
        Rule("or-not", "Or not", parse_query("Libya OR NOT Egypt").node),
    ]
    matcher = Matcher(rules)
    assert matcher.unindexed == ("or-not",)
    story = Story("t", "1", "https://example.com/1", "Markets close higher")
    assert [m.rule_id for m in matcher.match(story)] == ["or-not"]


def real_stories(corpus: Path, bench: ModuleType) -> list[Story]:
    stories: list[Story] = bench.load_stories(2)
    with lzma.open(corpus / "headlines-2023" / "items.jsonl.xz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= 1500:
                break
            item = json.loads(line)
            stories.append(
                Story(
                    item["outlet"],
                    item["link"],
                    item["link"],
                    item["title"] or "",
                    item["summary"] or "",
                )
            )
    return stories


def table_rules() -> list[Rule]:
    """Every query of cases.yaml, as a rule: each operator and edge, once."""
    table = YAML(typ="safe").load((Path(__file__).parent / "cases.yaml").read_text("utf-8"))
    places = {p: PlaceNames(p, tuple(names)) for p, names in table["places"].items()}
    return [
        Rule(f"t-{c['id']}", c["id"], parse_query(c["query"], places=places).node)
        for c in table["cases"]
    ]


def test_presearching_gives_the_same_matches_as_evaluating_every_rule(
    corpus: Path, bench_rules: ModuleType
) -> None:
    bench = bench_rules
    stories = real_stories(corpus, bench)
    rules = table_rules() + load_config(ROOT / "config").rules
    # Both generators: words from the stories themselves (every rule's words met), and
    # from another period's headlines and the gazetteer (place sets of many names).
    for vocab in bench.VOCABS:
        queries, places = bench.generate_rules(stories, 300, vocab=vocab)
        rules += bench.compile_rules(queries, places)
    matcher = Matcher(rules)
    fired = 0
    for story in stories:
        matches = matcher.match(story)
        assert matches == matcher.match_all(story), story.title
        fired += len(matches)
    # The comparison means something only if many rules fire: they do, on real text.
    assert len(stories) > 1500
    assert fired > 1000


def test_forgetting_the_words_seen_and_refiling_often_changes_no_match(
    corpus: Path, bench_rules: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index remembers what each story word meets and forgets it all past a bound, and
    refiles its rules by what the stories met: with a bound small enough to forget every few
    stories and refiling from the 32nd story on (halving its counts past 256), matches stay
    the same."""
    monkeypatch.setattr(presearch, "_MAX_WORDS", 200)
    monkeypatch.setattr(presearch, "_FIRST_REFILE", 32)
    monkeypatch.setattr(presearch, "_MAX_OBSERVED", 256)
    bench = bench_rules
    stories = real_stories(corpus, bench)[:600]
    queries, places = bench.generate_rules(stories, 300, vocab="stories")
    matcher = Matcher(bench.compile_rules(queries, places) + table_rules())
    fired = 0
    for story in stories:
        matches = matcher.match(story)
        assert matches == matcher.match_all(story), story.title
        fired += len(matches)
    assert fired > 100


def test_a_rule_is_refiled_under_the_clause_the_stories_it_saw_met_least(
    corpus: Path, bench_rules: ModuleType
) -> None:
    """The static guess files `coronavirus AND zinc` under the longer word; 2020 news has
    "coronavirus" in a story in ten and "zinc" hardly ever, and after the first refiling
    (1,024 stories observed) the rule is filed under "zinc", with the same matches."""
    stories = bench_rules.load_stories(40, outlets=("bbc", "cnn", "nytimes"))
    matcher = Matcher(
        [
            Rule("corona-zinc", "z", parse_query("coronavirus AND zinc").node),
            Rule("corona", "c", parse_query("coronavirus OR covid").node),
        ]
    )
    assert matcher.index.filed(0) == {(WORD, "coronavirus")}
    for story in stories[: presearch._FIRST_REFILE]:
        assert matcher.match(story) == matcher.match_all(story)
    assert matcher.index.observed == presearch._FIRST_REFILE
    assert matcher.index.filed(0) == {(WORD, "zinc")}
    assert matcher.index.filed(1) == {(WORD, "coronavirus"), (WORD, "covid")}
    fired = 0
    for story in stories[presearch._FIRST_REFILE :]:
        matches = matcher.match(story)
        assert matches == matcher.match_all(story)
        fired += len(matches)
    assert fired > 20


def test_a_prefix_meets_every_word_it_starts_whatever_its_length() -> None:
    rules = [
        Rule("three", "three", parse_query("emb*").node),
        Rule("long", "long", parse_query("embargoe* AND Libya").node),
        Rule("whole", "whole", parse_query("embargo*").node),
    ]
    matcher = Matcher(rules)
    story = Story("t", "1", "https://example.com/1", "Libya embargoes and an embargo")
    assert [m.rule_id for m in matcher.match(story)] == ["three", "long", "whole"]
    assert matcher.match(story) == matcher.match_all(story)


def test_a_word_with_a_names_key_is_no_candidate_unless_it_spells_the_name() -> None:
    """The word "sort" has Sirte's skeleton "srt" but is no spelling of it: the presearcher checks
    the spelling once per word, so the rule is not evaluated on that story at all."""
    matcher = Matcher([Rule("sirte", "Sirte", parse_query("Sirte~").node)])
    assert matcher.index.candidates(Document("Sort the results")) == []
    assert matcher.index.candidates(Document("Fighting near Surt")) == [0]


def test_a_title_scope_is_met_only_by_a_word_of_the_title() -> None:
    """`title:(Sirte~) AND fighting` is no candidate for a story naming Sirte only in its
    summary, whichever clause the rule is filed under; it is one with Sirte in the title."""
    matcher = Matcher(
        [
            Rule("title", "t", parse_query("title:(Sirte~ OR Misrata) AND fighting").node),
            Rule("any", "a", parse_query("Sirte~ AND fighting").node),
        ]
    )
    summary_only = Story("t", "1", "https://example.com/1", "Fighting resumes", "near Surt")
    in_title = Story("t", "2", "https://example.com/2", "Fighting near Surt", "")
    assert matcher.index.candidates(Document.of(summary_only)) == [1]
    assert matcher.index.candidates(Document.of(in_title)) == [0, 1]
    for story in (summary_only, in_title):
        assert matcher.match(story) == matcher.match_all(story)


@pytest.mark.parametrize("vocab", ["news", "stories"])
def test_every_rule_that_fires_is_a_candidate_at_a_thousand_rules(
    corpus: Path, bench_rules: ModuleType, vocab: str
) -> None:
    """The presearcher's one promise, rule by rule: whatever the reference evaluation fires
    on a real story was among the story's candidates (a larger, other-seeded rule set than
    the comparison above, so that broad prefixes, common skeletons and place sets of many
    gazetteer names all meet real text)."""
    bench = bench_rules
    stories = real_stories(corpus, bench)[::2]
    queries, places = bench.generate_rules(stories, 1000, seed=5, vocab=vocab)
    rules = bench.compile_rules(queries, places)
    matcher = Matcher(rules)
    fired = candidates = 0
    for story in stories:
        doc = Document.of(story)
        found = set(matcher.index.candidates(doc))
        candidates += len(found)
        for i, rule in enumerate(rules):
            if evaluate(rule.query, doc) is not None:
                assert i in found, (rule.id, queries[i], story.title)
                fired += 1
    assert fired > 20
    # ... and the candidates are few: a story is evaluated against a small part of the rules.
    assert candidates < len(stories) * len(rules) / 100
