"""Rule files: rules/*.yaml (or an edited set for a backtest) → compiled rules, the place
sets they use, the channels they route to, and every problem, each rule's own tests run."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from monitor.config.schema import (
    _NAME,
    CONSOLE,
    ExampleStory,
    PlaceSettings,
    RuleExample,
    RuleSettings,
    RuleTests,
)
from monitor.config.yaml_source import (
    FileReader,
    position,
    shown_path,
    validate,
    value_position,
)
from monitor.errors import Problem, QueryError, Severity
from monitor.models import Story
from monitor.rules import Rule, explain, parse_query
from monitor.rules.places import PlaceError, PlaceNames, resolve_place
from monitor.rules.presearch import index_tokens


@dataclass
class RuleSet:
    """What a set of rule files holds: the enabled rules, the place sets they may use, the
    channels the rules route to, and every problem found."""

    rules: list[Rule] = field(default_factory=list)
    places: dict[str, PlaceNames] = field(default_factory=dict)
    routed: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rule id → its tags
    digest_only: set[str] = field(default_factory=set)  # ids of the digest-only rules
    escalate_at: dict[str, int] = field(default_factory=dict)  # rule id → outlets


def _load_rules(directory: Path, channels: Sequence[str] | None) -> RuleSet:
    """The config directory's rules/. With `channels` None (monitor.yaml unreadable)
    channel names are not checked."""
    rule_dir = directory / "rules"
    files = rule_files(rule_dir)
    loaded = _load_rule_files(files, channels)
    if not files:
        loaded.problems.append(Problem(shown_path(rule_dir), 1, 1, "no rule files (rules/*.yaml)"))
    return loaded


def rule_files(path: Path) -> list[Path]:
    """A rules directory's *.yaml and *.yml files, in name order; a file is itself."""
    if not path.is_dir():
        return [path]
    return sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))


def load_rules(
    path: Path | str, channels: Sequence[str] | None = None
) -> tuple[list[Rule], list[Problem]]:
    """The enabled rules of one rule file or a directory of them (an edited rule set for
    `monitor backtest`), and their problems; channel names are checked only if given."""
    files = rule_files(Path(path))
    if not files or not files[0].exists():
        return [], [Problem(shown_path(Path(path)), 1, 1, "no rule files here")]
    loaded = _load_rule_files(files, channels)
    return loaded.rules, loaded.problems


def _load_rule_files(files: Sequence[Path], channels: Sequence[str] | None) -> RuleSet:
    found = RuleSet()
    seen: dict[str, str] = {}
    where: dict[str, tuple[str, int, int]] = {}  # rule id → its query's position
    known = None if channels is None else {*channels, CONSOLE}
    loaded = [(reader, reader.load()) for reader in (FileReader(p, shown_path(p)) for p in files)]
    # Places first, from every file: a rule may use a place set defined in another file.
    for reader, root in loaded:
        _read_places(reader, root, found.places)
    for reader, root in loaded:
        for entry in reader.items(root, "rules", beside=("places",)):
            settings = validate(reader, RuleSettings, entry)
            if settings is None:
                continue
            rule = _compile_rule(reader, entry, settings, known, seen, found.places)
            if rule is not None:
                _run_rule_tests(reader, entry, settings.tests, rule)
            if rule is not None and settings.enabled:
                found.rules.append(rule)
                found.routed.update(rule.channels)
                found.tags[rule.id] = tuple(settings.tags)
                if settings.digest_only:
                    found.digest_only.add(rule.id)
                if settings.escalate_at is not None:
                    found.escalate_at[rule.id] = settings.escalate_at
                where[rule.id] = (reader.shown, *position(entry, "query", of_value=True))
        found.problems.extend(reader.problems)
    # The presearcher's own test, without building its index (the pipeline builds that once).
    for rule in found.rules:
        if index_tokens(rule.query) is not None:
            continue
        found.problems.append(
            Problem(
                *where[rule.id],
                "query: no term every match must contain (e.g. `a OR NOT b`), so this rule "
                "is checked against every story; it works, but thousands like it would be slow",
                Severity.WARNING,
            )
        )
    return found


