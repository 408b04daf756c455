"""`monitor match`: feed files and URLs against the bundled rules, storing and sending nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import ROOT, RunCli

CONFIG = str(ROOT / "config")
SEED = ROOT / "seeds" / "founding-article.rss"
SEED_TEXT = SEED.read_text(encoding="utf-8")
RULES = ["libya-ceasefire-breach", "libya-arms-embargo-flights", "libya-named-towns"]
TITLE = "11 Libyan soldiers killed in clashes with Haftar loyalists"
LINK = "https://english.alaraby.co.uk/news/11-libyan-soldiers-killed-clashes-haftar-loyalists"


def _objects(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository, as `monitor match seeds/founding-article.rss` is typed."""
    monkeypatch.chdir(ROOT)


@pytest.mark.usefixtures("in_root")
def test_match_json_prints_one_object_per_line_for_each_bundled_rule(run_cli: RunCli) -> None:
    result = run_cli("match", "--config", "config", "--json", "seeds/founding-article.rss")

    assert result.exit_code == 0, result.stderr
    objects = _objects(result.stdout)
    assert [o["rule"] for o in objects] == RULES
    for o in objects:
        assert {"rule", "title", "link", "terms"} <= o.keys()
        assert o["title"] == TITLE
        assert o["link"] == LINK
        assert o["terms"]
        assert o["source"] == "seeds/founding-article.rss"


@pytest.mark.usefixtures("in_root")
def test_match_reports_terms_as_the_article_spells_them(run_cli: RunCli) -> None:
    result = run_cli("match", "--config", "config", "--json", "seeds/founding-article.rss")

    terms = {o["rule"]: o["terms"] for o in _objects(result.stdout)}
    for rule_terms in terms.values():
        for term in rule_terms:
            assert term in SEED_TEXT, f"{term!r} is not spelled so in the article"
    # A phrase matches across the hyphen, and is quoted with it.
    assert "cease-fire" in terms["libya-ceasefire-breach"]
    # Misrata~ finds the article's other spelling, and says which one.
    assert "Masrata" in terms["libya-named-towns"]
    assert {"Abu Qurayn", "Abugrein", "Qaddahiya", "Zamzam"} <= set(terms["libya-named-towns"])
    assert {"arms embargo", "UNSMIL", "flights"} <= set(terms["libya-arms-embargo-flights"])
    # Case is the article's, not the folded form used for matching.
    assert "Libyan" in terms["libya-ceasefire-breach"]
    assert "libyan" not in terms["libya-ceasefire-breach"]


@pytest.mark.usefixtures("in_root")
def test_match_prints_one_tab_separated_line_per_item_and_rule(run_cli: RunCli) -> None:
    result = run_cli("match", "--config", "config", "seeds/founding-article.rss")

    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == RULES
    for row in rows:
        assert len(row) == 4
        assert row[1:3] == [TITLE, LINK]
    assert "Abu Qurayn" in rows[2][3].split(", ")


@pytest.mark.usefixtures("in_root")
def test_match_prints_each_match_of_each_source(run_cli: RunCli) -> None:
    result = run_cli(
        "match", "--config", "config", "seeds/founding-article.rss", str(SEED.resolve())
    )

    assert result.exit_code == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == RULES + RULES


def test_match_accepts_absolute_paths_from_anywhere(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = run_cli("match", "--config", CONFIG, "--json", str(SEED))

    assert result.exit_code == 0, result.stderr
    assert [o["rule"] for o in _objects(result.stdout)] == RULES


@pytest.mark.usefixtures("in_root")
def test_a_missing_file_is_an_error_but_the_other_sources_are_still_matched(
    run_cli: RunCli,
) -> None:
    result = run_cli(
        "match", "--config", "config", "--json", "seeds/missing.rss", "seeds/founding-article.rss"
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("seeds/missing.rss: cannot read seeds/missing.rss")
    assert len(result.stderr.splitlines()) == 1
    assert [o["rule"] for o in _objects(result.stdout)] == RULES


@pytest.mark.usefixtures("in_root")
def test_a_file_that_is_not_a_feed_is_an_error_but_the_other_sources_are_still_matched(
    run_cli: RunCli,
) -> None:
    result = run_cli(
        "match", "--config", "config", "--json", "pyproject.toml", "seeds/founding-article.rss"
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("pyproject.toml: ")
    assert [o["rule"] for o in _objects(result.stdout)] == RULES


def test_match_fetches_a_feed_from_a_url(run_cli: RunCli, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/libya.rss").respond_with_data(
        SEED.read_bytes(), content_type="application/rss+xml; charset=utf-8"
    )
    url = httpserver.url_for("/libya.rss")

    result = run_cli("match", "--config", CONFIG, "--json", url)

    assert result.exit_code == 0, result.stderr
    objects = _objects(result.stdout)
    assert [o["rule"] for o in objects] == RULES
    assert {o["source"] for o in objects} == {url}
    assert {o["link"] for o in objects} == {LINK}
    httpserver.check_assertions()


def test_a_url_that_fails_is_an_error_but_the_other_sources_are_still_matched(
    run_cli: RunCli, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/gone.rss").respond_with_data("gone", status=404)
    gone = httpserver.url_for("/gone.rss")

    result = run_cli("match", "--config", CONFIG, "--json", gone, str(SEED))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"{gone}: ")
    assert [o["rule"] for o in _objects(result.stdout)] == RULES


def test_match_creates_no_database(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_DB", raising=False)

    result = run_cli("match", "--config", CONFIG, "--json", str(SEED))

    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert list(tmp_path.iterdir()) == []


def test_match_creates_no_database_even_when_one_is_named(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    named = tmp_path / "named.db"

    result = run_cli("match", "--config", CONFIG, "--db", str(named), str(SEED))

    assert result.exit_code == 0, result.stderr
    assert not named.exists()
    assert list(tmp_path.iterdir()) == []
