"""Story identity as pure code: the keys a story has, and which found keys make it a repeat."""

from __future__ import annotations

import pytest

from monitor.dedupe import IdentityKey, KeyKind, identity_keys, is_repeat
from monitor.models import Story


def story(feed: str, guid: str, link: str) -> Story:
    return Story(feed=feed, guid=guid, link=link, title="t")


@pytest.mark.parametrize(
    ("item", "keys"),
    [
        (
            story("bbc", "g1", "https://Ex.org/a?utm_source=rss#top"),
            [
                (KeyKind.GUID, "bbc\x1fg1"),
                (KeyKind.POST, "bbc\x1fhttps://ex.org/a#top"),
                (KeyKind.LINK, "https://ex.org/a"),
            ],
        ),
        (story("bbc", "g1", ""), [(KeyKind.GUID, "bbc\x1fg1")]),
        (
            story("bbc", "g1", "https://ex.org/a"),
            [
                (KeyKind.GUID, "bbc\x1fg1"),
                (KeyKind.POST, "bbc\x1fhttps://ex.org/a#"),
                (KeyKind.LINK, "https://ex.org/a"),
            ],
        ),
    ],
    ids=["tracked-link-with-fragment", "no-link", "plain-link"],
)
def test_identity_keys(item: Story, keys: list[tuple[KeyKind, str]]) -> None:
    assert identity_keys(item) == tuple(IdentityKey(kind, value) for kind, value in keys)


LIVE = story("bbc", "p2", "https://ex.org/live#post-2")


@pytest.mark.parametrize(
    ("item", "found", "repeat"),
    [
        (LIVE, {}, False),
        (LIVE, {IdentityKey(KeyKind.GUID, "bbc\x1fp2"): "bbc"}, True),
        (LIVE, {IdentityKey(KeyKind.POST, "bbc\x1fhttps://ex.org/live#post-2"): "bbc"}, True),
        # another post of the same live page, in the same feed: a new post
        (LIVE, {IdentityKey(KeyKind.LINK, "https://ex.org/live"): "bbc"}, False),
        # the same page first carried by another feed: a repeat
        (LIVE, {IdentityKey(KeyKind.LINK, "https://ex.org/live"): "guardian"}, True),
    ],
    ids=["nothing-found", "same-guid", "same-post", "own-link", "other-feeds-link"],
)
def test_is_repeat(item: Story, found: dict[IdentityKey, str], repeat: bool) -> None:
    assert is_repeat(item, found) is repeat
