"""Clustering quality on the labelled pairs (tests/data/cluster_pairs.jsonl.xz): the items
involved are placed in time order, and each pair is judged by whether its two items share a
cluster. The floors are what the clusterer reaches, a little below (BENCHMARKS.md has the
figures and the errors that remain; bench/cluster.py measures it in the full stream too)."""

from __future__ import annotations

from monitor.dedupe.cluster import ClusterIndex
from tests.dedupe import pairs

PRECISION_FLOOR = 0.91
RECALL_FLOOR = 0.85


def test_the_labelled_set_is_big_and_hard_enough() -> None:
    items, labelled = pairs.load()
    kinds = {p.kind.split(":")[0] for p in labelled if not p.same}
    assert len(labelled) >= 300
    assert {"follow-up", "same-place", "same-kind", "ordinary"} <= kinds
    assert all(items[p.a].outlet != items[p.b].outlet for p in labelled)


def test_pairwise_precision_and_recall_on_the_labelled_pairs() -> None:
    items, labelled = pairs.load()
    decisions = ClusterIndex().place_batch(pairs.in_time_order(items.values()))
    quality = pairs.pairwise({d.key: d.cluster_id for d in decisions}, labelled)
    assert quality.precision >= PRECISION_FLOOR, quality.errors
    assert quality.recall >= RECALL_FLOOR, quality.errors
