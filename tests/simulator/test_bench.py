"""The bench runs end to end and prints every figure it promises (no timing is asserted: timings are the
machine's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator import bench
from simulator.bench import clearpay_spec


def test_the_bench_prints_the_tandem_ratios_and_each_seed_s_figures(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    workload = tmp_path / "workload.json"
    workload.write_text(json.dumps({"spec": clearpay_spec(duration=60.0, status=True), "seeds": [1, 2]}))
    assert bench.main(requests=2_000, repeat=1, spec=str(workload)) == 0
    out = capsys.readouterr().out
    for needle in ("(a)  compiled engine:", "(a') pure engine:", "(b)  idiomatic SimPy:", "(c)  ciw 3:",
                   "ratio a/b:", "ratio a/c:", "seed 1:", "seed 2:", "seed 1 on the pure engine:",
                   "largest gap between two snapshots:", "events/s", "memory, seed 1:"):
        assert needle in out, needle
    seed_line = next(line for line in out.splitlines() if line.startswith("  seed 1:"))
    assert " s CPU (fast;" in seed_line and "requests in 60 simulated s" in seed_line, seed_line
