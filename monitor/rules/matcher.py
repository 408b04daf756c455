"""Matching: stories against compiled watch rules → matches with the words that fired. Pure.

A story is indexed once (document.py), the presearcher (presearch.py) names the rules it
could fire, and only those are evaluated, each as a compiled query that answers as
`evaluate` does (evaluate.py). Each hit remembers its span, so the alert can say which words
matched, spelled as the story spells them.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.models import Match, Story
from monitor.rules.compiled import compile_query
from monitor.rules.document import Document, Hit
from monitor.rules.evaluate import ALL_FIELDS, evaluate, matched_terms
from monitor.rules.nodes import Node
from monitor.rules.presearch import RuleIndex


@dataclass(frozen=True)
class Rule:
    """A watch rule ready to match: its id, a human name, the parsed query, its channels
    and how urgent its alerts are (info, normal, high or urgent)."""

    id: str
    name: str
    query: Node
    channels: tuple[str, ...] = ()
    severity: str = "normal"


class Matcher:
    """Matches stories against a fixed set of rules."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        # Thousands of rules are a few hundred thousand small objects, all of them kept:
        # the collector would only scan them again and again while they are built.
        paused = gc.isenabled()
        gc.disable()
        try:
            self.index = RuleIndex([r.query for r in self.rules])
            self._compiled = [compile_query(r.query) for r in self.rules]
        finally:
            if paused:
                gc.enable()

    @property
    def unindexed(self) -> tuple[str, ...]:
        """The ids of the rules the presearcher cannot index: checked on every story."""
        return tuple(self.rules[i].id for i in self.index.always)

    def match(self, story: Story) -> list[Match]:
        """Every rule that fires on the story, in rule order, with its matched words."""
        doc = Document.of(story)
        found = self.index.candidates(doc)
        if not found:
            return []
        if self.index.asked_keys:
            doc.limit_keys(self.index.keyed(doc))
        compiled, rules = self._compiled, self.rules
        return [
            _match(rules[i], doc, hits)
            for i in found
            if (hits := compiled[i](doc, ALL_FIELDS)) is not None
        ]

    def match_all(self, story: Story) -> list[Match]:
        """The same as `match`, evaluating every rule: what the presearcher must agree with."""
        doc = Document.of(story)
        return [m for rule in self.rules if (m := match_rule(rule, doc))]


def match_rule(rule: Rule, doc: Document) -> Match | None:
    """The match of one rule on an indexed story, or None (the reference evaluation)."""
    hits = evaluate(rule.query, doc)
    return None if hits is None else _match(rule, doc, hits)


def _match(rule: Rule, doc: Document, hits: list[Hit]) -> Match:
    return Match(rule.id, rule.name, matched_terms(doc, hits), rule.channels, rule.severity)
