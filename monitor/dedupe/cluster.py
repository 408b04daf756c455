"""Cross-outlet story clustering: which earlier story's event a new story reports. Pure.

`ClusterIndex.place(item)` puts one story into the cluster of an earlier story about the
same event, or starts a cluster, and says why (`ClusterDecision`). Two stages:

1. **Near-copies** (one wire text under several mastheads): MinHash of word 3-shingles with
   LSH banding (`signature.py`, `index.py`); a live story whose estimated Jaccard similarity
   reaches `ClusterConfig.near_duplicate` gives its cluster at once.
2. **The same event** in the outlets' own words: the live clusters that share the story's
   rarest terms (an inverted index of the clusters' terms, rarity counted over the stories
   in the window) are first measured by the cosine between the story and each cluster's
   TF-IDF centroid (as Miranda et al. 2018 do), which costs one pass over the story's
   terms whatever the size of the cluster (`index.py` keeps centroids and norms exactly).
   Only the clusters whose centroid is near enough (`centroid_gate`) have their latest
   members compared: the story joins the best one whose member it is close to, with names
   weighted up and a fading factor for the time between them, when that cosine is high,
   or fairly high and rapidfuzz finds the titles alike, and it shares at least two terms
   with the member (one word in common, a place, is no evidence of one event). The
   centroid alone does not decide: it holds a whole theme (the Women's World Cup, Derna
   after the floods), and deciding on it merged days of related events into one.
   A member's weights are kept until one of its terms changes rarity level.

**Time.** Each story has one time: its published time, or its first-seen time when it has
none or claims one later than first seen (`ClusterItem.time`). A story may join a cluster
that has a member within the window (default 48 h) of it. The index's clock is the newest
time it has placed; a story leaves the index once it is a window older than the clock, and
a cluster with it once its last story has. So the index holds one window of stories, and
placing a story costs the same at 1,000 stories as at 126,000.

**Out-of-order arrival.** Stories cluster by their times, not by when they arrive:
`place_batch` sorts a poll cycle's stories (from any number of feeds) by time before placing
them, so three outlets' backlogs polled in one cycle cluster as if they had arrived in time
order. Across batches, decisions are final: a story published before the clock but within
the window is compared with every live cluster, including those started after its published
time, and joins one or starts its own; stories already placed never move (their alerts are
out). A story older than the clock by more than the window meets nothing it could be
compared with fairly; it gets a cluster of its own and stays out of the index
(`Reason.OUT_OF_WINDOW`).

**State** is a function of the live stories and their clusters only: `members()` exports
them, `ClusterIndex.rebuild(members, next_id=…)` builds an index that takes the same
decisions from then on. Every sum runs in an order fixed by the data, and ties go to the
lower cluster id, so the index is deterministic.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from rapidfuzz import fuzz

from monitor.dedupe.index import LiveStory, StoryWindow
from monitor.dedupe.signature import Signature, jaccard, signature
from monitor.models import Story
from monitor.text import html_to_text


class Reason(StrEnum):
    """Why a story went where it went."""

    NEW = "new"  # no live cluster was close enough: it starts one
    SAME_STORY = "same-story"  # its key was placed before: the cluster it got then
    NEAR_DUPLICATE = "near-duplicate"  # a near-copy of a live story's text (MinHash/LSH)
    SAME_EVENT = "same-event"  # its terms and title are close to a live cluster's
    OUT_OF_WINDOW = "out-of-window"  # older than the clock by more than the window


@dataclass(frozen=True)
class ClusterItem:
    """A story as clustering sees it. `key` is its identity (a store id, its LINK key…):
    the same key placed again is the same story, even under a new title."""

    key: str
    outlet: str
    title: str
    summary: str
    first_seen: datetime
    published: datetime | None = None

    @property
    def time(self) -> datetime:
        """When it happened, as far as clustering knows: the published time, unless it is
        absent or later than first seen (a wrong time zone, a feed's future date)."""
        if self.published is None or self.published > self.first_seen:
            return self.first_seen
        return self.published

    @classmethod
    def of(cls, story: Story, *, key: str, first_seen: datetime) -> ClusterItem:
        """The item of a parsed story (its summary is plain text already)."""
        return cls(key, story.feed, story.title, story.summary, first_seen, story.published)

    @classmethod
    def of_html(
        cls, key: str, outlet: str, title: str, summary_html: str, published: datetime
    ) -> ClusterItem:
        """An item from a table of headlines whose summaries are HTML (headlines-2023)."""
        title, summary = html_to_text(title), html_to_text(summary_html)
        return cls(key, outlet, title, summary, published, published)


@dataclass(frozen=True)
class ClusterDecision:
    """Where `place` put a story: its cluster, whether that cluster is new, and why.
    `similarity` is the score that decided (the Jaccard estimate for a near-copy, the
    time-faded cosine for an event, the best score that fell short for a new cluster);
    `matched` is the key of the live story it came closest to, if any."""

    key: str
    cluster_id: int
    is_new: bool
    similarity: float
    reason: Reason
    matched: str | None = None


@dataclass(frozen=True)
class ClusterConfig:
    """The knobs, with the values measured on tests/data/cluster_pairs.jsonl.xz."""

    window: timedelta = timedelta(hours=48)
    near_duplicate: float = 0.5  # estimated Jaccard of 3-shingles: the same wire text
    bands: int = 8  # LSH bands of MinHash rows (16 hashes / 8 = 2 rows a band)
    join: float = 0.35  # centroid cosine at which a story joins on its terms alone
    join_with_title: float = 0.2  # a lower one, with a member's cosine this high too, …
    title_ratio: float = 55.0  # … whose title agrees: rapidfuzz token_set_ratio of words
    centroid_gate: float = 0.1  # a cluster whose centroid is this near has members compared
    shared_terms: int = 2  # one word in common (a place, a name) is no evidence of one event
    fade: float = 0.3  # the cosine loses this share over one window of time between them
    query_terms: int = 12  # the story's rarest terms that look up candidate clusters
    max_postings: int = 400  # a term in more live clusters than this finds no candidate
    candidates: int = 12  # clusters scored in full, the best by shared rarity
    recent_members: int = 8  # the latest members whose titles may confirm a join
    population: int = 2000  # rarity is counted as if the window held this many stories


@dataclass
class _Cluster:
    id: int
    members: list[LiveStory] = field(default_factory=list)  # in (time, key) order
    times: list[datetime] = field(default_factory=list)  # the members' times, for bisect
    outlets: dict[str, int] = field(default_factory=dict)


class ClusterIndex:
    """The live clusters of one window of stories, and the decisions placing a story takes."""

    def __init__(self, config: ClusterConfig | None = None, *, next_id: int = 1) -> None:
        self.config = config or ClusterConfig()
        self._window = StoryWindow(self.config.bands, self.config.population)
        self._clusters: dict[int, _Cluster] = {}
        self._next_id = next_id
        self._clock: datetime | None = None
        # Every key placed while it is live: SAME_STORY answers from here.
        self._placed: dict[str, int] = {}

    @property
    def clock(self) -> datetime | None:
        """The newest time placed; stories a window older have left the index."""
        return self._clock

    @property
    def next_id(self) -> int:
        """The id the next new cluster gets; a store persists it with the members."""
        return self._next_id

    @property
    def live_stories(self) -> int:
        """How many stories the index holds (one window's worth)."""
        return len(self._window)

    @property
    def live_clusters(self) -> int:
        """How many clusters have a live story."""
        return len(self._clusters)

    def cluster_of(self, key: str) -> int | None:
        """The cluster a live story was placed in, or None."""
        return self._placed.get(key)

    def members(self) -> list[tuple[ClusterItem, int]]:
        """The live stories with their clusters, in (time, key) order: what `rebuild` needs."""
        live = sorted(self._window.stories(), key=lambda s: (s.item.time, s.item.key))
        return [(s.item, s.cluster_id) for s in live]

    @classmethod
    def rebuild(
        cls,
        members: Iterable[tuple[ClusterItem, int]],
        config: ClusterConfig | None = None,
        *,
        next_id: int | None = None,
    ) -> ClusterIndex:
        """An index holding these (story, cluster id) rows, as `members()` exported them or
        a store read them back (rows older than the window are dropped as they would have
        expired). `next_id` defaults to one past the highest cluster id in the rows."""
        rows = sorted(members, key=lambda row: (row[0].time, row[0].key))
        highest = max((cluster_id for _, cluster_id in rows), default=0)
        index = cls(config, next_id=next_id if next_id is not None else highest + 1)
        for item, cluster_id in rows:
            index._advance(item.time)
            index._add(item, signature(item.title, item.summary), cluster_id)
        return index

    def place_batch(self, items: Sequence[ClusterItem]) -> list[ClusterDecision]:
        """Place a poll cycle's stories in time order (ties by key); the decisions come back
        in the order of `items`."""
        order = sorted(range(len(items)), key=lambda i: (items[i].time, items[i].key))
        decisions: dict[int, ClusterDecision] = {}
        for i in order:
            decisions[i] = self.place(items[i])
        return [decisions[i] for i in range(len(items))]

    def place(self, item: ClusterItem) -> ClusterDecision:
        """Put one story into a live cluster or a new one, and say which and why."""
        known = self._placed.get(item.key)
        if known is not None:
            return ClusterDecision(item.key, known, False, 1.0, Reason.SAME_STORY)
        window = self.config.window
        if self._clock is not None and item.time < self._clock - window:
            return ClusterDecision(item.key, self._new_id(), True, 0.0, Reason.OUT_OF_WINDOW)
        self._advance(item.time)
        sig = signature(item.title, item.summary)
        decision = self._near_copy(item, sig) or self._same_event(item, sig)
        self._add(item, sig, decision.cluster_id)
        return decision

    # -- the two stages -------------------------------------------------------------------

    def _near_copy(self, item: ClusterItem, sig: Signature) -> ClusterDecision | None:
        best: tuple[float, str, LiveStory] | None = None
        for other in self._window.near_copies(sig):
            if not self._in_reach(item, other):
                continue
            similarity = jaccard(sig.minhash, other.signature.minhash)
            if similarity >= self.config.near_duplicate and (
                best is None or (similarity, other.item.key) > (best[0], best[1])
            ):
                best = (similarity, other.item.key, other)
        if best is None:
            return None
        similarity, _, other = best
        return ClusterDecision(
            item.key, other.cluster_id, False, similarity, Reason.NEAR_DUPLICATE, other.item.key
        )

    def _same_event(self, item: ClusterItem, sig: Signature) -> ClusterDecision:
        weights = self._window.weights(sig, placing=True)
        norm2 = sum(w * w for w in weights.values())
        best: tuple[float, int] | None = None
        near_miss = 0.0
        for cluster_id in self._candidates(weights):
            score = self._score(item, sig, weights, norm2, self._clusters[cluster_id])
            if score <= 0.0:
                near_miss = max(near_miss, -score)
            elif best is None or (score, -cluster_id) > (best[0], -best[1]):
                best = (score, cluster_id)
        if best is not None:
            score, cluster_id = best
            latest = self._clusters[cluster_id].members[-1].item.key
            return ClusterDecision(item.key, cluster_id, False, score, Reason.SAME_EVENT, latest)
        return ClusterDecision(item.key, self._new_id(), True, near_miss, Reason.NEW)

    def _candidates(self, weights: dict[str, float]) -> list[int]:
        """The live clusters sharing the story's rarest terms, the best `candidates` of
        them by the weight they share (ties to the lower id)."""
        config = self.config
        rarest = sorted(weights, key=lambda t: (-weights[t], t))[: config.query_terms]
        shared: dict[int, float] = {}
        for term in rarest:
            clusters = self._window.clusters_with(term)
            if len(clusters) > config.max_postings:
                continue
            weight = weights[term]
            for cluster_id in clusters:
                shared[cluster_id] = shared.get(cluster_id, 0.0) + weight
        ranked = sorted(shared, key=lambda c: (-shared[c], c))
        return ranked[: config.candidates]

    def _score(
        self,
        item: ClusterItem,
        sig: Signature,
        weights: dict[str, float],
        norm2: float,
        cluster: _Cluster,
    ) -> float:
        """The best time-faded cosine between the story and a recent member of a cluster
        that it may join on (`_member_score`), or minus the best that falls short (a near
        miss, reported on a NEW decision). Only a cluster whose centroid is near enough
        (`ClusterConfig.centroid_gate`) has its members compared."""
        config = self.config
        gap = self._gap(item, cluster)
        if gap > config.window or not norm2:
            return 0.0
        centroid = self._window.centroid(cluster.id)
        if not centroid.norm2:  # every word of it common: no direction to compare with
            return 0.0
        sums, level = centroid.sums, self._window.term_weight
        dot = sum(w * sums[t] * level(t) for t, w in weights.items() if t in sums)
        fading = 1.0 - config.fade * min(1.0, gap / config.window)
        cosine = dot / math.sqrt(norm2 * centroid.norm2) * fading
        if cosine < config.centroid_gate:
            return -cosine
        best, near_miss = 0.0, 0.0
        for member in cluster.members[-config.recent_members :]:
            score = self._member_score(item, sig, weights, norm2, member)
            best, near_miss = max(best, score), max(near_miss, -score)
        return best or -near_miss

    def _member_score(
        self,
        item: ClusterItem,
        sig: Signature,
        weights: dict[str, float],
        norm2: float,
        member: LiveStory,
    ) -> float:
        """The time-faded cosine with one live story if the story may join it on that (high,
        or fairly high with titles rapidfuzz finds alike; two terms shared at least), else
        minus it."""
        config = self.config
        gap = abs(item.time - member.item.time) / config.window
        if gap > 1.0:
            return 0.0
        other, other2 = self._window.vector(member)
        if not other2:
            return 0.0
        shared = [w * weights[t] for t, w in other.items() if t in weights]
        if len(shared) < config.shared_terms:
            return 0.0
        cosine = sum(shared) / math.sqrt(norm2 * other2) * (1.0 - config.fade * gap)
        if cosine >= config.join:
            return cosine
        if cosine >= config.join_with_title and sig.title and member.signature.title:
            ratio = fuzz.token_set_ratio(sig.title, member.signature.title)
            if ratio >= config.title_ratio:
                return cosine
        return -cosine

    @staticmethod
    def _gap(item: ClusterItem, cluster: _Cluster) -> timedelta:
        """The time between a story and the cluster's member nearest to it in time."""
        times = cluster.times
        at = bisect.bisect_left(times, item.time)
        near = [abs(item.time - times[i]) for i in (at - 1, at) if 0 <= i < len(times)]
        return min(near)

    # -- state ----------------------------------------------------------------------------

    def _in_reach(self, item: ClusterItem, other: LiveStory) -> bool:
        return abs(item.time - other.item.time) <= self.config.window

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _advance(self, time: datetime) -> None:
        """Move the clock to `time` if it is newer, and let go of what is a window older."""
        if self._clock is not None and time <= self._clock:
            return
        self._clock = time
        for gone in self._window.expire(time - self.config.window):
            self._placed.pop(gone.item.key, None)
            cluster = self._clusters[gone.cluster_id]
            at = cluster.members.index(gone)
            del cluster.members[at], cluster.times[at]
            left = cluster.outlets[gone.item.outlet] - 1
            if left:
                cluster.outlets[gone.item.outlet] = left
            else:
                del cluster.outlets[gone.item.outlet]
            if not cluster.members:
                del self._clusters[gone.cluster_id]

    def _add(self, item: ClusterItem, sig: Signature, cluster_id: int) -> None:
        live = self._window.add(item, sig, cluster_id)
        self._placed[item.key] = cluster_id
        cluster = self._clusters.setdefault(cluster_id, _Cluster(cluster_id))
        members = cluster.members
        position = len(members)
        while position and (members[position - 1].item.time, members[position - 1].item.key) > (
            item.time,
            item.key,
        ):
            position -= 1
        members.insert(position, live)
        cluster.times.insert(position, item.time)
        cluster.outlets[item.outlet] = cluster.outlets.get(item.outlet, 0) + 1

    def outlets(self, cluster_id: int) -> tuple[str, ...]:
        """The outlets of a live cluster's live stories, in the order they first reported."""
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            return ()
        return tuple(dict.fromkeys(m.item.outlet for m in cluster.members))