def _read_places(reader: FileReader, root: Any, places: dict[str, PlaceNames]) -> None:
    """Validate and resolve a rule file's `places:` into `places`: each place set's names
    (aliases, and the gazetteer city's). A place id defined twice, a city the gazetteer
    does not know or cannot tell apart, is an error at its line."""
    section = root.get("places") if isinstance(root, dict) else None
    if section is None:
        return
    if not isinstance(section, dict):
        reader.problem(*position(root, "places", of_value=True), "'places' must be a mapping")
        return
    for place_id, spec in section.items():
        where = position(section, place_id)
        if not re.match(_NAME, str(place_id)):
            reader.problem(*where, f"place id {place_id!r}: use letters, digits, '.', '_', '-'")
            continue
        settings = validate(reader, PlaceSettings, spec)
        if settings is None:
            continue
        if place_id in places:
            reader.problem(*where, f"duplicate place {place_id!r}")
            continue
        try:
            places[place_id] = resolve_place(
                str(place_id), gazetteer=settings.gazetteer, aliases=settings.aliases
            )
        except PlaceError as e:
            at = "gazetteer" if "gazetteer" in spec else "aliases"
            reader.problem(*position(spec, at, of_value=True), str(e))


def _compile_rule(
    reader: FileReader,
    entry: CommentedMap,
    settings: RuleSettings,
    known: set[str] | None,
    seen: dict[str, str],
    places: Mapping[str, PlaceNames],
) -> Rule | None:
    """The rule ready to match, or None after reporting why it cannot be (duplicate id,
    unknown channel, a query that does not parse or names an unknown place). The query's
    warnings (a lower-case "or", `What~`) are reported and the rule kept."""
    ok = True
    if settings.id in seen:
        reader.problem(
            *position(entry, "id", of_value=True),
            f"duplicate rule id {settings.id!r} (first defined in {seen[settings.id]})",
        )
        ok = False
    else:
        line, _ = position(entry, "id", of_value=True)
        seen[settings.id] = f"{reader.shown}:{line}"
    for i, channel in enumerate(settings.channels):
        if known is not None and channel not in known:
            reader.problem(
                *position(entry["channels"], i),
                f"unknown channel {channel!r}; channels are {', '.join(sorted(known))}",
            )
            ok = False
    try:
        parsed = parse_query(settings.query, places=places)
    except QueryError as e:
        reader.problem(*value_position(reader, entry, "query", e.column), f"query: {e.message}")
        return None
    for warning in parsed.warnings:
        reader.problem(
            *value_position(reader, entry, "query", warning.column),
            f"query: {warning.message}",
            Severity.WARNING,
        )
    query = parsed.node
    if not ok:
        return None
    return Rule(
        id=settings.id,
        name=settings.name or settings.id,
        query=query,
        channels=tuple(dict.fromkeys(settings.channels)),
        severity=settings.severity.value,
    )


def _example_story(example: RuleExample, index: int) -> Story:
    fields = ExampleStory(title=example) if isinstance(example, str) else example
    return Story(
        feed="rule-test",
        guid=str(index),
        link="",
        title=fields.title,
        summary=fields.summary,
        content=fields.content,
    )


def _run_rule_tests(reader: FileReader, entry: CommentedMap, tests: RuleTests, rule: Rule) -> None:
    """A rule's own tests: each `match` text must fire it and each `reject` text must not;
    a failure is an error at that text's line, so the rule is never run as it stands."""
    # explain evaluates the one rule directly (tests/rules/test_cases.py holds it to the
    # matcher), and already says what failed and what fired.
    for expected, examples in ((True, tests.match), (False, tests.reject)):
        for i, example in enumerate(examples):
            why = explain(rule, _example_story(example, i))
            if why.matched is expected:
                continue
            where = position(entry["tests"]["match" if expected else "reject"], i)
            if expected:
                failed = "; ".join(" ".join(p.split()) for p in why.failed)
                reader.problem(
                    *where,
                    f"rule test: {rule.id} does not match this text (not satisfied: {failed})",
                )
            else:
                terms = ", ".join(why.terms)
                reader.problem(*where, f"rule test: {rule.id} matches this text ({terms})")
