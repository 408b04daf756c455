"""A rule file beyond the query: severity, the rule's own tests, place sets, and the JSON
Schema an editor checks it with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import RulesFile, load_config, rules_schema
from monitor.models import RuleSeverity
from tests.conftest import ROOT, MakeConfig, RunCli

TESTED_RULE = """\
rules:
  - id: breach
    query: (Libya OR Haftar) AND (ceasefire OR truce) AND (broken OR violat*)
    channels: [console]
    tests:
      match:
        - "Libya's fragile ceasefire is broken once again"
        - title: Truce violated
          summary: Haftar's forces shelled Misrata.
      reject:
        - "Taliban announce three-day Eid ceasefire"
"""


def check_lines(run_cli: RunCli, directory: Path) -> tuple[int, list[str]]:
    result = run_cli("check", "--config", str(directory))
    return result.exit_code, result.stdout.splitlines()


def test_passing_rule_tests_are_silent(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_lines(run_cli, make_config(rules={"r.yaml": TESTED_RULE})) == (0, [])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '- "Libya\'s fragile ceasefire is broken once again"',
            '- "Libya\'s fragile ceasefire holds"',
            "config/rules/r.yaml:7:11: rule test: breach does not match this text "
            "(not satisfied: (broken OR violat*))",
        ),
        (
            '- "Taliban announce three-day Eid ceasefire"',
            '- "Haftar says the truce was violated"',
            "config/rules/r.yaml:11:11: rule test: breach matches this text "
            "(Haftar, truce, violated)",
        ),
    ],
    ids=["match-that-does-not", "reject-that-does"],
)
def test_a_failing_rule_test_is_an_error_at_its_line_and_stops_the_daemon(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    old: str,
    new: str,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert old in TESTED_RULE
    directory = make_config(rules={"r.yaml": TESTED_RULE.replace(old, new)})
    assert check_lines(run_cli, directory) == (1, [expected])
    poll = run_cli("poll", "--once", "--config", str(directory), "--db", str(tmp_path / "m.db"))
    assert poll.exit_code == 2 and expected in poll.stderr
    assert not (tmp_path / "m.db").exists()


def test_the_bundled_rules_pass_their_own_tests() -> None:
    config = load_config(ROOT / "config")
    assert [p for p in config.problems if p.is_error] == []
    text = (ROOT / "config" / "rules" / "libya.yaml").read_text(encoding="utf-8")
    assert text.count("tests:") == 3  # every bundled rule carries its tests


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("", RuleSeverity.NORMAL), ("severity: urgent", RuleSeverity.URGENT)],
)
def test_severity_defaults_to_normal(
    make_config: MakeConfig, severity: str, expected: RuleSeverity
) -> None:
    rule = f"rules:\n  - {{id: r, query: Libya, channels: [console], {severity}}}\n"
    [loaded] = load_config(make_config(rules={"r.yaml": rule.replace(", }", "}")})).rules
    assert loaded.severity == expected.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - {id: r, query: Libya, channels: [console], severity: critical}\n",
            "config/rules/r.yaml:2:58: severity: Input should be 'info', 'normal', 'high' or "
            "'urgent'",
        ),
        (
            "places:\n  misrata: {}\nrules:\n  - {id: r, query: Libya, channels: [console]}\n",
            "config/rules/r.yaml:2:12: a place needs a gazetteer city or aliases",
        ),
        (
            "places:\n  misrata: {aliases: [Misurata], country: LY}\n"
            "rules:\n  - {id: r, query: Libya, channels: [console]}\n",
            "config/rules/r.yaml:2:34: unknown key 'country'",
        ),
        (
            "places: [misrata]\nrules:\n  - {id: r, query: Libya, channels: [console]}\n",
            "config/rules/r.yaml:1:9: 'places' must be a mapping",
        ),
        (
            "colours: {}\nrules:\n  - {id: r, query: Libya, channels: [console]}\n",
            "config/rules/r.yaml:1:1: unknown key 'colours' (expected 'rules')",
        ),
    ],
    ids=["bad-severity", "empty-place", "unknown-place-key", "places-not-a-mapping", "other-key"],
)
def test_rule_file_mistakes_are_located(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_lines(run_cli, make_config(rules={"r.yaml": text})) == (1, [expected])


def test_a_place_defined_twice_is_an_error_at_the_second(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = "places:\n  misrata: {aliases: [Misurata]}\nrules: []\n"
    second = (
        "places:\n  misrata: {aliases: [Masrata]}\n"
        "rules:\n  - {id: r, query: x, channels: [console]}\n"
    )
    directory = make_config(rules={"a.yaml": first, "b.yaml": second})
    assert check_lines(run_cli, directory) == (
        1,
        ["config/rules/b.yaml:2:3: duplicate place 'misrata'"],
    )


def test_the_shipped_schema_is_what_monitor_schema_prints(run_cli: RunCli) -> None:
    printed = run_cli("schema").stdout
    assert (ROOT / "config" / "rules.schema.json").read_text(encoding="utf-8") == printed
    schema = json.loads(printed)
    assert schema == json.loads(rules_schema())
    assert set(schema["properties"]) == set(RulesFile.model_fields) == {"places", "rules"}
    rule = schema["$defs"]["RuleSettings"]
    assert rule["additionalProperties"] is False and {"query", "channels", "id"} <= set(
        rule["required"]
    )
    assert rule["properties"]["severity"]["$ref"].endswith("RuleSeverity")
    # Every bundled rule file names the schema for editors.
    for path in (ROOT / "config" / "rules").glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../rules.schema.json", path


def test_place_sets_are_resolved_and_listed(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        "places:\n"
        "  misrata: {gazetteer: 'Misratah, LY', aliases: [Masrata]}\n"
        "  abu-qurayn: {aliases: [Abu Qurayn, Abugrein]}\n"
        "rules:\n  - {id: r, query: Libya, channels: [console]}\n"
    )
    directory = make_config(rules={"r.yaml": text})
    config = load_config(directory)
    assert config.places["abu-qurayn"].names == ("Abu Qurayn", "Abugrein")
    misrata = config.places["misrata"].names
    assert misrata[0] == "Masrata" and {"Misurata", "مصراتة"} <= set(misrata)
    listed = run_cli("places", "misrata", "--config", str(directory))
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[:2] == [f"@misrata: {len(misrata)} names", "  Masrata"]
    unknown = run_cli("places", "benghazi", "--config", str(directory))
    assert unknown.exit_code == 1
    assert "no place 'benghazi' in the rule files; places: abu-qurayn, misrata" in unknown.output


def test_a_gazetteer_city_that_fits_several_is_an_error_at_its_value(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        "places:\n  tripoli: {gazetteer: Tripoli}\n"
        "rules:\n  - {id: r, query: x, channels: [console]}\n"
    )
    code, lines = check_lines(run_cli, make_config(rules={"r.yaml": text}))
    assert code == 1
    [line] = lines
    assert line.startswith("config/rules/r.yaml:2:24: place 'tripoli': gazetteer 'Tripoli' fits")
    assert "Tripoli, LY (geonameid 2210247" in line and "Tripoli, LB" in line


def test_places_looks_a_city_up_directly(run_cli: RunCli) -> None:
    found = run_cli("places", "--gazetteer", "Sirte, LY")
    assert found.exit_code == 0 and "سرت" in found.stdout
    by_id = run_cli("places", "--gazetteer", "2210247")
    assert by_id.exit_code == 0 and "Tripoli" in by_id.stdout


def test_an_unknown_place_in_a_query_is_an_error_at_its_column(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        "places:\n  misrata: {aliases: [Misurata]}\n"
        "rules:\n  - id: r\n    query: Libya AND @benghazi\n    channels: [console]\n"
    )
    assert check_lines(run_cli, make_config(rules={"r.yaml": text})) == (
        1,
        ["config/rules/r.yaml:5:22: query: unknown place '@benghazi'; places are @misrata"],
    )


def test_a_channel_time_zone_must_be_a_real_one(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rules = {"r.yaml": "rules:\n  - {id: r, query: Libya, channels: [desk]}\n"}
    good = "channels:\n  desk: {url: 'json://localhost', timezone: Europe/London}\n"
    assert check_lines(run_cli, make_config(monitor=good, rules=rules)) == (0, [])
    bad = good.replace("Europe/London", "Europe/Lndon")
    code, lines = check_lines(run_cli, make_config(monitor=bad, rules=rules, name="bad"))
    assert code == 1
    [line] = lines
    assert line.startswith("bad/monitor.yaml:2:45: timezone:"), line
    assert "Europe/Lndon" in line
