"""The query language: text → syntax tree, and a QueryError that names the column."""

from __future__ import annotations

import time

import pytest

from monitor.errors import QueryError
from monitor.rules import names
from monitor.rules.nodes import (
    MAX_DEPTH,
    And,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Place,
    Scope,
    Term,
    positive_terms,
)
from monitor.rules.places import PlaceNames
from monitor.rules.syntax import parse_query


def parse(query: str) -> Node:
    """The tree of a query that must parse."""
    return parse_query(query).node


def test_adjacent_words_are_anded() -> None:
    assert parse("Libya Tripoli") == And((Term("libya"), Term("tripoli")))


def test_an_explicit_and_means_the_same_as_adjacency() -> None:
    assert parse("Libya AND Tripoli") == parse("Libya Tripoli")


def test_or_joins_alternatives() -> None:
    assert parse("Benghazi OR Sirte") == Or((Term("benghazi"), Term("sirte")))


def test_a_chain_of_ors_is_one_flat_or() -> None:
    assert parse("a OR b OR c") == Or((Term("a"), Term("b"), Term("c")))


def test_and_binds_tighter_than_or() -> None:
    assert parse("a OR b c") == Or((Term("a"), And((Term("b"), Term("c")))))
    assert parse("a AND b OR c AND d") == Or(
        (And((Term("a"), Term("b"))), And((Term("c"), Term("d"))))
    )


def test_parentheses_group_an_or_inside_an_and() -> None:
    assert parse("(a OR b) c") == And((Or((Term("a"), Term("b"))), Term("c")))


def test_redundant_parentheses_leave_no_trace() -> None:
    assert parse("((Libya))") == Term("libya")


def test_not_negates_the_term_after_it() -> None:
    assert parse("Libya NOT Lebanon") == And((Term("libya"), Not(Term("lebanon"))))


def test_not_can_negate_a_group() -> None:
    assert parse("x NOT (a OR b)") == And((Term("x"), Not(Or((Term("a"), Term("b"))))))


def test_a_leading_minus_negates_like_not() -> None:
    assert parse("Libya -Lebanon") == And((Term("libya"), Not(Term("lebanon"))))
    assert parse("Libya -Lebanon") == parse("Libya NOT Lebanon")


def test_a_leading_minus_can_negate_a_group_or_a_phrase() -> None:
    assert parse("x -(a OR b)") == parse("x NOT (a OR b)")
    assert parse('x -"cease fire"') == And((Term("x"), Not(Phrase(("cease", "fire")))))


def test_or_may_be_followed_by_not() -> None:
    assert parse("a OR NOT b") == Or((Term("a"), Not(Term("b"))))


def test_a_quoted_phrase_keeps_its_words_in_order() -> None:
    assert parse('"fighting resumed"') == Phrase(("fighting", "resumed"))


def test_a_quoted_single_word_is_a_plain_term() -> None:
    assert parse('"Libya"') == Term("libya")


def test_a_phrase_may_touch_the_word_before_it() -> None:
    assert parse('Libya"cease fire"') == And((Term("libya"), Phrase(("cease", "fire"))))


def test_unquoted_words_are_separate_terms_not_a_phrase() -> None:
    assert parse("Abu Qurayn") == And((Term("abu"), Term("qurayn")))


def test_a_trailing_star_makes_a_prefix_term() -> None:
    assert parse("Libya*") == Term("libya", prefix=True)


def test_a_prefix_of_three_letters_is_allowed() -> None:
    assert parse("vio*") == Term("vio", prefix=True)


def test_a_trailing_tilde_asks_for_the_spellings_of_a_name() -> None:
    assert parse("Misrata~") == Term("misrata", spelling=True)


@pytest.mark.parametrize(
    ("query", "tolerance"),
    [
        pytest.param("Misrata~0", 0, id="tilde-0"),
        pytest.param("Misrata~1", 1, id="tilde-1"),
        pytest.param("Misrata~2", 2, id="tilde-2"),
    ],
)
def test_a_tilde_with_a_digit_sets_the_tolerance(query: str, tolerance: int) -> None:
    assert parse(query) == Term("misrata", spelling=True, tolerance=tolerance)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        pytest.param("cease-fire", ("cease", "fire"), id="cease-fire"),
        pytest.param("Al-Qaddahiya", ("al", "qaddahiya"), id="Al-Qaddahiya"),
        pytest.param("U.N.", ("u", "n"), id="dotted-initials"),
    ],
)
def test_a_bare_word_that_folds_to_several_words_is_a_phrase(
    query: str, words: tuple[str, ...]
) -> None:
    assert parse(query) == Phrase(words)


def test_a_hyphenated_word_means_the_same_as_the_quoted_phrase() -> None:
    assert parse("cease-fire") == parse('"cease fire"')


