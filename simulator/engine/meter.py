"""The meter: every station's counters sampled on a fixed grid of simulated time, whatever the streaming step.

Snapshots come at the caller's step; the figures of the results that look at time (a station's peak utilization,
the overload windows of `simulator.engine.overload`) are read from this grid instead, so they are the same streamed
or not, and on both engines (the meter is one Python object on either clock: a tick is a calendar call like any
other, which reads counters and changes nothing).

The grid is 1 s wide; a long run (past `MAX_SAMPLES` ticks, a requests-mode run over hours) keeps every other sample
and doubles the width, so memory stays bounded. The last sample is the run's end (a shorter last interval).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .core import Simulation

__all__ = ["Meter", "WIDTH", "MAX_SAMPLES"]

WIDTH = 1.0
MAX_SAMPLES = 1 << 14


class Meter:
    """Samples, at every tick, each station's arrivals so far, busy-server time so far and queue now."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.width = WIDTH
        self.times: list[float] = [0.0]
        n = len(sim.network.stations)
        self.arrivals: list[list[int]] = [[0] for _ in range(n)]
        self.area: list[list[float]] = [[0.0] for _ in range(n)]
        self.queue: list[list[int]] = [[0] for _ in range(n)]
        self.closed = False
        self.core: Any = getattr(sim, "core", None)  # the compiled engine's state, when it runs

    def start(self) -> None:
        """Schedule the first tick (after the sources' first arrivals, in both engines alike)."""
        self.sim.env.at(self.width, self.tick, None)

    def _sample(self, now: float) -> None:
        self.times.append(now)
        if self.core is not None:  # the compiled engine reads the same counters in C
            self.core.meter_sample(now, self.arrivals, self.area, self.queue)
            return
        for k, node in enumerate(self.sim.nodes):
            self.arrivals[k].append(node.arrivals)
            self.area[k].append(node.area_at(now))
            self.queue[k].append(node.queued)

    def tick(self, _: Any, now: float) -> None:
        """A grid point: sample, then schedule the next one (none once the run is over)."""
        if self.sim.done_at is not None:
            return
        self._sample(now)
        if len(self.times) > MAX_SAMPLES:
            self.times = self.times[::2]
            self.arrivals = [row[::2] for row in self.arrivals]
            self.area = [row[::2] for row in self.area]
            self.queue = [row[::2] for row in self.queue]
            self.width *= 2.0
        self.sim.env.at(len(self.times) * self.width, self.tick, None)

    def close(self, end: float) -> None:
        """The last sample, at the run's end (once)."""
        if self.closed:
            return
        self.closed = True
        if end > self.times[-1]:
            self._sample(end)

    def utilization_peak(self, k: int) -> float | None:
        """Station k's busiest grid interval (a shorter last one only when it is the only one)."""
        times = np.asarray(self.times)
        if times.size < 2:
            return None
        dt = np.diff(times)
        u = np.diff(np.asarray(self.area[k])) / (self.sim.nodes[k].servers * dt)
        keep = dt >= self.width
        keep[0] = True  # the first interval counts whatever its length (a run shorter than one grid step)
        keep &= dt > 0
        return float(u[keep].max()) if keep.any() else None
