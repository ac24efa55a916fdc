"""A warm pool of processes that each simulate one seed. Imports no Django: children never set Django up.

Started with `forkserver` so that children are forked from a clean, single-threaded server rather than from a
web server full of threads; the pool stays up for the life of the process, so only the first run pays for start-up.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from simulator import Simulation, build_network

STEP_SECONDS = 1.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def simulate(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    """Run one seed to the end in 1-second steps (so the time series exists) and return `Results.to_dict()`."""
    simulation = Simulation(build_network(spec), seed=seed)
    for _ in simulation.stream(step=STEP_SECONDS):
        pass
    return simulation.results().to_dict()


def pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        # A worker that died (killed, out of memory) breaks the whole executor: start a new one.
        if _pool is not None and getattr(_pool, "_broken", False):
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["kata.seed_pool"])
            _pool = ProcessPoolExecutor(max_workers=max(1, os.cpu_count() or 1), mp_context=context)
        return _pool


def submit(spec: dict[str, Any], seed: int) -> Future[dict[str, Any]]:
    try:
        return pool().submit(simulate, spec, seed)
    except BrokenProcessPool:  # broke between the check and the submit
        return pool().submit(simulate, spec, seed)