def test_a_minus_inside_a_word_is_not_a_not() -> None:
    assert parse("x -cease-fire") == And((Term("x"), Not(Phrase(("cease", "fire")))))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "Libya and Tripoli",
            And((Term("libya"), Term("and"), Term("tripoli"))),
            id="lower-and-is-a-word",
        ),
        pytest.param("not Libya", And((Term("not"), Term("libya"))), id="lower-not-is-a-word"),
        pytest.param("Or", Term("or"), id="title-case-or-is-a-word"),
        pytest.param("Libya ANDY", And((Term("libya"), Term("andy"))), id="ANDY-is-a-word"),
    ],
)
def test_only_upper_case_operators_are_operators(query: str, expected: object) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize(
    ("query", "word"),
    [
        pytest.param("MISRATA", "misrata", id="upper-case"),
        pytest.param("Misrātah", "misratah", id="macron"),
        pytest.param("لِيبِيَا", "ليبيا", id="arabic-harakat"),
    ],
)
def test_query_words_are_folded_for_case_and_accents(query: str, word: str) -> None:
    assert parse(query) == Term(word)


def test_tabs_and_newlines_separate_words_like_spaces() -> None:
    assert parse("Libya\tAND\nTripoli") == And((Term("libya"), Term("tripoli")))


def test_positive_terms_leave_out_what_is_negated() -> None:
    query = parse('(Libya OR "cease fire") NOT Lebanon -Egypt Sirt*')
    assert positive_terms(query) == [
        Term("libya"),
        Phrase(("cease", "fire")),
        Term("sirt", prefix=True),
    ]


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        pytest.param('"cease fire', 1, "unclosed quote", id="unclosed-quote"),
        pytest.param('Libya "cease', 7, "unclosed quote", id="unclosed-quote-after-a-word"),
        pytest.param('"a" "b', 5, "unclosed quote", id="second-quote-unclosed"),
        pytest.param("Libya)", 6, "unmatched ')'", id="unmatched-rparen"),
        pytest.param("a) OR (b", 2, "unmatched ')'", id="rparen-before-lparen"),
        pytest.param("(a))", 4, "unmatched ')'", id="one-rparen-too-many"),
        pytest.param("Libya OR )", 10, "unmatched ')'", id="rparen-after-or"),
        pytest.param("(Libya", 1, "'(' is never closed", id="lparen-never-closed"),
        pytest.param("x (a OR b", 3, "'(' is never closed", id="lparen-after-a-word"),
        pytest.param("(a OR (b c)", 1, "'(' is never closed", id="outer-lparen-never-closed"),
        pytest.param("", 1, "empty", id="empty-query"),
        pytest.param("   ", 1, "empty", id="blank-query"),
        pytest.param("()", 1, "empty parentheses", id="empty-parentheses"),
        pytest.param("( )", 1, "empty parentheses", id="blank-parentheses"),
        pytest.param("Libya AND ()", 11, "empty parentheses", id="empty-parentheses-after-and"),
        pytest.param("Libya AND", 10, "ends where a word was expected", id="and-at-the-end"),
        pytest.param("Libya OR", 9, "ends where a word was expected", id="or-at-the-end"),
        pytest.param("Libya NOT", 10, "ends where a word was expected", id="not-at-the-end"),
        pytest.param("NOT", 4, "ends where a word was expected", id="not-alone"),
        pytest.param("AND Libya", 1, "AND needs a word on each side", id="and-at-the-start"),
        pytest.param("a AND OR b", 7, "OR needs a word on each side", id="and-then-or"),
        pytest.param("*", 1, "no letters or digits", id="lone-star"),
        pytest.param("Libya *", 7, "no letters or digits", id="star-after-a-word"),
        pytest.param("Libya -", 8, "ends where a word was expected", id="lone-minus"),
        pytest.param('""', 1, "at least one word", id="empty-phrase"),
        pytest.param("l*", 1, "3 letters", id="one-letter-prefix"),
        pytest.param("Libya vi*", 7, "at least 3 letters before *: 'vi*'", id="two-letter-prefix"),
        pytest.param("cease-fire*", 1, "single word", id="prefix-of-a-phrase"),
        pytest.param("cease-fire~", 1, "single word", id="fuzz-of-a-phrase"),
    ],
)
def test_a_bad_query_raises_query_error_at_its_column(
    query: str, column: int, message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.column == column
    assert message in caught.value.message


def test_a_query_error_reads_with_its_column_first() -> None:
    with pytest.raises(QueryError, match=r"^column 10: "):
        parse("Libya AND")


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("Lib*ya", id="star-inside-a-word"),
        pytest.param("Mis~rata", id="tilde-inside-a-word"),
        pytest.param("Misrata~x", id="tilde-then-letter"),
        pytest.param("Misrata~10", id="tilde-then-two-digits"),
        pytest.param("Libya*~", id="star-then-tilde"),
        pytest.param("Libya~*", id="tilde-then-star"),
    ],
)
def test_a_star_or_tilde_anywhere_but_the_end_of_a_word_is_an_error(query: str) -> None:
    # Otherwise the stray character is read as a word break and the query silently
    # becomes a phrase ("Misrata~10" → "misrata 10") or loses its * or ~.
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.column == 1


