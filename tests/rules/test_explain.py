"""explain: why a rule matched a story or did not, as query text, field by field."""

from __future__ import annotations

from monitor.config import load_config
from monitor.feeds.parse import parse_feed
from monitor.models import Story
from monitor.rules import Hit, Matcher, Rule, explain, parse_query
from monitor.rules.places import PlaceNames
from tests.conftest import ROOT

BREACH = (
    "(Libya OR Libyan OR Tripoli OR @misrata OR Haftar~) "
    'AND (ceasefire OR "cease-fire" OR truce) '
    "AND (broken OR violat* OR breach* OR collaps* OR clashes) "
    "NOT (football OR anniversary)"
)
PLACES = {"misrata": PlaceNames("misrata", ("Misrata", "Masrata", "Abu Qurayn"))}


def rule(query: str = BREACH) -> Rule:
    return Rule("breach", "Breach", parse_query(query, places=PLACES).node, severity="high")


def story(title: str, summary: str = "", content: str = "") -> Story:
    return Story("test", "1", "https://example.com/1", title, summary, content)


def test_a_match_lists_each_hit_with_its_field_and_why() -> None:
    explained = explain(
        rule(), story("Hafter's forces attack", "The truce near Masrata was violated.")
    )
    assert explained.rule == "breach"
    assert explained.matched is True
    assert explained.failed == ()
    assert explained.terms == ("Hafter", "truce", "Masrata", "violated")
    assert explained.hits == (
        Hit("Haftar~", "Hafter", "title", "spelling of Haftar"),
        Hit("truce", "truce", "summary", "exact word"),
        Hit("@misrata", "Masrata", "summary", "place misrata, name Masrata"),
        Hit("violat*", "violated", "summary", "word starting 'violat'"),
    )


def test_a_miss_names_the_parts_of_the_query_that_failed_as_written() -> None:
    explained = explain(rule(), story("Libya: talks in Geneva", "No word on a cease-fire"))
    assert explained.matched is False
    assert explained.terms == ()
    assert explained.failed == ("(broken OR violat* OR breach* OR collaps* OR clashes)",)
    assert Hit('"cease-fire"', "cease-fire", "summary", "exact phrase") in explained.hits


def test_a_not_that_fires_is_what_failed() -> None:
    explained = explain(rule(), story("Libya truce broken on the anniversary of the war"))
    assert explained.matched is False
    assert explained.failed == ("NOT (football OR anniversary)",)
    # A word under NOT is not a hit: it is the reason for the miss.
    assert [h.query for h in explained.hits] == ["Libya", "truce", "broken"]


def test_a_field_scope_and_a_near_fail_as_a_whole() -> None:
    explained = explain(
        rule("title:(Libya) AND Haftar NEAR/3 Sirte"),
        story("Markets", "Libya: Haftar's forces, long after the talks, seize Sirte"),
    )
    assert explained.failed == ("title:(Libya)", "Haftar NEAR/3 Sirte")


def test_a_curated_spelling_says_it_is_listed() -> None:
    explained = explain(rule("Abugrein~"), story("Shelling near Abu Qurayn"))
    assert explained.hits == (
        Hit("Abugrein~", "Abu Qurayn", "title", "listed spelling of Abugrein"),
    )


def test_explain_agrees_with_the_matcher_on_the_founding_article() -> None:
    config = load_config(ROOT / "config")
    [founding] = parse_feed(
        (ROOT / "seeds" / "founding-article.rss").read_bytes(), feed="seed"
    ).stories

    matches = {m.rule_id: m.terms for m in Matcher(config.rules).match(founding)}
    for bundled in config.rules:
        explained = explain(bundled, founding)
        assert explained.matched is (bundled.id in matches)
        assert explained.terms == matches.get(bundled.id, ())
        assert {h.text for h in explained.hits} >= set(explained.terms) - {
            t for t in explained.terms if " " in t
        }
