"""The labelled pairs for clustering quality: draw candidates to label, then build the fixture.

    .venv/bin/python tools/cluster_pairs.py candidates --from 2023-07-19 --to 2023-07-20
    .venv/bin/python tools/cluster_pairs.py build

`candidates` prints pairs of items from two outlets, at most 36 h apart, whose titles'
content words are alike (rapidfuzz token_set_ratio), shuffled: the ordinary-day pairs of
tests/data/cluster_labels.txt were drawn so and then labelled by hand. `build` reads those
labels and writes tests/data/cluster_pairs.jsonl.xz: the items involved (title and summary
as text) and the pairs, each with its label and kind. Needs ../shared/corpus.
"""

from __future__ import annotations

import argparse
import itertools
import json
import lzma
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rapidfuzz import fuzz

from monitor.dedupe.signature import signature
from monitor.text import html_to_text

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ROOT.parent / "shared" / "corpus" / "headlines-2023" / "items.jsonl.xz"
LABELS = ROOT / "tests" / "data" / "cluster_labels.txt"
FIXTURE = ROOT / "tests" / "data" / "cluster_pairs.jsonl.xz"
POSITIVES_PER_EVENT = 24
NEGATIVES_PER_EVENT_PAIR = 6
SEED = 13


def brand(outlet: str) -> str:
    """One name per outlet, whichever of its feeds an item came from ("NYT > Top Stories"
    and "NY times", "The Telegraph News" and "The Telegraph Top Stories")."""
    name = re.split(r" [-|>] ", outlet.lower())[0].strip()
    name = re.sub(r" (top stories|news|business|world|- world|- politics)$", "", name)
    return {"nyt": "ny times", "cnbc world": "cnbc"}.get(name, name)


def read_items(lines: set[int] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, item) of the corpus table, only the given lines when some are given."""
    with lzma.open(ITEMS, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if lines is None or number in lines:
                yield number, json.loads(line)


@dataclass(frozen=True)
class Event:
    id: str
    place: str
    kind: str
    after: str | None
    lines: tuple[int, ...]


Labels = tuple[list[Event], list[tuple[int, int, bool]], list[str]]


def read_labels(path: Path = LABELS) -> Labels:
    """The events, the directly labelled pairs and the background days of the labels file."""
    events, pairs, days = [], [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if line.startswith("background "):
            days.append(line.split()[1])
        elif line.startswith("event "):
            head, _, numbers = line.partition(":")
            name, *attrs = head.split()[1:]
            fields = dict(a.split("=", 1) for a in attrs)
            events.append(
                Event(
                    name,
                    fields["place"],
                    fields["kind"],
                    fields.get("after"),
                    tuple(int(n) for n in numbers.split()),
                )
            )
        elif line.startswith("pair "):
            a, b, same = line.split()[1:]
            pairs.append((int(a), int(b), same == "1"))
    return events, pairs, days


def negative_kind(a: Event, b: Event) -> str | None:
    """Why two events make hard negatives, or None when they are unrelated."""
    if a.after == b.id or b.after == a.id:
        return "follow-up"
    if a.place == b.place:
        return "same-place"
    if a.kind == b.kind:
        return "same-kind"
    return None


def cross_outlet(
    a: Sequence[int], b: Sequence[int], outlet: dict[int, str]
) -> list[tuple[int, int]]:
    """The pairs of one line of `a` and one of `b` from different outlets, each once."""
    pairs = {(min(x, y), max(x, y)) for x in a for y in b if x != y and outlet[x] != outlet[y]}
    return sorted(pairs)


def build(out: Path = FIXTURE) -> str:
    """Write the fixture; return a one-line summary of what it holds."""
    events, direct, days = read_labels()
    wanted = {n for e in events for n in e.lines} | {n for a, b, _ in direct for n in (a, b)}
    items = {n: d for n, d in read_items() if n in wanted or d["published"][:10] in days}
    missing = wanted - set(items)
    if missing:
        raise SystemExit(f"lines not in the corpus: {sorted(missing)}")
    outlet = {n: brand(d["outlet"]) for n, d in items.items()}
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []
    for event in events:
        pairs = cross_outlet(event.lines, event.lines, outlet)
        for a, b in sorted(rng.sample(pairs, min(POSITIVES_PER_EVENT, len(pairs)))):
            rows.append({"a": a, "b": b, "same": True, "kind": f"event:{event.id}"})
    for first, second in itertools.combinations(events, 2):
        kind = negative_kind(first, second)
        if kind is None:
            continue
        pairs = cross_outlet(first.lines, second.lines, outlet)
        for a, b in sorted(rng.sample(pairs, min(NEGATIVES_PER_EVENT_PAIR, len(pairs)))):
            rows.append({"a": a, "b": b, "same": False, "kind": f"{kind}:{first.id}/{second.id}"})
    for a, b, same in direct:
        rows.append({"a": a, "b": b, "same": same, "kind": "ordinary"})
    with lzma.open(out, "wt", encoding="utf-8") as f:
        for n in sorted(items):
            d = items[n]
            record = {
                "item": n,
                "outlet": d["outlet"],
                "published": d["published"],
                "title": html_to_text(d["title"]),
                "summary": html_to_text(d["summary"] or ""),
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        for row in rows:
            f.write(json.dumps({"pair": row}, ensure_ascii=False) + "\n")
    positives = sum(1 for r in rows if r["same"])
    return f"{len(items)} items, {len(rows)} pairs ({positives} same event) → {out.name}"


def candidates(start: str, end: str, seed: int, min_ratio: float, count: int) -> list[str]:
    """Pairs to label: two outlets, titles alike, at most 36 h apart, shuffled."""
    day: list[tuple[int, dict[str, str], str, datetime]] = []
    for n, d in read_items():
        if start <= d["published"][:10] <= end:
            words = signature(d["title"], "").title
            day.append((n, d, words, datetime.fromisoformat(d["published"])))
    found = []
    for i, (n, d, words, time) in enumerate(day):
        for m, e, other, time2 in day[i + 1 : i + 400]:
            if brand(d["outlet"]) == brand(e["outlet"]):
                continue
            if abs((time2 - time).total_seconds()) > 36 * 3600:
                continue
            long_enough = len(words.split()) >= 3 and len(other.split()) >= 3
            if long_enough and fuzz.token_set_ratio(words, other) >= min_ratio:
                found.append(f"pair {n} {m} ?  # {d['title'][:60]} | {e['title'][:60]}")
    random.Random(seed).shuffle(found)
    return found[:count]


def main(argv: Sequence[str] | None = None) -> None:
    """Run one of the two commands."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    draw = sub.add_parser("candidates")
    draw.add_argument("--from", dest="start", required=True)
    draw.add_argument("--to", dest="end", required=True)
    draw.add_argument("--seed", type=int, default=1)
    draw.add_argument("--min-ratio", type=float, default=55.0)
    draw.add_argument("--count", type=int, default=45)
    sub.add_parser("build")
    args = parser.parse_args(argv)
    if not ITEMS.exists():
        sys.exit(f"needs the shared corpus at {ITEMS}")
    if args.command == "build":
        print(build())
    else:
        print("\n".join(candidates(args.start, args.end, args.seed, args.min_ratio, args.count)))


if __name__ == "__main__":
    main()
