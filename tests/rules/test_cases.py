"""The data-driven table (cases.yaml): every operator and edge, one row a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from monitor.models import Story
from monitor.rules import Matcher, Rule, explain, parse_query
from monitor.rules.places import PlaceNames

TABLE = YAML(typ="safe").load((Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8"))
PLACES = {pid: PlaceNames(pid, tuple(names)) for pid, names in TABLE["places"].items()}


def story_of(case: dict[str, Any]) -> Story:
    return Story(
        feed="table",
        guid=case["id"],
        link=f"https://example.com/{case['id']}",
        title=case.get("title", ""),
        summary=case.get("summary", ""),
        content=case.get("content", ""),
    )


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["id"] for c in TABLE["cases"]])
def test_a_query_matches_a_story_with_the_words_it_found(case: dict[str, Any]) -> None:
    assert ("terms" in case) != ("match" in case), "a case gives terms or match: false"
    rule = Rule(case["id"], case["id"], parse_query(case["query"], places=PLACES).node)
    matches = Matcher([rule]).match(story_of(case))
    expected = [tuple(case["terms"])] if "terms" in case else []
    assert [m.terms for m in matches] == expected
    # explain decides the same, with the same words.
    explained = explain(rule, story_of(case))
    assert explained.matched is bool(expected)
    assert explained.terms == (expected[0] if expected else ())
