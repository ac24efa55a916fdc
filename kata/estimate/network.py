"""The design's network (the one the simulator runs) at one rate: flows capped by what queues can drain, waits,
slowdowns, refusals, failures, routes to an acknowledgement and requests that leave unfinished."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kata.compiler import CompiledDesign
from kata.design import Design
from kata.estimate.grid import GRID_BINS, Grid
from kata.palette import Palette
from simulator.analytic import QueueMetrics, UnstableError, mmc, mmck, service_cdf
from simulator.build import build_network
from simulator.model import Network, Source, Station

ITERATIONS = 60


@dataclass
class Level:
    """The network at one rate (normal or peak)."""

    inflow: list[float]
    outflow: list[float]
    stretch: list[float]  # the slowdown's service-time multiplier
    utilization: list[float]
    waits: list[QueueMetrics | None]  # None = unbounded
    refused: list[float]
    drain: list[float]  # a buffer: what its consumers can hand on per second (inf for a station)
    hold: list[float]  # a buffer: seconds a consumer holds a message


class NetworkModel:
    def __init__(self, design: Design, palette: Palette, compiled: CompiledDesign) -> None:
        self.design = design
        self.palette = palette
        self.compiled = compiled
        self.network: Network = build_network(compiled.spec)
        self.stations: tuple[Station, ...] = self.network.stations
        self.n = len(self.stations)
        self.names = [s.name for s in self.stations]
        self.routing = self.network.routing
        self.exit = [max(0.0, 1.0 - sum(row)) for row in self.routing]
        # Stations only reached through queues hold at most their queues' consumers at once.
        self.population: list[float | None] = []
        entries = {src.entry for src in self.network.sources}
        for j in range(self.n):
            total: float | None = None if j in entries else 0.0
            for i in range(j):
                if self.routing[i][j] <= 0 or total is None:
                    continue
                if self.stations[i].is_buffer:
                    total += self.stations[i].servers
                else:
                    upstream = self.population[i]
                    total = None if upstream is None else total + upstream
            self.population.append(total if total else None)
        self.downstream = {q: self.visits(q, through_buffers=False)
                           for q in range(self.n) if self.stations[q].is_buffer}

    def visits(self, entry: int, *, through_buffers: bool = True) -> list[float]:
        """Expected visits of each station per request entering at `entry` (the routing is a DAG in index order)."""
        v = [0.0] * self.n
        v[entry] = 1.0
        for i in range(entry, self.n):
            if v[i] == 0 or (i != entry and not through_buffers and self.stations[i].is_buffer):
                continue
            for j, p in enumerate(self.routing[i]):
                if p > 0:
                    v[j] += v[i] * p
        return v

    def _station_wait(self, i: int, rate: float, stretch: float) -> tuple[QueueMetrics | None, float]:
        """(wait model, refused share) of station i at an offered rate."""
        st = self.stations[i]
        if rate <= 0:
            return QueueMetrics(0, 0, 0, 0, 0, 0, 0, 0, 0), 0.0
        servers, service = int(st.servers), st.service.mean * stretch
        if service <= 0:
            return QueueMetrics(rate, rate, 0, 0, 0, 0, 0, 0, 0), 0.0
        population = self.population[i]
        capacity = st.admission_limit  # its capacity, or load shedding's bound when that is smaller
        limit = min(capacity or math.inf, population or math.inf)
        refused = 0.0
        if capacity is not None and (population is None or capacity < population):
            refused = mmck(rate, service, servers, capacity).blocking_prob
        if limit <= servers:
            return QueueMetrics(rate, rate, 0, 0, 0, 0, 0, 0, service), refused
        if math.isfinite(limit):
            return mmck(rate, service, servers, int(limit)), refused
        try:
            return mmc(rate, service, servers), refused
        except UnstableError:
            return None, refused

    def level(self, external: dict[int, float]) -> Level:
        n = self.n
        stretch = [1.0] * n
        drain = [math.inf] * n
        hold = [0.0] * n
        refused = [0.0] * n
        for step in range(ITERATIONS):
            # Steps that shrink as it goes: a slowdown's steep curve makes plain iteration oscillate.
            weight = 2.0 / (step + 2)
            inflow, outflow = [0.0] * n, [0.0] * n
            for entry, rate in external.items():
                inflow[entry] += rate
            for i in range(n):
                outflow[i] = min(inflow[i], drain[i]) if self.stations[i].is_buffer else inflow[i] * (1 - refused[i])
                for j, p in enumerate(self.routing[i]):
                    if p > 0:
                        inflow[j] += outflow[i] * p
            utilization, sojourn = [0.0] * n, [0.0] * n
            waits: list[QueueMetrics | None] = [None] * n
            for i, st in enumerate(self.stations):
                if st.is_buffer:
                    continue
                utilization[i] = outflow[i] * st.service.mean * stretch[i] / st.servers
                if st.slowdown is not None:
                    target = st.slowdown.multiplier(min(1.0, utilization[i]))
                    stretch[i] += weight * (target - stretch[i])
                wait, refused[i] = self._station_wait(i, inflow[i], stretch[i])
                waits[i] = wait
                sojourn[i] = (wait.Wq if wait is not None else 0.0) + st.service.mean * stretch[i]
            for q in self.downstream:
                hold[q], drain[q] = self._drain(q, inflow, outflow, sojourn, stretch)
        self._buffer_waits(inflow, drain, hold, utilization, waits)
        return Level(inflow, outflow, stretch, utilization, waits, refused, drain, hold)

    def _drain(self, q: int, inflow: list[float], outflow: list[float], sojourn: list[float],
               stretch: list[float]) -> tuple[float, float]:
        """(seconds a consumer of buffer q holds a message, what its consumers can hand on per second): at most its
        consumers over that hold, and never more than the busiest part behind it can serve."""
        v = self.downstream[q]
        consumers = self.stations[q].servers
        held = sum(v[j] * (self._write_mean(j) if self.stations[j].is_buffer else sojourn[j])
                   for j in range(q + 1, self.n) if v[j] > 0)
        cap = consumers / held if held > 0 else math.inf
        for j in range(q + 1, self.n):
            st = self.stations[j]
            if v[j] <= 0 or st.is_buffer or st.service.mean <= 0:
                continue
            others = inflow[j] - v[j] * outflow[q]
            room = st.servers / (st.service.mean * stretch[j]) - others
            cap = min(cap, max(0.0, room) / v[j])
        return held, cap

    def _buffer_waits(self, inflow: list[float], drain: list[float], hold: list[float], utilization: list[float],
                      waits: list[QueueMetrics | None]) -> None:
        """A buffer's utilization and wait for a consumer (None: its backlog grows without bound)."""
        for q in self.downstream:
            backlogged = inflow[q] > drain[q] * (1 + 1e-6)
            busy = inflow[q] * hold[q] / self.stations[q].servers if self.stations[q].servers else 1.0
            utilization[q] = 1.0 if backlogged else min(1.0, busy)
            try:
                waits[q] = None if backlogged else (
                    mmc(inflow[q], hold[q], int(self.stations[q].servers)) if inflow[q] > 0 and hold[q] > 0
                    else QueueMetrics(0, 0, 0, 0, 0, 0, 0, 0, 0))
            except UnstableError:
                waits[q] = None

    def _write_mean(self, i: int) -> float:
        enqueue = self.stations[i].enqueue
        return enqueue.mean if enqueue is not None else 0.0

    def failure(self, level: Level, i: int) -> float:
        """Probability that a visit of station i fails at this level: an error, a refusal, a failed write."""
        st = self.stations[i]
        if st.is_buffer:
            return st.enqueue_error
        p = st.errors.probability(min(1.0, level.utilization[i])) if st.errors is not None else 0.0
        if st.timeout is not None:
            p = 1 - (1 - p) * service_cdf(st.service, st.timeout / level.stretch[i])
        return 1 - (1 - p) * (1 - level.refused[i])

    def accept(self, grid: Grid, level: Level, source: Source) -> np.ndarray:
        """The accept latency of `source`'s requests: a mixture over every route to an acknowledging queue or an
        exit, each route the convolution of its parts' waits and service times."""
        arriving: dict[int, np.ndarray] = {source.entry: grid.delta()}
        accepted = np.zeros(GRID_BINS + 1)
        for i in range(source.entry, self.n):
            if i not in arriving:
                continue
            dist, st = arriving.pop(i), self.stations[i]
            if st.is_buffer:
                if st.enqueue is not None:
                    dist = grid.convolve(dist, grid.service(st.enqueue))
                if st.acknowledge:  # the caller is answered once the write is done
                    accepted += dist
                    continue
                dist = grid.convolve(dist, grid.wait(level.waits[i]))
            else:
                dist = grid.convolve(dist, grid.wait(level.waits[i]))
                dist = grid.convolve(dist, grid.service(st.service, level.stretch[i]))
            if self.exit[i] > 0:
                accepted += dist * self.exit[i]
            for j, p in enumerate(self.routing[i]):
                if p > 0:
                    arriving[j] = arriving[j] + dist * p if j in arriving else dist * p
        return accepted

    def leaks(self, source: Source) -> dict[int, list[float]]:
        """Share of `source`'s requests leaving from each station before completing step k (the simulator's `leaks`)."""
        need = len(source.complete_through)
        if not need:
            return {}
        mass = [[0.0] * (need + 1) for _ in range(self.n)]
        mass[source.entry][0] = 1.0
        out: dict[int, list[float]] = {}
        for i in range(source.entry, self.n):
            here = mass[i]
            for k in range(need):
                if here[k] and i in source.complete_through[k]:
                    here[k + 1] += here[k]
                    here[k] = 0.0
            if self.exit[i] > 0 and any(here[:need]):
                out[i] = [here[k] * self.exit[i] for k in range(need)]
            for j, p in enumerate(self.routing[i]):
                if p > 0:
                    for k in range(need + 1):
                        mass[j][k] += here[k] * p
        return out


def fluid_backlog(
    rate_at: Callable[[float], float], share: float, drain: float, end: float
) -> tuple[float, float, float]:
    """A fluid queue fed at share × rate_at(t) and drained at `drain`, in 1-s steps up to `end`:
    (largest backlog, when it was largest, backlog at the end)."""
    backlog = largest = when = 0.0
    t = 0.0
    while t < end:
        backlog = max(0.0, backlog + share * rate_at(t + 0.5) - drain)
        if backlog > largest:
            largest, when = backlog, t + 1
        t += 1.0
    return largest, when, backlog
