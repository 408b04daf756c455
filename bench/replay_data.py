"""The feed histories in ../shared/corpus/replay/: one `<outlet>.tar.xz` per outlet, its
members `<outlet>/<UTC time>.xml` in time order (corpus README). Read as streams, one
snapshot at a time: the 7,261 snapshots are 1.1 GB unpacked (the AP scrape alone 0.57 GB),
too much to hold at once."""

from __future__ import annotations

import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Imported before `monitor` by bench/replay.py: the tree this file is in is the code
# measured, not whichever `monitor` is installed (a worktree's venv may point at another).
sys.path.insert(0, str(ROOT))
REPLAY = ROOT.parent / "shared" / "corpus" / "replay"


@dataclass(frozen=True)
class Snapshot:
    """One committed version of an outlet's feed, and when it was committed (UTC)."""

    outlet: str
    when: datetime
    body: bytes


def snapshot_time(member_name: str) -> datetime:
    """The time in a member's name: `bbc/2020-04-21T00-43-01Z.xml` → 2020-04-21 00:43:01Z."""
    stamp = Path(member_name).stem
    return datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)


def outlets(replay: Path = REPLAY) -> list[str]:
    """Every outlet with a history, by name."""
    return sorted(p.name.removesuffix(".tar.xz") for p in replay.glob("*.tar.xz"))


def series(outlet: str, limit: int = 0, replay: Path = REPLAY) -> Iterator[Snapshot]:
    """An outlet's snapshots in time order (the first `limit`; 0: all), read as a stream,
    so only the one in hand is in memory."""
    with tarfile.open(replay / f"{outlet}.tar.xz", mode="r|xz") as archive:
        count = 0
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            yield Snapshot(outlet, snapshot_time(member.name), handle.read() if handle else b"")
            count += 1
            if limit and count >= limit:
                return


def check_outlets(names: Sequence[str], replay: Path = REPLAY) -> list[str]:
    """The names, each checked to have a history; SystemExit naming the unknown ones."""
    known = set(outlets(replay))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"no history in {replay} for: {', '.join(unknown)}")
    return list(names)
