"""The labelled pairs of tests/data/cluster_pairs.jsonl.xz (see tests/data/README.md)."""

from __future__ import annotations

import json
import lzma
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from monitor.dedupe.cluster import ClusterItem
from tests.conftest import DATA

PAIRS = DATA / "cluster_pairs.jsonl.xz"


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str  # event:ID, or follow-up / same-place / same-kind:A/B, or ordinary


@cache
def load() -> tuple[dict[str, ClusterItem], tuple[Pair, ...]]:
    """The items (by their corpus line, as the key) and the labelled pairs."""
    items: dict[str, ClusterItem] = {}
    pairs: list[Pair] = []
    with lzma.open(PAIRS, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if "item" in row:
                time = datetime.fromisoformat(row["published"])
                key = str(row["item"])
                items[key] = ClusterItem(
                    key, row["outlet"], row["title"], row["summary"], time, time
                )
            else:
                p = row["pair"]
                pairs.append(Pair(str(p["a"]), str(p["b"]), p["same"], p["kind"]))
    return items, tuple(pairs)


def in_time_order(items: Iterable[ClusterItem]) -> list[ClusterItem]:
    return sorted(items, key=lambda i: (i.time, i.key))


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    errors: tuple[tuple[str, Pair], ...]  # ("FP" | "FN", pair)


def pairwise(clusters: Mapping[str, int], pairs: Iterable[Pair]) -> Quality:
    """Pairwise precision and recall of a clustering against the labels."""
    tp = fp = fn = 0
    errors: list[tuple[str, Pair]] = []
    for pair in pairs:
        together = clusters[pair.a] == clusters[pair.b]
        if together and pair.same:
            tp += 1
        elif together:
            fp += 1
            errors.append(("FP", pair))
        elif pair.same:
            fn += 1
            errors.append(("FN", pair))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Quality(precision, recall, tuple(errors))
