"""Events in the poll job: the cluster index rebuilt from the store, a batch of new stories
placed in it, and the follow-ups `escalate_at` owes as an event's outlets grow. No I/O
beyond the store passed in; the rules (`dedupe.cluster`, `delivery.route`) are pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from monitor.dedupe.cluster import ClusterConfig, ClusterIndex, ClusterItem
from monitor.delivery.route import escalations, with_follow_ups
from monitor.models import Match, PlannedAlert, Story
from monitor.rules.matcher import Rule
from monitor.store import Store


def cluster_key(story: Story) -> str:
    """A story's key in the cluster index: its feed and guid, known before it is stored."""
    return f"{story.feed}\x00{story.guid}"


def rebuild_clusters(
    store: Store, now: datetime, config: ClusterConfig | None = None
) -> ClusterIndex:
    """The cluster index of the stories stored within the window before `now`, as the last
    process left it; new clusters get ids past every id the store has used."""
    config = config or ClusterConfig()
    rows = [
        (
            ClusterItem.of(s.story, key=cluster_key(s.story), first_seen=s.first_seen or now),
            s.cluster_id,
        )
        for s in store.stories_since(now - 2 * config.window)
        if s.cluster_id is not None
    ]
    return ClusterIndex.rebuild(rows, config, next_id=store.max_cluster_id() + 1)


def place_stories(
    index: ClusterIndex | None, stories: Sequence[Story], now: datetime
) -> list[int | None]:
    """Each new story's event (cluster), in time order; None for all when clustering is off."""
    if index is None:
        return [None] * len(stories)
    items = [ClusterItem.of(s, key=cluster_key(s), first_seen=now) for s in stories]
    return [d.cluster_id for d in index.place_batch(items)]


def with_escalations(
    rules: Sequence[Rule],
    escalate_at: Mapping[str, int],
    outlet: str,
    cluster: int,
    told: Mapping[str, Collection[str]],
    alerts: tuple[PlannedAlert, ...],
    outlets: dict[int, set[str]],
) -> tuple[tuple[PlannedAlert, ...], str | None]:
    """A story's alerts plus one follow-up per rule whose `escalate_at` this outlet's report
    of the event reaches, and why (None: no follow-up). `outlets` (each event's outlets so
    far) learns this one."""
    carried = outlets.setdefault(cluster, set())
    before = len(carried)
    carried.add(outlet)
    owed = escalations(told, escalate_at, outlets_before=before, outlets_after=len(carried))
    if not owed:
        return alerts, None
    by_id = {r.id: r for r in rules}
    follow_ups = {
        channel: [
            Match(r, by_id[r].name, (), (channel,), by_id[r].severity) for r in ids if r in by_id
        ]
        for channel, ids in owed.items()
    }
    why = f"now reported by {len(carried)} outlets"
    return with_follow_ups(alerts, follow_ups, why), why
