"""Matching: one table of (query, text, matches?, terms) rows, then the Matcher on stories
and the bundled rules on the founding article."""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.feeds.parse import parse_feed
from monitor.models import Story
from monitor.rules import Matcher, Rule, parse_query
from monitor.rules.compiled import compile_query
from monitor.rules.document import Document
from monitor.rules.evaluate import ALL_FIELDS, evaluate, matched_terms
from tests.conftest import ROOT

# (query, text, expected_match, expected_terms): the terms as the text spells them, in the
# order the text has them, each spelling once; None when the query does not match.
CASES = [
    # Whole words.
    pytest.param("Libya", "Libyan forces advanced", False, None, id="Libya-not-Libyan"),
    pytest.param("Libya", "Fighting in Libya's west", True, ("Libya",), id="Libya-in-Libya's"),
    pytest.param("Sirte", "They took Sirte.", True, ("Sirte",), id="punctuation-ends-a-word"),
    pytest.param("Libya*", "Libyan forces advanced", True, ("Libyan",), id="Libya*-Libyan"),
    pytest.param(
        "Libya*", "Libyans in Libya", True, ("Libyans", "Libya"), id="Libya*-itself-and-longer"
    ),
    pytest.param("Libya*", "Liby and Lib", False, None, id="prefix-longer-than-word"),
    # Case and accents.
    pytest.param("misrata", "MISRATA SHELLED", True, ("MISRATA",), id="case-insensitive"),
    pytest.param("Misratah", "the port of Misrātah", True, ("Misrātah",), id="accent-in-text"),
    pytest.param("Misrātah", "the port of misratah", True, ("misratah",), id="accent-in-query"),
    pytest.param(
        "Misratah",
        "the port of Misra\u0304tah",
        True,
        ("Misra\u0304tah",),
        id="decomposed-accent-in-text",
    ),
    pytest.param("cafe", "a CAFÉ in Tripoli", True, ("CAFÉ",), id="upper-case-accent"),
    pytest.param("Straße", "STRASSE", True, ("STRASSE",), id="sharp-s-folds-to-ss"),
    # Phrases.
    pytest.param('"cease fire"', "a cease-fire held", True, ("cease-fire",), id="phrase-hyphen"),
    pytest.param("cease-fire", "the cease fire held", True, ("cease fire",), id="hyphen-phrase"),
    pytest.param(
        '"cease fire"', "a Cease  Fire held", True, ("Cease  Fire",), id="phrase-spaces-case"
    ),
    pytest.param('"cease fire"', "the fire will cease", False, None, id="phrase-order"),
    pytest.param('"cease fire"', "cease the fire", False, None, id="phrase-adjacency"),
    pytest.param("ceasefire", "a cease-fire held", False, None, id="one-word-not-two"),
    pytest.param(
        '"Abu Qurayn"', "the village of Abu Qurayn", True, ("Abu Qurayn",), id="place-phrase"
    ),
    # AND, OR, NOT.
    pytest.param(
        "Libya Tripoli",
        "Tripoli is Libya's capital",
        True,
        ("Tripoli", "Libya"),
        id="and-terms-in-text-order",
    ),
    pytest.param("Libya AND Tripoli", "Libya alone", False, None, id="and-needs-both"),
    pytest.param("Benghazi OR Sirte", "Sirte fell", True, ("Sirte",), id="or-needs-one"),
    pytest.param("Benghazi OR Sirte", "Misrata held", False, None, id="or-needs-at-least-one"),
    pytest.param("Libya NOT Egypt", "Libya and Egypt met", False, None, id="not-excludes"),
    pytest.param("Libya -Egypt", "Libya alone", True, ("Libya",), id="minus-allows-absence"),
    pytest.param("Libya OR NOT Egypt", "Sirte alone", True, (), id="or-not-matches-no-terms"),
    pytest.param("Libya and Egypt", "Libya, Egypt", False, None, id="lower-and-is-a-word"),
    # Spellings within a few edits.
    pytest.param("Misrata~", "near Misurata", True, ("Misurata",), id="fuzzy-Misurata"),
    pytest.param("Misrata~", "near Masrata", True, ("Masrata",), id="fuzzy-Masrata"),
    pytest.param("Misrata~", "trade with Misr", False, None, id="fuzzy-not-Misr"),
    pytest.param(
        "Misrata~",
        "Misurata, Masrata and Misrata",
        True,
        ("Misurata", "Masrata", "Misrata"),
        id="fuzzy-every-spelling",
    ),
    # ~0 allows no edit beyond the curated spellings (Misurata is one) and vowel folding.
    pytest.param("Misrata~0", "near Misrat", False, None, id="fuzzy-0-allows-no-edit"),
    pytest.param("Misrata~0", "near Misurata", True, ("Misurata",), id="fuzzy-0-keeps-curated"),
    pytest.param("Misrata~2", "near Misuratah", True, ("Misuratah",), id="fuzzy-2-edits"),
    # Sirt and Sirte are spellings of one name, whichever the rule writes.
    pytest.param("Sirt~", "Sirte fell", True, ("Sirte",), id="fuzzy-curated-both-ways"),
    pytest.param("Sirte~", "a site fell", False, None, id="fuzzy-never-a-common-word"),
    pytest.param("Haftar~", "Hafter's men", True, ("Hafter",), id="fuzzy-Haftar-Hafter"),
    # Tripoli in Libya, not Tripoli in Lebanon.
    pytest.param(
        "Tripoli NOT (Lebanon OR Lebanese)",
        "Clashes south of Tripoli, Libya",
        True,
        ("Tripoli",),
        id="Tripoli-Libya",
    ),
    pytest.param(
        "Tripoli NOT (Lebanon OR Lebanese)",
        "Clashes in Tripoli, Lebanon",
        False,
        None,
        id="Tripoli-Lebanon",
    ),
    pytest.param(
        "Tripoli NOT (Lebanon OR Lebanese)",
        "The Lebanese army deploys in Tripoli",
        False,
        None,
        id="Tripoli-Lebanese",
    ),
    # Arabic: harakat (combining marks) belong to their word.
    pytest.param("ليبيا", "اشتباكات في لِيبِيَا اليوم", True, ("لِيبِيَا",), id="arabic-harakat-in-text"),
    pytest.param("لِيبِيَا", "اشتباكات في ليبيا", True, ("ليبيا",), id="arabic-harakat-in-query"),
    pytest.param("لي", "اشتباكات في لِيبِيَا", False, None, id="arabic-word-is-not-split"),
    # The terms: text order, each spelling once.
    pytest.param(
        "Tripoli OR Misrata OR Sirte",
        "Sirte, then Misrata, then Tripoli",
        True,
        ("Sirte", "Misrata", "Tripoli"),
        id="terms-in-text-order-not-query-order",
    ),
    pytest.param(
        "Misrata",
        "MISRATA: shelling in Misrata and misrata",
        True,
        ("MISRATA",),
        id="case-variants-are-one-spelling",
    ),
    pytest.param(
        "Misrata OR Misrātah",
        "Misrātah, Misrata, misrata and Misrātah",
        True,
        ("Misrātah", "Misrata"),
        id="each-spelling-once",
    ),
]


