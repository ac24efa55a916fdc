"""Kata's queueing-network simulator: a validated, fast engine on SimPy (no Django).

    from simulator import build_network, Simulation, run
    net = build_network(spec)                      # SpecError names the bad field
    sim = Simulation(net, seed=1)                  # duration mode; requests=N for exactly N arrivals
    for snap in sim.stream(step=1.0): ...          # frozen Snapshot per simulated step
    res = sim.results()                            # frozen Results; res.to_dict() is JSON-able and deterministic
    sim = Simulation(net, seed=1, trace=TraceCaps())   # the same run on the pure engine, keeping request traces
"""

from __future__ import annotations

from .engine import Simulation, run
from .build import build_network
from .model import ErrorCurve, Network, RetryPolicy, ServiceTime, Slowdown, Source, SpecError, Station
from .engine.trace import Trace, TraceCaps, TraceHop, Traces
from .results import (
    OUTCOMES,
    LatencySummary,
    Results,
    Snapshot,
    SourceResult,
    SourceSnapshot,
    StationResult,
    StationSnapshot,
)

__all__ = [
    "build_network",
    "Simulation",
    "run",
    "SpecError",
    "Network",
    "Station",
    "Source",
    "ServiceTime",
    "ErrorCurve",
    "Slowdown",
    "RetryPolicy",
    "Results",
    "StationResult",
    "SourceResult",
    "LatencySummary",
    "Snapshot",
    "SourceSnapshot",
    "StationSnapshot",
    "OUTCOMES",
    "TraceCaps",
    "Trace",
    "TraceHop",
    "Traces",
]
