"""Text normalisation: feed HTML to plain text, folded words with their offsets, truncation."""

from __future__ import annotations

import pytest

from monitor.text import fold, fold_words, html_to_text, tokenize, truncate


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        pytest.param("<b>bold</b> and <i>it</i>alic", "bold and italic", id="inline-tags"),
        pytest.param("Mis<b>rata</b>", "Misrata", id="inline-tag-inside-a-word"),
        pytest.param('<a href="https://x.test/">link</a> text', "link text", id="attributes"),
        pytest.param('<img src="x.png" alt="a picture">word', "word", id="void-tag"),
        pytest.param("<!-- a comment -->text", "text", id="comment"),
    ],
)
def test_html_tags_are_dropped(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        pytest.param("Tom &amp; Jerry", "Tom & Jerry", id="amp"),
        pytest.param("5 &lt; 6 &gt; 4", "5 < 6 > 4", id="lt-gt"),
        pytest.param("Misr&#257;tah", "Misrātah", id="decimal"),
        pytest.param("Haftar&#x2019;s", "Haftar\u2019s", id="hex"),
        pytest.param("caf&eacute;", "café", id="named-accent"),
        pytest.param("a&nbsp;&nbsp;b", "a b", id="nbsp-is-a-space"),
    ],
)
def test_html_entities_are_decoded(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    "markup",
    [
        pytest.param("<script>alert('x')</script>Hi <style>p { color: red }</style>there", id="js"),
        pytest.param("<SCRIPT>var x = 1;</SCRIPT>Hi there", id="upper-case-script"),
        pytest.param("<head><title>Page</title></head><body>Hi there</body>", id="head"),
        pytest.param("<noscript>Enable JavaScript</noscript>Hi there", id="noscript"),
        pytest.param("<template><p>Later</p></template>Hi there", id="template"),
    ],
)
def test_scripts_styles_and_other_hidden_parts_are_skipped(markup: str) -> None:
    assert html_to_text(markup) == "Hi there"


def test_a_script_that_is_never_closed_hides_the_rest() -> None:
    assert html_to_text("<script>var x = '<p>Hi</p>';") == ""


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        pytest.param("<p>One</p><p>Two</p>", "One\n\nTwo", id="paragraphs"),
        pytest.param("<div><p>One</p></div><div>Two</div>", "One\n\nTwo", id="nested-blocks"),
        pytest.param("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo", id="list-items"),
        pytest.param("<h1>Title</h1>Body", "Title\nBody", id="heading"),
        pytest.param("line one<br>line two", "line one\nline two", id="br"),
        pytest.param("<p>a</p>\n\n\n\n<p>b</p>", "a\n\nb", id="at-most-one-blank-line"),
        pytest.param("<br><br><p>x</p><br>", "x", id="no-blank-lines-at-the-ends"),
    ],
)
def test_block_tags_end_lines(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize("br", ["<br/>", "<br />", "<BR />"])
def test_a_self_closing_br_breaks_a_line_like_br(br: str) -> None:
    # Feeds write <br /> as often as <br>; HTML makes no difference between them, so
    # neither should the text: one line break, not a blank line.
    assert html_to_text(f"line one{br}line two") == "line one\nline two"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        pytest.param("<p>unclosed <b>bold", "unclosed bold", id="unclosed-tags"),
        pytest.param("text</p> after</div>", "text\nafter", id="stray-end-tags"),
        pytest.param("a < b and c > d", "a < b and c > d", id="bare-angle-brackets"),
        pytest.param("<<>>", "<<>>", id="only-brackets"),
        pytest.param("AT&T & co", "AT&T & co", id="bare-ampersands"),
        pytest.param("&bogus; entity", "&bogus; entity", id="unknown-entity"),
    ],
)
def test_broken_html_still_gives_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_plain_text_has_its_spaces_collapsed() -> None:
    assert html_to_text("  plain \t text\u00a0 with   spaces ") == "plain text with spaces"


def test_plain_text_keeps_its_line_breaks() -> None:
    assert html_to_text("line one\nline two\n\n\n\nline three") == (
        "line one\nline two\n\nline three"
    )


def test_html_to_text_of_nothing_is_nothing() -> None:
    assert html_to_text("") == ""