def test_a_lone_tilde_is_reported_as_a_tilde() -> None:
    with pytest.raises(QueryError) as caught:
        parse("Libya ~")
    assert caught.value.column == 7
    assert "'~'" in caught.value.message


# Nesting depth and length


def _nested_parentheses(levels: int) -> str:
    return "(" * levels + "Libya" + ")" * levels


def _nested_nots(levels: int) -> Node:
    node: Node = Term("libya")
    for _ in range(levels):
        node = Not(node)
    return node


def test_parentheses_may_nest_64_levels_deep() -> None:
    assert MAX_DEPTH == 64
    assert parse(_nested_parentheses(64)) == Term("libya")


def test_not_may_nest_64_levels_deep() -> None:
    assert parse("x " + "NOT " * 64 + "Libya") == And((Term("x"), _nested_nots(64)))


@pytest.mark.parametrize(
    ("query", "column", "what"),
    [
        pytest.param(_nested_parentheses(65), 65, "'('", id="65-parentheses"),
        # It used to raise RecursionError, which nothing caught: one rule stopped the daemon.
        pytest.param(_nested_parentheses(1500), 65, "'('", id="1500-parentheses"),
        pytest.param("(" * 100_000, 65, "'('", id="unclosed-and-deep"),
        pytest.param("x " + _nested_parentheses(65), 67, "'('", id="after-a-word"),
        pytest.param("NOT " * 65 + "Libya", 257, "NOT", id="65-nots"),
        # Each NOT and each '(' is a level: level 65 is the 33rd NOT, at 1 + 32 * len("NOT (").
        pytest.param("NOT (" * 40 + "Libya" + ")" * 40, 161, "NOT", id="nots-and-parentheses"),
        pytest.param("-(" * 40 + "Libya" + ")" * 40, 65, "'-'", id="minuses-and-parentheses"),
    ],
)
def test_nesting_deeper_than_64_levels_is_a_query_error_at_the_opener(
    query: str, column: int, what: str
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.column == column
    assert caught.value.message == f"{what} is nested more than 64 levels deep"


def test_closed_groups_give_their_depth_back() -> None:
    # Depth is how many are open at once, not how many the query has.
    query = " OR ".join([_nested_parentheses(60)] * 100)
    assert parse(query) == Or(tuple([Term("libya")] * 100))


@pytest.mark.parametrize(
    ("joiner", "kind"),
    [pytest.param(" OR ", Or, id="or"), pytest.param(" ", And, id="and")],
)
def test_a_long_flat_query_parses_without_depth(joiner: str, kind: type[And | Or]) -> None:
    # Each further OR or AND term is read in a loop, so length costs no recursion.
    words = [f"w{i}" for i in range(5000)]
    started = time.perf_counter()

    node = parse(joiner.join(words))

    assert isinstance(node, kind)
    assert node.children == tuple(Term(w) for w in words)
    # About 0.03 s here; the bound only catches a parser gone quadratic.
    assert time.perf_counter() - started < 2.0


# NEAR/n and ONEAR/n, field scopes, @place, and what the parser warns about.


def test_near_takes_a_distance_and_either_order() -> None:
    assert parse("Haftar NEAR/3 Sirte") == Near(Term("haftar"), Term("sirte"), 3)


def test_onear_wants_the_left_side_first() -> None:
    assert parse("Haftar ONEAR/3 Sirte") == Near(Term("haftar"), Term("sirte"), 3, ordered=True)


def test_near_binds_tighter_than_and_and_takes_groups() -> None:
    assert parse("Libya (ceasefire OR truce) NEAR/5 broken") == And(
        (Term("libya"), Near(Or((Term("ceasefire"), Term("truce"))), Term("broken"), 5))
    )


def test_a_near_chain_nests_to_the_left() -> None:
    assert parse("a NEAR/1 b NEAR/2 c") == Near(Near(Term("a"), Term("b"), 1), Term("c"), 2)


def test_a_field_scope_restricts_a_group_a_phrase_or_a_word() -> None:
    assert parse('title:(Libya OR "cease fire") summary:Sirte') == And(
        (
            Scope("title", Or((Term("libya"), Phrase(("cease", "fire"))))),
            Scope("summary", Term("sirte")),
        )
    )


MISRATA = PlaceNames("misrata", ("Misratah", "Masrata", "مصراتة", "Misrata City"))


def test_a_place_is_every_name_of_its_set_each_spelling_tolerant() -> None:
    assert parse_query("@misrata", places={"misrata": MISRATA}).node == Place(
        "misrata",
        (
            Term("misratah", spelling=True),
            Term("masrata", spelling=True),
            Term("مصراتة", spelling=True),
            Phrase(("misrata", "city"), spelling=True),
        ),
    )


def test_a_tilde_term_carries_the_curated_variants_of_its_name() -> None:
    term = parse("Abugrein~")
    assert isinstance(term, Term)
    assert term.variants == tuple(tuple(v.split()) for v in names.curated_variants("abugrein"))
    assert ("abu", "qurayn") in term.variants


def test_each_node_keeps_the_query_text_it_came_from() -> None:
    node = parse('(Libya OR Haftar~) AND (ceasefire OR "cease-fire") NOT title:(football)')
    assert isinstance(node, And)
    assert [child.source for child in node.children] == [
        "(Libya OR Haftar~)",
        '(ceasefire OR "cease-fire")',
        "NOT title:(football)",
    ]


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        pytest.param(
            "Haftar NEAR Sirte", 8, "NEAR needs a distance in words, e.g. NEAR/5", id="near"
        ),
        pytest.param("a NEAR/0 b", 3, "NEAR needs a distance", id="near-0"),
        pytest.param("a NEAR/x b", 3, "NEAR needs a distance", id="near-x"),
        pytest.param("a ONEAR/ b", 3, "ONEAR needs a distance", id="onear-slash"),
        pytest.param("a NEAR/3 NOT b", 3, "needs a word or phrase on each side", id="near-not"),
        pytest.param("a NEAR/3", 9, "ends where a word was expected", id="near-at-the-end"),
        pytest.param("NEAR/3 a", 1, "NEAR/3 needs a word on each side", id="near-at-the-start"),
        pytest.param("body:(Libya)", 1, "unknown field 'body'", id="unknown-field"),
        pytest.param("title:NOT a", 1, "title: needs a word", id="scope-of-not"),
        pytest.param("Libya @sirte", 7, "unknown place '@sirte'", id="unknown-place"),
        pytest.param("NOT Lebanon", 1, "only by what a story lacks", id="not-alone"),
        pytest.param("-Lebanon -Syria", 1, "only by what a story lacks", id="minuses-alone"),
        pytest.param("NOT (a OR b)", 1, "only by what a story lacks", id="not-group"),
        pytest.param("title:(NOT a)", 1, "only by what a story lacks", id="scoped-not"),
    ],
)
def test_a_bad_operator_field_or_place_is_a_query_error_at_its_column(
    query: str, column: int, message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query, places={"misrata": MISRATA})
    assert caught.value.column == column
    assert message in caught.value.message


