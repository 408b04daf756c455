"""The window of live stories clustering compares with: term rarity, the inverted index
of clusters' terms, each cluster's centroid, MinHash LSH buckets, and expiry in time order.
Pure.

Everything here is counted over the live stories only and is undone when a story expires,
so its size follows the window, never the archive, and its contents are a function of the
live stories and their clusters (which is what lets `ClusterIndex.rebuild` restore it).

**Rarity in whole steps.** A term's weight is its field weight (1, 1.5, 2 or 3: a title
word, a name) times its rarity *level*, `round(LEVEL_STEPS * ln(1 + population / df))`, an
integer. So every centroid coordinate is a multiple of 1/2 and every squared norm and dot
product a multiple of 1/4: float arithmetic on them is exact, in any order. That is what
lets a cluster's squared norm be kept up to date by adding and subtracting (a member joins
or leaves, a term's level moves) and still equal, to the last bit, the sum an index rebuilt
from the same stories computes; a placing then compares a story with a centroid in one
pass over the story's own terms, whatever the size of the cluster or the window. A term's
level moves only when its count crosses a step, and the steps are geometric in the count,
so the clusters to update then (those with the term) are few on average.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.dedupe.signature import Signature

if TYPE_CHECKING:
    from monitor.dedupe.cluster import ClusterItem

Band = tuple[int, tuple[int, ...]]  # (band number, the MinHash values of that band)
LEVEL_STEPS = 2  # rarity levels per unit of ln(1 + N / df): whole, and few moves


@dataclass(frozen=True, eq=False)
class LiveStory:
    """A placed story while it is in the window: the item, its signature, its cluster."""

    item: ClusterItem
    signature: Signature
    cluster_id: int


@dataclass(eq=False)
class Centroid:
    """The sum of a cluster's live stories' field weights per term, and the squared norm of
    that sum with every term at its rarity level (kept exact, see the module notes)."""

    sums: dict[str, float] = field(default_factory=dict)
    norm2: float = 0.0


class StoryWindow:
    """The live stories and what is counted over them."""

    def __init__(self, bands: int, population: int) -> None:
        self._bands = bands
        self._population = population
        self._live: dict[str, LiveStory] = {}
        self._expiry: list[tuple[datetime, str]] = []  # a heap of (time, key)
        self._df: dict[str, int] = {}  # term → live stories that have it
        self._postings: dict[str, dict[int, int]] = {}  # term → cluster → its stories with it
        self._centroids: dict[int, Centroid] = {}
        self._buckets: dict[Band, set[str]] = {}  # LSH band → keys of live stories
        self._levels: list[int] = [0]  # level of a count, grown as counts grow
        self._holders: dict[str, set[str]] = {}  # term → keys of the live stories with it
        # A live story's weights and squared norm, while none of its terms changes level.
        self._vectors: dict[str, tuple[dict[str, float], float]] = {}

    def __len__(self) -> int:
        return len(self._live)

    def stories(self) -> Iterator[LiveStory]:
        """The live stories, in no particular order."""
        return iter(self._live.values())

    def level(self, df: int) -> int:
        """The rarity level of a term that `df` live stories have (0 for none)."""
        levels = self._levels
        while len(levels) <= df:
            levels.append(round(LEVEL_STEPS * math.log1p(self._population / len(levels))))
        return levels[df]

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
        self._count(sig, cluster_id, +1)
        for term, _ in sig.terms:
            self._holders.setdefault(term, set()).add(item.key)
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
            self._count(live.signature, live.cluster_id, -1)
            self._vectors.pop(key, None)
            for term, _ in live.signature.terms:
                holders = self._holders[term]
                holders.discard(key)
                if not holders:
                    del self._holders[term]
            for band in self._bands_of(live.signature):
                bucket = self._buckets[band]
                bucket.discard(key)
                if not bucket:
                    del self._buckets[band]
        return gone

    def _count(self, sig: Signature, cluster_id: int, step: int) -> None:
        """Count a story's terms in (`step` +1) or out (-1) of the window and its cluster's
        centroid, moving the squared norms of the clusters whose terms change level."""
        df, postings, centroids = self._df, self._postings, self._centroids
        centroid = centroids.get(cluster_id)
        if centroid is None:
            centroid = centroids[cluster_id] = Centroid()
        sums = centroid.sums
        for term, weight in sig.terms:
            before = df.get(term, 0)
            after = before + step
            old, new = self.level(before), self.level(after)
            clusters = postings.get(term)
            if clusters is None:
                clusters = postings[term] = {}
            if old != new:
                for key in self._holders.get(term, ()):
                    self._vectors.pop(key, None)
                change = new * new - old * old
                for other in clusters:
                    value = centroids[other].sums[term]
                    centroids[other].norm2 += value * value * change
            value = sums.get(term, 0.0)
            moved = value + step * weight
            centroid.norm2 += (moved * moved - value * value) * new * new
            members = clusters.get(cluster_id, 0) + step
            if members:
                clusters[cluster_id] = members
                sums[term] = moved
            else:
                del clusters[cluster_id]
                del sums[term]
            if after:
                df[term] = after
            else:
                del df[term]
                del postings[term]
        if not sums:
            del centroids[cluster_id]

    def near_copies(self, sig: Signature) -> list[LiveStory]:
        """The live stories sharing an LSH band with the signature, by key."""
        keys: set[str] = set()
        for band in self._bands_of(sig):
            keys.update(self._buckets.get(band, ()))
        return [self._live[k] for k in sorted(keys)]

    def clusters_with(self, term: str) -> dict[int, int]:
        """The live clusters that have a term, each with how many of its stories do."""
        return self._postings.get(term, {})

    def centroid(self, cluster_id: int) -> Centroid:
        """A live cluster's centroid."""
        return self._centroids[cluster_id]

    def weights(self, sig: Signature, *, placing: bool = False) -> dict[str, float]:
        """Each term's field weight times its rarity level in the window. A story being
        placed is counted as if it were in the window already, so that it and the live
        stories are weighed over the same population. The population is fixed
        (`ClusterConfig.population`, about one busy window's stories): in a window of a
        few stories (a new install, a quiet desk) every word would look common, and a
        population that moved with the window would move every level at every story."""
        extra = 1 if placing else 0
        df = self._df
        return {term: weight * self.level(df.get(term, 0) + extra) for term, weight in sig.terms}

    def vector(self, live: LiveStory) -> tuple[dict[str, float], float]:
        """A live story's weights and their squared norm (kept until a term moves level)."""
        vector = self._vectors.get(live.item.key)
        if vector is None:
            weights = self.weights(live.signature)
            vector = self._vectors[live.item.key] = (weights, sum(w * w for w in weights.values()))
        return vector

    def term_weight(self, term: str) -> int:
        """A live term's rarity level now."""
        return self.level(self._df.get(term, 0))

    def all_postings(self) -> Iterable[tuple[str, dict[int, int]]]:
        """The inverted index as it stands (for tests of expiry)."""
        return self._postings.items()
