"""bench/poll.py still runs against the code it measures (on a small sample; no timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_poll_benchmark_runs_its_cycles_on_a_small_sample(corpus: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "poll.py"),
            *("--feeds", "20", "--hosts", "4", "--no-loop"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("20 feeds on 4 loopback addresses")
    rows = {line.split(" | ")[0].strip("| "): line for line in result.stdout.splitlines()}
    assert "{'ok': 20}" in rows["cycle 1 (every feed new)"]
    # One feed in five changed; the other sixteen answered 304.
    assert "{'not-modified': 16, 'ok': 4}" in rows["cycle 2 (one in five changed)"]
    assert "{'not-modified': 20}" in rows["cycle 3"]
