"""Matching: stories against compiled watch rules → matches with the words that fired. Pure.

A story is indexed once (document.py), the presearcher (presearch.py) names the rules it
could fire, and only those are evaluated (evaluate.py). Each hit remembers its span, so
the alert can say which words matched, spelled as the story spells them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.models import Match, Story
from monitor.rules.document import Document
from monitor.rules.evaluate import evaluate, matched_terms
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
        self.index = RuleIndex([r.query for r in self.rules])

    @property
    def unindexed(self) -> tuple[str, ...]:
        """The ids of the rules the presearcher cannot index: checked on every story."""
        return tuple(self.rules[i].id for i in self.index.always)

    def match(self, story: Story) -> list[Match]:
        """Every rule that fires on the story, in rule order, with its matched words."""
        doc = Document.of(story)
        return [m for i in self.index.candidates(doc) if (m := match_rule(self.rules[i], doc))]

    def match_all(self, story: Story) -> list[Match]:
        """The same as `match`, evaluating every rule: what the presearcher must agree with."""
        doc = Document.of(story)
        return [m for rule in self.rules if (m := match_rule(rule, doc))]


def match_rule(rule: Rule, doc: Document) -> Match | None:
    """The match of one rule on an indexed story, or None."""
    hits = evaluate(rule.query, doc)
    if hits is None:
        return None
    return Match(rule.id, rule.name, matched_terms(doc, hits), rule.channels, rule.severity)
