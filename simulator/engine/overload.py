"""Overload: when a station's offered load reached its capacity, read from the meter's grid (`meter.Meter`), so the
verdict is the same streamed or not and on both engines.

A station is *unstable* when either rule holds:

* **offered load above capacity over a window.** Capacity is the nominal service rate, servers / mean service time
  (requests per second; none for infinite servers and for buffers, whose consumers' time is what they call
  downstream). On the 1-s grid, the excess of an interval is its arrivals minus capacity x its length; the window is
  the interval of largest excess (Kadane's maximum-sum run: where a backlog builds fastest, so a transient spike gets
  the spike's own window). It counts when the excess is more than one second of capacity *and* three standard
  deviations of its Poisson arrivals (3 sqrt(arrivals)): a stable station (rho <= 0.9) fluctuates above capacity only
  briefly and by a few requests (the random walk of arrivals minus capacity drifts down), never by that much.
* **queue still growing at the end.** Over the last `GROWTH_WINDOW` s of the run (its second half if shorter) the
  station's queue grew by at least `GROWTH_MIN` requests and by at least a tenth of the capacity over that time
  (servers when there is no capacity): a backlog that was building when the run stopped. At rho = 0.9 an M/M/1 queue
  reaches 100 with probability 0.9**100 ~ 3e-5. A run that drains (requests mode, or a duration run that ended with
  its last request) ends with empty queues, so only the first rule can flag it.

The figure `unstable` is None, or {"window": [t0, t1], "offered": requests/s over the window, "capacity": requests/s
(None for a buffer: the rate it served instead), "reason": ...}.
"""

from __future__ import annotations

import math
from typing import Any

from ..model import Station
from .meter import Meter

__all__ = ["unstable", "capacity", "describe", "GROWTH_WINDOW", "GROWTH_MIN", "Z"]

GROWTH_WINDOW = 60.0
GROWTH_MIN = 100
Z = 3.0


def capacity(station: Station) -> float | None:
    """The nominal service rate (requests/s): servers / mean service time; None when it has no bound or no meaning."""
    if station.infinite or station.is_buffer or station.service.mean <= 0:
        return None
    return station.servers / station.service.mean


def _overloaded_window(times: list[float], arrivals: list[int], cap: float) -> dict[str, Any] | None:
    best = run = 0.0
    best_lo = best_hi = lo = 0
    for i in range(1, len(times)):
        x = (arrivals[i] - arrivals[i - 1]) - cap * (times[i] - times[i - 1])
        if run <= 0.0:
            run, lo = x, i - 1
        else:
            run += x
        if run > best:
            best, best_lo, best_hi = run, lo, i
    if best <= 0.0:
        return None
    offered = arrivals[best_hi] - arrivals[best_lo]
    if best <= cap + Z * math.sqrt(offered):
        return None
    t0, t1 = times[best_lo], times[best_hi]
    return {"window": [t0, t1], "offered": offered / (t1 - t0), "capacity": cap,
            "reason": "offered load above capacity"}


def _growing_queue(times: list[float], arrivals: list[int], queue: list[int], cap: float | None,
                   servers: float) -> dict[str, Any] | None:
    end = times[-1]
    span = min(GROWTH_WINDOW, end / 2.0)
    if span <= 0.0:
        return None
    first = len(times) - 1
    while first > 0 and times[first - 1] >= end - span:
        first -= 1
    first = max(0, first - 1)  # the last sample at or before end - span
    grown = queue[-1] - queue[first]
    bar = 0.1 * (cap if cap is not None else servers) * (end - times[first])
    if grown < GROWTH_MIN or grown < bar:
        return None
    # The backlog's window: from the last time the queue was (nearly) empty.
    start = len(times) - 1
    while start > 0 and queue[start - 1] > min(servers, GROWTH_MIN):
        start -= 1
    t0 = times[start]
    dur = end - t0
    offered = (arrivals[-1] - arrivals[start]) / dur
    served = (arrivals[-1] - arrivals[start] - (queue[-1] - queue[start])) / dur
    return {"window": [t0, end], "offered": offered, "capacity": cap if cap is not None else served,
            "reason": "queue still growing at the end"}


def unstable(meter: Meter, k: int, station: Station) -> dict[str, Any] | None:
    """Station k's overload figure (see the module docstring), or None when it kept up."""
    if station.infinite or len(meter.times) < 2:
        return None
    cap = capacity(station)
    times, arrivals, queue = meter.times, meter.arrivals[k], meter.queue[k]
    over = _overloaded_window(times, arrivals, cap) if cap is not None else None
    growing = _growing_queue(times, arrivals, queue, cap, float(station.servers))
    if over is not None and growing is not None:
        over["reason"] = "offered load above capacity; queue still growing at the end"
    return over if over is not None else growing


def describe(name: str, figure: dict[str, Any]) -> str:
    """One line for a person: "gateway overloaded from 312 s to 890 s: offered 1.3x its capacity (...)"."""
    t0, t1 = figure["window"]
    offered, cap = figure["offered"], figure["capacity"]
    ratio = f"offered {offered / cap:.2f}x its capacity" if cap else f"offered {offered:.1f}/s"
    return (f"{name} overloaded from {t0:.0f} s to {t1:.0f} s: {ratio} ({offered:.1f}/s against {cap:.1f}/s); "
            f"{figure['reason']}")
