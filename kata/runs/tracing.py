"""A run's seed replayed on the pure engine with tracing on (no Django: it runs in the warm pool's processes too).

The replay is the run's seed again, same spec, same seed, same 1-second steps: the digest of its results (time series
left out, as a run stores them) must be the run's, or its traces are of some other run and are not kept.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from simulator import Simulation, TraceCaps, build_network
from simulator.engine.trace import TracedSimulation

from kata.runs import pool

# What a run keeps per traced seed and graded source: at most 20 + 10 + 3 × 10 + 5 + 10 = 75 traces of ≤ 24 hops.
CAPS = TraceCaps(slowest=20, slow_accept=10, per_outcome=10, recovered=5, sample=10, hops=24)


# A stored hop is a list of these, in this order (half the JSON of a dict per hop); `kata.traces` reads them back.
HOP_FIELDS = ("station", "arrived", "started", "ended", "result", "attempt", "backoff")


def _compact(trace: dict[str, Any]) -> dict[str, Any]:
    return {**trace, "hops": [[hop[name] for name in HOP_FIELDS] for hop in trace["hops"]]}


def results_digest(results: dict[str, Any]) -> str:
    """SHA-256 of a seed's results as a run stores them (without the time series)."""
    kept = {key: value for key, value in results.items() if key != "time_series"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def trace_seed(spec: dict[str, Any], seed: int, sources: list[str]) -> dict[str, Any]:
    """{"digest": the replay's results digest, "traces": its traces of `sources` (kept categories, traces)}."""
    simulation = Simulation(build_network(spec), seed=seed, trace=CAPS)
    assert isinstance(simulation, TracedSimulation)
    for _ in simulation.stream(step=pool.STEP_SECONDS):
        pass
    digest = results_digest(simulation.results().to_dict())
    traces = simulation.traces().to_dict()
    kept = {source: traces["kept"][source] for source in sources if source in traces["kept"]}
    numbers = {str(n) for categories in kept.values() for numbers in categories.values() for n in numbers}
    return {"digest": digest, "traces": {
        "kept": kept, "seen": {source: traces["seen"][source] for source in kept},
        "traces": {n: _compact(t) for n, t in traces["traces"].items() if n in numbers},
    }}


# A replay for traces waits behind every streamed and grading seed: in a burst of Runs, grades come first.
TRACING = pool.GRADING + 1


def trace_in_pool(spec: dict[str, Any], seed: int, sources: list[str]) -> dict[str, Any]:
    """`trace_seed` in the warm pool, after every seed a learner waits for (the web server's runs)."""
    return pool.scheduler().submit(TRACING, trace_seed, spec, seed, sources).result()


def trace_here(spec: dict[str, Any], seed: int, sources: list[str]) -> dict[str, Any]:
    """`trace_seed` in this process (a task-queue worker: one run at a time per process)."""
    return trace_seed(spec, seed, sources)
