"""The warm process pool that simulates seeds: errors come back intact, and a dead worker does not break runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from kata.runs import pool
from simulator import SpecError

SPEC = {"arrival": {"rate": 5.0}, "stations": [{"name": "a", "service": {"dist": "exponential", "mean": 0.05}}],
        "duration": 20.0}


def test_a_bad_spec_raises_its_own_error_and_the_pool_keeps_working():
    with pytest.raises(SpecError, match=r"stations\[0\]\.servers"):
        pool.submit({**SPEC, "stations": [{"name": "a", "servers": 0}]}, 1).result(timeout=60)
    assert pool.submit(SPEC, 1).result(timeout=60)["end_time"] > 19.0  # traffic for 20 s, then its last request


def test_a_killed_worker_is_replaced_for_the_next_run():
    pool.submit(SPEC, 1).result(timeout=60)
    for pid in list(pool.pool()._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        pool.submit({**SPEC, "duration": 5000.0}, 2).result(timeout=60)
    result = pool.submit(SPEC, 3).result(timeout=60)
    assert result["seed"] == 3


OWNER = """
import os, sys
from kata.runs import pool
pool.warm()
tiny = {"arrival": {"rate": 1.0}, "stations": [{"name": "a", "service": {"dist": "deterministic", "mean": 0.01}}],
        "duration": 1.0}
pool.submit_streamed(tiny, 1)[0].result()
print(" ".join(str(pid) for pid in [*pool.pool()._processes, pool.channels()._process.pid,
                                   pool.streamer().process.pid]), flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is as good as gone
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_workers_exit_when_the_process_that_owns_the_pool_is_killed():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[3])
    try:
        pids = [int(p) for p in owner.stdout.readline().split()]
        assert len(pids) >= 3 and all(_alive(pid) for pid in pids), "the pool's workers, streamer and channel run"
    finally:
        owner.kill()  # SIGKILL: no clean-up of its own
        owner.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in pids if _alive(pid)], "no worker outlives its owner"