def test_text_is_normalised_to_composed_characters() -> None:
    assert html_to_text("Misra\u0304tah") == "Misr\u0101tah"
    assert html_to_text("<p>Misra\u0304tah</p>") == "Misr\u0101tah"


@pytest.mark.parametrize(
    "markup",
    [
        pytest.param("Mis&shy;rata", id="entity"),
        pytest.param("<p>Mis&#173;rata</p>", id="numeric-entity"),
        pytest.param("Mis\u00adrata", id="character"),
    ],
)
def test_a_soft_hyphen_is_dropped_so_the_word_stays_whole(markup: str) -> None:
    # A soft hyphen is an invisible hint where a line may break. Kept, it splits the word
    # for matching: "Misrata" would not match a story that shows "Misrata".
    assert html_to_text(markup) == "Misrata"


@pytest.mark.parametrize(
    ("word", "folded"),
    [
        pytest.param("MISRATA", "misrata", id="upper-case"),
        pytest.param("Misrātah", "misratah", id="macron"),
        pytest.param("Misra\u0304tah", "misratah", id="decomposed-macron"),
        pytest.param("Qaddāhiya", "qaddahiya", id="long-a"),
        pytest.param("Straße", "strasse", id="sharp-s"),
        pytest.param("İstanbul", "istanbul", id="dotted-capital-i"),
        pytest.param("ﬁnal", "final", id="ligature"),
        pytest.param("لِيبِيَا", "ليبيا", id="arabic-harakat"),
        pytest.param("أحمد", "احمد", id="arabic-hamza-on-alef"),
    ],
)
def test_fold_drops_case_and_accents(word: str, folded: str) -> None:
    assert fold(word) == folded


def test_tokens_are_folded_words() -> None:
    tokens = tokenize("Libya's cease-fire, Misrātah!")
    assert [t.folded for t in tokens] == ["libya", "s", "cease", "fire", "misratah"]


def test_token_offsets_point_at_the_word_in_the_original_text() -> None:
    text = "  Haftar\u2019s forces near MISRĀTAH\n(Libya)"
    assert [text[t.start : t.end] for t in tokenize(text)] == [
        "Haftar",
        "s",
        "forces",
        "near",
        "MISRĀTAH",
        "Libya",
    ]


@pytest.mark.parametrize(
    "word",
    [
        pytest.param("لِيبِيَا", id="arabic-harakat"),
        pytest.param("Misra\u0304tah", id="decomposed-latin"),
        pytest.param("हिन्दी", id="devanagari-vowel-signs"),
    ],
)
def test_a_word_with_combining_marks_is_one_token(word: str) -> None:
    text = f"in {word} today"
    [_, token, _] = tokenize(text)
    assert text[token.start : token.end] == word
    assert token.folded == fold(word)


def test_a_text_without_words_has_no_tokens() -> None:
    assert tokenize("") == []
    assert tokenize(" -- ... !? ") == []


def test_fold_words_folds_the_words_as_tokenize_does() -> None:
    text = "Al-Qaddahiya near Misrātah"
    assert (
        fold_words(text)
        == [t.folded for t in tokenize(text)]
        == [
            "al",
            "qaddahiya",
            "near",
            "misratah",
        ]
    )


def test_truncate_leaves_text_within_the_limit_alone() -> None:
    assert truncate("hello world", 20) == "hello world"
    assert truncate("hello world", 11) == "hello world"


def test_truncate_cuts_at_a_word_boundary_when_one_is_near() -> None:
    assert truncate("aaaa bbbb cccc dddd eeee", 22) == "aaaa bbbb cccc dddd…"


def test_truncate_cuts_inside_a_word_when_no_boundary_is_near() -> None:
    assert truncate("abcdefghijklmnopqrstuvwxyz", 10) == "abcdefghi…"


def test_truncate_does_not_leave_a_space_before_the_ellipsis() -> None:
    assert truncate("hello world", 7) == "hello…"


@pytest.mark.parametrize("limit", range(1, 40))
def test_truncate_never_exceeds_its_limit(limit: int) -> None:
    text = "Libya's fragile ceasefire is broken once again"
    cut = truncate(text, limit)
    assert len(cut) <= limit
    assert cut.endswith("…")
    assert text.startswith(cut[:-1])
