"""`monitor explain`: why a rule did or did not match, on the bundled config."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import ROOT, MakeConfig, RunCli


@pytest.fixture(autouse=True)
def in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_explain_the_founding_article_names_each_spelling_and_field(run_cli: RunCli) -> None:
    result = run_cli(
        "explain", "--rule", "libya-named-towns", "--json", "seeds/founding-article.rss"
    )
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["matched"] is True and row["failed"] == []
    assert row["title"] == "11 Libyan soldiers killed in clashes with Haftar loyalists"
    assert {"Misrata", "Masrata", "Abugrein", "Abu Qurayn"} <= set(row["terms"])
    hits = {(h["text"], h["why"]) for h in row["hits"]}
    assert ("Masrata", "place misrata, name Masrata") in hits
    assert all(h["field"] in {"title", "summary", "content"} for h in row["hits"])


def test_explain_a_text_that_fails_lists_the_parts_not_satisfied(run_cli: RunCli) -> None:
    result = run_cli(
        "explain", "--rule", "libya-ceasefire-breach", "Taliban announce three-day Eid ceasefire"
    )
    assert result.exit_code == 0  # whether or not the rule matched
    lines = result.stdout.splitlines()
    assert lines[0] == "no match  Taliban announce three-day Eid ceasefire"
    assert "  + ceasefire  →  'ceasefire' in title (exact word)" in lines
    failed = [line for line in lines if line.startswith("  - not satisfied: ")]
    assert len(failed) == 2
    assert failed[0].startswith("  - not satisfied: (Libya OR Libyan OR Libyans OR @tripoli-libya")


def test_explain_json_of_a_miss(run_cli: RunCli) -> None:
    result = run_cli(
        "explain", "--rule", "libya-ceasefire-breach", "--json", "Ceasefire broken in football"
    )
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["matched"], row["terms"]) == (False, [])
    assert row["failed"][0].startswith("(Libya OR Libyan")
    assert "NOT (football OR anniversary)" in row["failed"]


def test_explain_an_unknown_rule_says_which_there_are(run_cli: RunCli) -> None:
    result = run_cli("explain", "--rule", "nope", "x")
    assert result.exit_code == 1
    assert "no rule 'nope'; rules are libya-arms-embargo-flights" in result.output


def test_check_warns_of_lower_case_operators_and_unindexable_rules(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: os.PathLike[str]
) -> None:
    rules = (
        "rules:\n"
        "  - {id: a, query: Misrata or Benghazi, channels: [console]}\n"
        "  - {id: b, query: Libya OR NOT Tripoli, channels: [console]}\n"
    )
    result = run_cli("check", "--config", str(make_config(rules={"r.yaml": rules})))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(
        line.endswith(
            ":2:28: warning: query: lower-case 'or' is a word here; write OR to mean either"
        )
        for line in lines
    ), lines
    assert any(":3:20: warning: query: no term every match must contain" in line for line in lines)
