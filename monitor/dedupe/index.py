"""The window of live stories clustering compares with: term rarity, the inverted index
of clusters' terms, MinHash LSH buckets, and expiry in time order. Pure.

Everything here is counted over the live stories only and is undone when a story expires,
so its size follows the window, never the archive, and its contents are a function of the
live stories and their clusters (which is what lets `ClusterIndex.rebuild` restore it).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.dedupe.signature import Signature

if TYPE_CHECKING:
    from monitor.dedupe.cluster import ClusterItem

Band = tuple[int, tuple[int, ...]]  # (band number, the MinHash values of that band)


@dataclass(frozen=True, eq=False)
class LiveStory:
    """A placed story while it is in the window: the item, its signature, its cluster."""

    item: ClusterItem
    signature: Signature
    cluster_id: int


class StoryWindow:
    """The live stories and what is counted over them."""

    def __init__(self, bands: int, population: int) -> None:
        self._bands = bands
        self._population = population
        self._live: dict[str, LiveStory] = {}
        self._expiry: list[tuple[datetime, str]] = []  # a heap of (time, key)
        self._df: dict[str, int] = {}  # term → live stories that have it
        self._postings: dict[str, dict[int, int]] = {}  # term → cluster → its stories with it
        self._buckets: dict[Band, set[str]] = {}  # LSH band → keys of live stories

    def __len__(self) -> int:
        return len(self._live)

    def stories(self) -> Iterator[LiveStory]:
        """The live stories, in no particular order."""
        return iter(self._live.values())

    def _bands_of(self, sig: Signature) -> list[Band]:
        values = sig.minhash
        if not values:
            return []
        rows = max(1, len(values) // self._bands)
        return [(b, values[b * rows : (b + 1) * rows]) for b in range(len(values) // rows)]

    def add(self, item: ClusterItem, sig: Signature, cluster_id: int) -> LiveStory:
        """Hold a placed story until it expires."""
        live = LiveStory(item, sig, cluster_id)
        self._live[item.key] = live
        heapq.heappush(self._expiry, (item.time, item.key))
        for term, _ in sig.terms:
            self._df[term] = self._df.get(term, 0) + 1
            clusters = self._postings.setdefault(term, {})
            clusters[cluster_id] = clusters.get(cluster_id, 0) + 1
        for band in self._bands_of(sig):
            self._buckets.setdefault(band, set()).add(item.key)
        return live

    def expire(self, before: datetime) -> list[LiveStory]:
        """Let go of the stories older than `before`, and return them oldest first."""
        gone = []
        while self._expiry and self._expiry[0][0] < before:
            _, key = heapq.heappop(self._expiry)
            live = self._live.pop(key)
            gone.append(live)
            for term, _ in live.signature.terms:
                self._df[term] -= 1
                if not self._df[term]:
                    del self._df[term]
                clusters = self._postings[term]
                clusters[live.cluster_id] -= 1
                if not clusters[live.cluster_id]:
                    del clusters[live.cluster_id]
                if not clusters:
                    del self._postings[term]
            for band in self._bands_of(live.signature):
                bucket = self._buckets[band]
                bucket.discard(key)
                if not bucket:
                    del self._buckets[band]
        return gone

    def near_copies(self, sig: Signature) -> list[LiveStory]:
        """The live stories sharing an LSH band with the signature, by key."""
        keys: set[str] = set()
        for band in self._bands_of(sig):
            keys.update(self._buckets.get(band, ()))
        return [self._live[k] for k in sorted(keys)]

    def clusters_with(self, term: str) -> dict[int, int]:
        """The live clusters that have a term, each with how many of its stories do."""
        return self._postings.get(term, {})

    def weights(self, sig: Signature, *, placing: bool = False) -> dict[str, float]:
        """Each term's field weight times its rarity in the window, ln(1 + N / df).
        A story being placed is counted as if it were in the window already, so that it
        and the live stories are weighed over the same population. N is at least
        `population`: in a window of a few stories (a new install, a quiet desk) every
        word would look common, and the words one event's stories share the commonest."""
        extra = 1 if placing else 0
        stories = max(self._population, len(self._live) + 1)
        return {
            term: weight * math.log1p(stories / (self._df.get(term, 0) + extra or 1))
            for term, weight in sig.terms
        }

    def all_postings(self) -> Iterable[tuple[str, dict[int, int]]]:
        """The inverted index as it stands (for tests of expiry)."""
        return self._postings.items()
