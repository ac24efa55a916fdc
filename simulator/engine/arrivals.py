"""Arrival processes: one non-homogeneous Poisson source per spec source, and its counters.

Inter-arrival times come from the source's own numpy generator (Exp(1) draws in blocks), inverted through the
integrated rate of its linear profile: exact, one draw per arrival. The source's calendar entry is its next arrival.
"""

from __future__ import annotations

import math
from array import array
from heapq import heappush
from itertools import count
from typing import TYPE_CHECKING

import numpy as np

from ..distributions import BLOCK
from ..model import Source
from .clock import Entry
from .incidents import source_segments

if TYPE_CHECKING:  # the simulation imports this module
    from .core import Simulation
    from .request import Hop
    from .stations import Node

__all__ = ["SourceStats", "ArrivalProcess"]


class SourceStats:
    """A source's counters and latency samples (past the warm-up)."""

    __slots__ = ("name", "arrivals", "acked", "outcomes", "accept", "settle", "sojourn", "retries", "exits",
                 "unfinished", "unfinished_acked", "need", "deadline", "timeouts", "leaks", "met_error_ok",
                 "dead_lettered", "duplicates")

    def __init__(self, name: str, n_stations: int, need: int = 0, deadline: float | None = None) -> None:
        self.name = name
        self.need = need  # steps of complete_through a request must pass to complete
        self.unfinished_acked = 0
        self.deadline = math.inf if deadline is None else deadline
        self.timeouts = 0  # given up by their caller before an acknowledgement
        # unsettled exits: leaks[station][steps passed] = requests that left from that station with that progress
        self.leaks = [[0] * max(1, need) for _ in range(n_stations)]
        self.met_error_ok = 0  # requests that met a failed visit and still completed (or were dropped) afterwards
        self.arrivals = 0
        self.acked = 0
        self.outcomes = {"error": 0, "failed": 0, "dropped": 0}
        # array('d') rather than lists: as cheap to append, and numpy reads it without converting float objects
        self.accept = array("d")
        self.settle = array("d")
        self.sojourn = array("d")
        self.exits = [array("d") for _ in range(n_stations)]  # sojourn by last station visited (requests mode)
        self.retries = 0
        self.unfinished = 0
        self.dead_lettered = 0  # ended in a buffer's dead-letter queue
        self.duplicates = 0  # retries, without an idempotency key, of a call that failed after its work

    def close(self) -> None:
        """At the horizon: what is still in the network counts as dropped (acknowledged) or as an error."""
        o = self.counts()
        finished = o["completed"] + o["error"] + o["failed"] + o["dropped"]
        unfinished = self.arrivals - finished
        unfinished_acked = self.acked - o["settled"] - o["failed"] - o["dropped"]  # leaks count as acknowledged
        self.unfinished = unfinished
        self.unfinished_acked = unfinished_acked
        self.outcomes["dropped"] += unfinished_acked
        self.outcomes["error"] += unfinished - unfinished_acked

    def counts(self) -> dict[str, int]:
        """Outcome counts in `results.OUTCOMES` order."""
        o = self.outcomes
        return {"completed": len(self.sojourn), "settled": len(self.settle), "error": o["error"],
                "failed": o["failed"], "dropped": o["dropped"]}


