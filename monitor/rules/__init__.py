"""Watch rules: the query language, the indexed story, evaluation, the presearcher, the
matcher and explain. `names` (what `name~` means) and `places` (place sets) feed the parser.
"""

from monitor.rules.explain import Explanation, Hit, explain
from monitor.rules.matcher import Matcher, Rule
from monitor.rules.nodes import Node
from monitor.rules.syntax import ParsedQuery, QueryWarning, parse_query

__all__ = [
    "Explanation",
    "Hit",
    "Matcher",
    "Node",
    "ParsedQuery",
    "QueryWarning",
    "Rule",
    "explain",
    "parse_query",
]
