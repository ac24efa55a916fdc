"""Overload: when a station's offered load reached its capacity, read from the meter's grid (`meter.Meter`), so the
verdict is the same streamed or not and on both engines.

A station is *unstable* when either rule holds:

* **offered load above capacity over a window.** Capacity is the service rate, servers / mean service time
  (requests per second; none for infinite servers and for buffers, whose consumers' time is what they call
  downstream); a station with a `slowdown` has, in each grid second, the rate its multiplier at that second's
  utilization leaves it (a slowed-down gateway serves half as fast: the bistable collapse shows as overload). On the
  1-s grid, the excess of an interval is its arrivals minus capacity x its length; the window is
  the interval of largest excess (Kadane's maximum-sum run: where a backlog builds fastest, so a transient spike gets
  the spike's own window). It counts when the excess is more than one second of capacity *and* three standard
  deviations of its Poisson arrivals (3 sqrt(arrivals)): a stable station (rho <= 0.9) fluctuates above capacity only
  briefly and by a few requests (the random walk of arrivals minus capacity drifts down), never by that much.
* **queue still growing, or a backlog left, at the end.** The run ended with at least `GROWTH_MIN` requests waiting
  and more than `BACKLOG_SECONDS` of the station's service (capacity x 10 s; for a buffer, what it served per second
  while the backlog built): work the station never caught up with. At rho = 0.9 an M/M/1 queue reaches 100 with
  probability 0.9**100 ~ 3e-5. The reason says whether it was still growing over the last `GROWTH_WINDOW` s. A run
  that drains (requests mode, or a duration run that ended with its last request) ends with empty queues, so only
  the first rule can flag it.

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
BACKLOG_SECONDS = 10.0
Z = 3.0


def capacity(station: Station) -> float | None:
    """The nominal service rate (requests/s): servers / mean service time; None when it has no bound or no meaning."""
    if station.infinite or station.is_buffer or station.service.mean <= 0:
        return None
    return station.servers / station.service.mean


def _capacities(meter: Meter, k: int, station: Station, cap: float) -> list[float]:
    """The service rate in each grid interval: `cap`, or what the slowdown's multiplier left of it."""
    times = meter.times
    slowdown = station.slowdown
    if slowdown is None:
        return [cap] * (len(times) - 1)
    area = meter.area[k]
    out = []
    for i in range(1, len(times)):
        dt = times[i] - times[i - 1]
        u = (area[i] - area[i - 1]) / (station.servers * dt) if dt > 0 else 0.0
        out.append(cap / slowdown.multiplier(u))
    return out


def _overloaded_window(times: list[float], arrivals: list[int], caps: list[float],
                       nominal: float) -> dict[str, Any] | None:
    best = run = 0.0
    best_lo = best_hi = lo = 0
    for i in range(1, len(times)):
        x = (arrivals[i] - arrivals[i - 1]) - caps[i - 1] * (times[i] - times[i - 1])
        if run <= 0.0:
            run, lo = x, i - 1
        else:
            run += x
        if run > best:
            best, best_lo, best_hi = run, lo, i
    if best <= 0.0:
        return None
    offered = arrivals[best_hi] - arrivals[best_lo]
    if best <= nominal + Z * math.sqrt(offered):
        return None
    t0, t1 = times[best_lo], times[best_hi]
    served = sum(caps[i] * (times[i + 1] - times[i]) for i in range(best_lo, best_hi))
    slowed = served < nominal * (t1 - t0) * (1.0 - 1e-9)
    return {"window": [t0, t1], "offered": offered / (t1 - t0), "capacity": served / (t1 - t0),
            "reason": "offered load above capacity" + (" (slowed down by its own load)" if slowed else "")}


def _backlog(times: list[float], arrivals: list[int], queue: list[int], cap: float | None,
             servers: float) -> dict[str, Any] | None:
    end = times[-1]
    left = queue[-1]
    if left < GROWTH_MIN or len(times) < 2:
        return None
    # The backlog's window: from the last time the queue was (nearly) empty.
    start = len(times) - 1
    while start > 0 and queue[start - 1] > min(servers, GROWTH_MIN):
        start -= 1
    t0 = times[start]
    dur = end - t0
    if dur <= 0:
        return None
    offered = (arrivals[-1] - arrivals[start]) / dur
    served = (arrivals[-1] - arrivals[start] - (left - queue[start])) / dur
    rate = cap if cap is not None else served
    if left <= BACKLOG_SECONDS * rate:
        return None
    then = len(times) - 1
    while then > 0 and times[then] > end - GROWTH_WINDOW:
        then -= 1
    reason = "queue still growing at the end" if left > queue[then] else "backlog left at the end"
    return {"window": [t0, end], "offered": offered, "capacity": rate, "reason": reason}


def unstable(meter: Meter, k: int, station: Station) -> dict[str, Any] | None:
    """Station k's overload figure (see the module docstring), or None when it kept up."""
    if station.infinite or len(meter.times) < 2:
        return None
    cap = capacity(station)
    times, arrivals, queue = meter.times, meter.arrivals[k], meter.queue[k]
    over = _overloaded_window(times, arrivals, _capacities(meter, k, station, cap), cap) if cap is not None else None
    backlog = _backlog(times, arrivals, queue, cap, float(station.servers))
    if over is not None and backlog is not None:
        over["reason"] += "; " + backlog["reason"]
    return over if over is not None else backlog


def describe(name: str, figure: dict[str, Any]) -> str:
    """One line for a person: "gateway overloaded from 312 s to 890 s: offered 1.3x its capacity (...)"."""
    t0, t1 = figure["window"]
    offered, cap = figure["offered"], figure["capacity"]
    ratio = f"offered {offered / cap:.2f}x its capacity" if cap else f"offered {offered:.1f}/s"
    return (f"{name} overloaded from {t0:.0f} s to {t1:.0f} s: {ratio} ({offered:.1f}/s against {cap:.1f}/s); "
            f"{figure['reason']}")