@pytest.mark.parametrize(("query", "text", "expected_match", "expected_terms"), CASES)
def test_a_query_matches_text_with_the_words_it_found(
    query: str, text: str, expected_match: bool, expected_terms: tuple[str, ...] | None
) -> None:
    doc = Document(text)
    node = parse_query(query).node
    hits = evaluate(node, doc)
    assert (hits is not None) is expected_match
    assert (matched_terms(doc, hits) if hits is not None else None) == expected_terms
    # The matcher's compiled query finds the same hits (in whatever order).
    compiled = compile_query(node)(doc, ALL_FIELDS)
    assert (None if compiled is None else set(compiled)) == (None if hits is None else set(hits))


def story(title: str, summary: str = "", content: str = "") -> Story:
    return Story(
        feed="test",
        guid="1",
        link="https://example.com/1",
        title=title,
        summary=summary,
        content=content,
    )


def rule(rule_id: str, query: str, channels: tuple[str, ...] = ("console",)) -> Rule:
    return Rule(rule_id, rule_id.title(), parse_query(query).node, channels)


def test_the_matcher_searches_title_summary_and_content() -> None:
    matcher = Matcher([rule("all", "Libya AND ceasefire AND Misrata")])
    [match] = matcher.match(story("Libya", "the ceasefire", "near Misrata"))
    assert match.terms == ("Libya", "ceasefire", "Misrata")


@pytest.mark.parametrize("field", ["title", "summary", "content"])
def test_a_word_in_any_one_field_is_found(field: str) -> None:
    fields = {"title": "Headline", "summary": "", "content": ""}
    fields[field] += " fighting in Sirte"
    assert [m.terms for m in Matcher([rule("sirte", "Sirte")]).match(story(**fields))] == [
        ("Sirte",)
    ]