def test_an_unknown_place_lists_the_known_ones() -> None:
    with pytest.raises(QueryError, match=r"places are @misrata$"):
        parse_query("@sirte", places={"misrata": MISRATA})


@pytest.mark.parametrize(
    ("query", "warnings"),
    [
        pytest.param(
            "Misrata or Benghazi",
            [(9, "lower-case 'or' is a word here; write OR to mean either")],
            id="or",
        ),
        pytest.param(
            "Libya and Egypt",
            [(7, "lower-case 'and' is a word here; write AND to mean both")],
            id="and",
        ),
        pytest.param("Libya not Egypt", [(7, "lower-case 'not' is a word here")], id="not"),
        pytest.param("Haftar near/8 Sirte", [(8, "write NEAR/n")], id="near-slash"),
        pytest.param("Tripoli - Lebanon", [(9, "a lone '-' is read as NOT")], id="lone-dash"),
        pytest.param("What~ Libya", [(1, "'What' is a common English word")], id="common~"),
        pytest.param("or Benghazi", [], id="or-first-is-just-a-word"),
        pytest.param("Misrata OR Benghazi", [], id="upper-case-is-fine"),
        pytest.param('"rock and roll"', [], id="inside-a-phrase"),
        pytest.param("Haftar~", [], id="a-name"),
    ],
)
def test_what_an_operator_probably_did_not_mean_is_a_warning_not_a_refusal(
    query: str, warnings: list[tuple[int, str]]
) -> None:
    parsed = parse_query(query)
    assert len(parsed.warnings) == len(warnings)
    for warning, (column, message) in zip(parsed.warnings, warnings, strict=True):
        assert warning.column == column
        assert message in warning.message


def test_a_lower_case_or_stays_a_word_and_a_lone_dash_a_not() -> None:
    assert parse("Misrata or Benghazi") == And((Term("misrata"), Term("or"), Term("benghazi")))
    assert parse("Tripoli - Lebanon") == parse("Tripoli NOT Lebanon")
