"""Incidents at run time (`model.Incident`): SimPy processes on the run's clock that switch a station's run-time
state at the start and at the end of each window, and the surges folded into a source's rate.

A station's state under its active incidents: the latency factors multiply, the error floor is the highest
(an outage's is 1), an outage refuses arrivals, and the lost instances' servers are taken out of rotation. The
station applies the state itself (`Node.set_incident` in the pure engine, `Core.set_incident` in the compiled
one), so both engines switch it at the same event with the same draws.

A surge needs no process: it multiplies the source's piecewise-linear rate over its window, so the arrivals stay an
exact non-homogeneous Poisson process (inversion across the window's edges), one draw per arrival as before.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ..model import Incident, Network, Source

if TYPE_CHECKING:
    from .core import Simulation

__all__ = ["play", "station_targets", "source_segments"]

Segment = tuple[float, float, float, float]  # start, end, rate at start, slope


def station_targets(network: Network) -> set[int]:
    """Indices of the stations some incident acts on (they run as full stations, which honour the state)."""
    return {inc.target for inc in network.incidents if inc.kind != "surge"}


def source_segments(network: Network, j: int, src: Source) -> list[Segment]:
    """The source's rate as linear pieces `(start, end, rate at start, slope)`, with its surges multiplied in."""
    pts = src.profile or ()
    segs = [(t0, t1, r0, (r1 - r0) / (t1 - t0)) for (t0, r0), (t1, r1) in zip(pts, pts[1:], strict=False)]
    if src.rate is not None:
        segs = [(0.0, math.inf, src.rate, 0.0)]
    surges = [inc for inc in network.incidents if inc.kind == "surge" and inc.target == j]
    if not surges:
        return segs
    cuts = sorted({t for inc in surges for t in (inc.start, inc.end)})
    out: list[Segment] = []
    for a, b, r0, slope in segs:
        edges = [a] + [t for t in cuts if a < t < b] + [b]
        for x, y in zip(edges, edges[1:], strict=False):
            factor = 1.0
            for inc in surges:
                if inc.start <= x < inc.end:
                    factor *= inc.factor
            rate = r0 + slope * (x - a) if x != a else r0
            out.append((x, y, rate * factor, slope * factor))
    return out


def state(network: Network, target: int, active: list[Incident]) -> tuple[float, float, bool, float]:
    """(latency factor, error floor, down, servers in rotation) of a station under its active incidents."""
    st = network.stations[target]
    latency, floor, down, lost = 1.0, 0.0, False, 0
    for inc in active:
        if inc.kind == "brownout":
            latency *= inc.latency_factor
            floor = max(floor, inc.error)
        elif inc.kind == "outage":
            down = True
            floor = 1.0
        else:
            lost += inc.instances
    servers = st.servers
    if lost:
        servers = max(0.0, st.servers - round(st.servers * min(lost, st.instances) / st.instances))
    return latency, floor, down, servers


def play(sim: Simulation) -> dict[int, list[Incident]]:
    """Start one SimPy process per station incident on `sim.env`; the active incidents by station."""
    active: dict[int, list[Incident]] = {i: [] for i in station_targets(sim.network)}
    for inc in sim.network.incidents:
        if inc.kind != "surge":
            sim.env.process(_window(sim, inc, active[inc.target]))
    return active


def _window(sim: Simulation, inc: Incident, active: list[Incident]) -> Generator[Any, Any, None]:
    env = sim.env
    yield env.timeout(inc.start)
    active.append(inc)
    sim.set_incident(inc.target, env.now, *state(sim.network, inc.target, active))
    yield env.timeout(inc.end - env.now)
    active.remove(inc)
    sim.set_incident(inc.target, env.now, *state(sim.network, inc.target, active))