def test_a_match_carries_the_rules_id_name_and_channels() -> None:
    matcher = Matcher([rule("towns", "Sirte", channels=("desk-slack", "desk-email"))])
    [match] = matcher.match(story("Fighting in Sirte"))
    assert match.rule_id == "towns"
    assert match.rule_name == "Towns"
    assert match.channels == ("desk-slack", "desk-email")


def test_the_matcher_returns_every_rule_that_fires_in_rule_order() -> None:
    rules = [rule("sirte", "Sirte"), rule("egypt", "Egypt"), rule("libya", "Libya*")]
    matches = Matcher(rules).match(story("Libyan forces retake Sirte"))
    assert [(m.rule_id, m.terms) for m in matches] == [
        ("sirte", ("Sirte",)),
        ("libya", ("Libyan",)),
    ]


def test_a_story_no_rule_fires_on_gives_no_matches() -> None:
    assert Matcher([rule("sirte", "Sirte")]).match(story("Markets close higher")) == []


# The bundled rules against the founding article (seeds/000_b41ae922ef43ddb6.txt).

BUNDLED_RULES = ("libya-ceasefire-breach", "libya-arms-embargo-flights", "libya-named-towns")


@pytest.fixture(scope="module")
def bundled() -> Matcher:
    return Matcher(load_config(ROOT / "config").rules)


@pytest.fixture(scope="module")
def founding_terms(bundled: Matcher) -> dict[str, tuple[str, ...]]:
    data = (ROOT / "seeds" / "founding-article.rss").read_bytes()
    [founding] = parse_feed(data, feed="seed").stories
    return {m.rule_id: m.terms for m in bundled.match(founding)}


def test_the_bundled_rules_all_load_without_problems() -> None:
    config = load_config(ROOT / "config")
    assert config.problems == []
    assert tuple(r.id for r in config.rules) == BUNDLED_RULES


def test_the_founding_article_fires_all_three_bundled_rules(
    founding_terms: dict[str, tuple[str, ...]],
) -> None:
    assert tuple(founding_terms) == BUNDLED_RULES


def test_the_founding_article_breaks_a_ceasefire(
    founding_terms: dict[str, tuple[str, ...]],
) -> None:
    terms = founding_terms["libya-ceasefire-breach"]
    assert {"Libya", "ceasefire", "cease-fire", "truce", "broken", "violated"} <= set(terms)


def test_the_founding_article_reports_embargo_flights(
    founding_terms: dict[str, tuple[str, ...]],
) -> None:
    terms = founding_terms["libya-arms-embargo-flights"]
    assert {"UNSMIL", "arms embargo", "flights", "weapons", "fighters"} <= set(terms)


def test_the_founding_article_names_its_towns_in_their_spellings(
    founding_terms: dict[str, tuple[str, ...]],
) -> None:
    terms = founding_terms["libya-named-towns"]
    towns = {"Misrata", "Masrata", "Abugrein", "Abu Qurayn", "Qaddahiya", "Zamzam", "Sirte"}
    assert towns | {"Tripoli"} <= set(terms)
    # First appearance in the text decides the order: the summary names Misrata first.
    assert terms.index("Misrata") < terms.index("Abugrein") < terms.index("Abu Qurayn")


def test_the_bundled_rules_send_where_they_say(bundled: Matcher) -> None:
    channels = {r.id: r.channels for r in bundled.rules}
    assert channels == {
        "libya-ceasefire-breach": ("desk-slack", "desk-email"),
        "libya-arms-embargo-flights": ("desk-slack", "desk-email"),
        "libya-named-towns": ("desk-email",),
    }


@pytest.mark.parametrize(
    "headline",
    [
        "Clashes in Tripoli, Lebanon leave two dead",
        "Lebanese army deploys in Tripoli after clashes",
        "Pilgrims drink from the Zamzam well in Mecca",
    ],
)
def test_a_headline_about_another_tripoli_or_zamzam_does_not_fire_the_towns_rule(
    bundled: Matcher, headline: str
) -> None:
    assert [m.rule_id for m in bundled.match(story(headline))] == []


def test_a_headline_about_tripoli_alone_fires_the_towns_rule(bundled: Matcher) -> None:
    matches = bundled.match(story("Tripoli airport reopens after shelling"))
    assert [(m.rule_id, m.terms) for m in matches] == [("libya-named-towns", ("Tripoli",))]
