"""The TEXT identity key: items with neither guid nor link are known by their words."""

from __future__ import annotations

import pytest

from monitor.dedupe import KeyKind, identity_keys, text_key
from monitor.dedupe.identity import normalised_text
from monitor.models import Story


def item(
    title: str, summary: str = "", *, guid: str = "", link: str = "", feed: str = "f"
) -> Story:
    return Story(feed=feed, guid=guid, link=link, title=title, summary=summary)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (item("Clashes in Tripoli", "Two dead."), item("Clashes in Tripoli", "Two dead."), True),
        (item("Clashes in  TRIPOLI", "Two dead"), item("clashes in tripoli", "two  dead."), True),
        (item("Clashes in Tripolí", "x"), item("Clashes in Tripoli", "x"), True),
        (item("Fish &amp; chips", "x"), item("Fish & chips", "x"), True),
        (item("Clashes", "Two dead in town…"), item("Clashes", "Two dead in town"), True),
        (item("Clashes in Tripoli", "Two dead"), item("Clashes in Tripoli", "Three dead"), False),
        (item("Clashes in", "Tripoli two dead"), item("Clashes in Tripoli", "two dead"), False),
        (item("Clashes", "x", feed="a"), item("Clashes", "x", feed="b"), False),
    ],
    ids=[
        "same-words",
        "case-and-spacing",
        "accents",
        "entities",
        "cut-summary-ellipsis",
        "other-words",
        "title-summary-boundary",
        "other-feed",
    ],
)
def test_text_keys_meet_when_the_words_do(a: Story, b: Story, same: bool) -> None:
    key_a, key_b = text_key(a), text_key(b)
    assert key_a is not None and key_b is not None
    assert key_a.kind is KeyKind.TEXT
    assert (key_a == key_b) is same


@pytest.mark.parametrize(
    ("story", "has_key"),
    [
        (item("t"), True),  # no guid, no link
        (item("t", guid="sha1:0123abcd"), True),  # parse.py's guid for such an item
        (item("t", guid="urn:uuid:1"), False),  # a guid of its own
        (item("t", link="https://ex.org/a"), False),
        (item("t", guid="https://ex.org/a", link="https://ex.org/a"), False),
        (item("", ""), False),  # no words: nothing to know it by
    ],
    ids=["bare", "synthetic-guid", "own-guid", "link", "guid-and-link", "empty"],
)
def test_only_items_without_guid_and_link_have_a_text_key(story: Story, has_key: bool) -> None:
    assert (text_key(story) is not None) is has_key


def test_a_story_without_guid_or_link_is_stored_under_its_text_key() -> None:
    story = item("Clashes in Tripoli", guid="sha1:0123")
    key = text_key(story)
    assert key is not None and key.value.startswith("f\x1f")
    assert key in identity_keys(story)
    linked = item("Clashes in Tripoli", guid="sha1:0123", link="https://ex.org/a")
    assert all(k.kind is not KeyKind.TEXT for k in identity_keys(linked))


def test_normalised_text_keeps_title_and_summary_apart() -> None:
    assert normalised_text("Clashes in", "Tripoli") != normalised_text("Clashes in Tripoli", "")
    assert normalised_text("Misrātah: Clashes!", "") == "misratah clashes \x1f"
