"""What the poller remembers of each feed's last document, so a steady cycle skips what it
has already handled. In memory only: after a restart the first poll reads everything."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.models import ParsedFeed, Story


def _story_key(story: Story) -> int:
    return hash((story.guid, story.title))


class LastPolls:
    """Per feed: the (guid, title) of the stories its last document held, and the digests
    of that document's items (`feeds.items.item_digests`), each mapped to its story's key."""

    def __init__(self) -> None:
        # A story among a feed's last ones was checked against the store then, and a repeat
        # of a feed's own guid is a repeat (dedupe.is_repeat): only new items reach the store.
        self._stories: dict[str, frozenset[int]] = {}
        # An item repeated byte for byte is left out before feedparser reads it.
        self._items: dict[str, dict[int, int]] = {}

    def item_digests(self, feed: str) -> frozenset[int]:
        """The digests of the feed's last document's items, for parse to leave out."""
        return frozenset(self._items.get(feed, ()))

    def fresh(self, feed: str, stories: Sequence[Story]) -> list[Story]:
        """The stories new to this feed, or re-titled, since its last document."""
        known = self._stories.get(feed, frozenset())
        return [s for s in stories if _story_key(s) not in known]

    def remember(self, feed: str, parsed: ParsedFeed) -> None:
        """What the next poll of this feed may skip: its stories, and its items' digests,
        those left out this time included. Call only once the stories are stored."""
        items = self._items.get(feed, {})
        keys = [_story_key(s) for s in parsed.stories]
        carried = {d: items[d] for d in parsed.repeated if d in items}
        self._stories[feed] = frozenset(keys).union(carried.values())
        # Without a digest for every story (items not told apart), nothing is skipped next time.
        aligned = len(parsed.digests) == len(parsed.stories)
        self._items[feed] = (
            carried | dict(zip(parsed.digests, keys, strict=True)) if aligned else {}
        )