class ArrivalProcess:
    """A Poisson source with a piecewise-linear rate; its calendar entry is the next arrival."""

    __slots__ = ("sim", "spec", "stats", "entry", "route", "rng", "exp", "end", "segs", "seg", "flat_a", "flat_b",
                 "flat_r", "on_fire", "calendar", "ids", "window_stats")

    def __init__(self, sim: Simulation, spec: Source, stats: SourceStats, entry: Node, route: list[Hop],
                 rng: np.random.Generator, end: float) -> None:
        self.sim = sim
        self.spec = spec
        self.stats = stats
        self.entry = entry
        self.route = route
        self.rng = rng
        self.exp: list[float] = []  # Exp(1) draws ahead, consumed with pop()
        self.end = end
        # (start, end, rate at start, slope) per linear piece of the profile; a constant rate is one flat piece
        self.segs = source_segments(sim.network, sim.network.sources.index(spec), spec)
        self.seg = 0
        self.flat_a = self.flat_b = self.flat_r = 0.0
        self._cache_segment()
        self.on_fire = self._fire
        self.calendar: list[Entry] = sim.env.calendar
        self.ids: count[int] = sim.env.ids
        self.window_stats: list[SourceStats] = []  # this source's stats per named window (set by the simulation)

    def _refill(self) -> float:
        """Refill the block of Exp(1) draws and return one (callers do `exp.pop() if exp else _refill()`)."""
        self.exp.extend(self.rng.standard_exponential(BLOCK).tolist())
        return self.exp.pop()

    def _cache_segment(self) -> None:
        """Keep the current segment's [a, b) and rate when it is flat: most arrivals then take the fast path in
        `next_time` (a segment that is not flat gets a = inf, so the fast path never applies)."""
        if self.seg < len(self.segs) and self.segs[self.seg][3] == 0.0:
            self.flat_a, self.flat_b, self.flat_r, _ = self.segs[self.seg]
        else:
            self.flat_a, self.flat_b, self.flat_r = math.inf, math.inf, 1.0

    def next_time(self, now: float, work: float) -> float:
        """`invert`, with its arithmetic for a draw that ends inside the current flat segment done here."""
        if self.flat_a <= now and work <= self.flat_r * (self.flat_b - now):
            return now + work / self.flat_r
        t = self.invert(now, work)
        self._cache_segment()
        return t

    def invert(self, now: float, work: float) -> float:
        """The time t > now where the integrated rate from `now` reaches `work` (an Exp(1) draw): exact
        non-homogeneous Poisson by inversion, one draw per arrival, segment by segment of the linear profile."""
        pts = self.segs
        seg = self.seg  # arrival times only increase, so the segment pointer only moves forward
        t = now
        while seg < len(pts):
            a, b, r0, slope = pts[seg]
            if t < a:
                t = a
            if t < b:
                r = r0 + slope * (t - a)
                x = b - t
                area = r * x if slope == 0.0 else r * x + 0.5 * slope * x * x  # a last flat piece may be endless
                if work <= area:
                    self.seg = seg
                    if slope == 0.0:
                        return t + work / r
                    # solve slope/2 x^2 + r x = work for the smallest x >= 0 (stable form)
                    return t + 2.0 * work / (r + math.sqrt(max(0.0, r * r + 2.0 * slope * work)))
                work -= area
            seg += 1
        self.seg = seg
        return math.inf

    def schedule_next(self, now: float) -> None:
        """Draw the next arrival time and schedule it (nothing once past the end of traffic)."""
        exp = self.exp
        t = self.next_time(now, exp.pop() if exp else self._refill())
        if t > self.end:
            sim = self.sim
            sim.active_sources -= 1
            if not sim.active_sources and not sim.outstanding:
                sim.done_at = now
            return
        entry: Entry = (t, next(self.ids), self.on_fire, None)
        heappush(self.calendar, entry)

    def _fire(self, _: None, now: float) -> None:
        sim = self.sim
        if sim.n_arrived >= sim.limit:
            sim.active_sources -= 1
            if not sim.active_sources and not sim.outstanding:
                sim.done_at = now
            return
        # schedule_next(now) with the flat-segment case of next_time, inlined: this runs once per request
        exp = self.exp
        work = exp.pop() if exp else self._refill()
        if self.flat_a <= now and work <= self.flat_r * (self.flat_b - now):
            t = now + work / self.flat_r
        else:
            t = self.next_time(now, work)
        if t > self.end:
            sim.active_sources -= 1
        else:
            entry: Entry = (t, next(self.ids), self.on_fire, None)
            heappush(self.calendar, entry)
        sim.arrival(self, now)
