"""The warm process pool that simulates seeds: errors come back intact, and a dead worker does not break runs."""

from __future__ import annotations

import os
import signal

import pytest
from simulator import SpecError

from kata import seed_pool

SPEC = {"arrival": {"rate": 5.0}, "stations": [{"name": "a", "service": {"dist": "exponential", "mean": 0.05}}],
        "duration": 20.0}


def test_a_bad_spec_raises_its_own_error_and_the_pool_keeps_working():
    with pytest.raises(SpecError, match=r"stations\[0\]\.servers"):
        seed_pool.submit({**SPEC, "stations": [{"name": "a", "servers": 0}]}, 1).result(timeout=60)
    assert seed_pool.submit(SPEC, 1).result(timeout=60)["end_time"] >= 20.0


def test_a_killed_worker_is_replaced_for_the_next_run():
    seed_pool.submit(SPEC, 1).result(timeout=60)
    for pid in list(seed_pool.pool()._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(Exception):
        seed_pool.submit({**SPEC, "duration": 5000.0}, 2).result(timeout=60)
    result = seed_pool.submit(SPEC, 3).result(timeout=60)
    assert result["seed"] == 3
