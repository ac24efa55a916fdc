"""A request's record and the route entries that hand it on.

A route is a list, per station, of where a request goes next: a station, an `Exit`, a `Branch` or a `Mark`. All of
them have `arrive(req, now)`, so a finished visit hands on with one call and no test of what comes next.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the stations and the simulation import this module
    from .arrivals import SourceStats
    from .buffers import BufferNode
    from .core import Simulation
    from .stations import Node

__all__ = ["Request", "Hop", "Exit", "Branch", "Mark"]


class Hop(Protocol):
    """Where a request goes next: a station or a route entry."""

    def arrive(self, req: Request, now: float) -> None: ...


class Request:
    """One request in the network. The engine sets every slot at the request's arrival (`Simulation.arrival`)."""

    __slots__ = ("source", "entered_at", "arrived_at", "service_started_at", "counted", "route", "holder", "acked",
                 "attempts", "cut_off", "last_station", "steps_done", "met_error")

    source: SourceStats  # its source's counters
    entered_at: float  # arrival in the network
    arrived_at: float  # arrival at the station it is visiting
    service_started_at: float  # start of its service there
    counted: bool  # past the warm-up: counts in the statistics
    route: list[Hop]  # its source's route
    holder: BufferNode | None  # the buffer whose consumer holds it, if any
    acked: bool  # its caller has been answered
    attempts: int  # takes by its holding buffer's consumers
    cut_off: bool  # this service was cut at the station's timeout: the visit errs
    last_station: Node  # the station of its latest visit
    steps_done: int  # steps of its source's complete_through passed, in order
    met_error: bool  # some visit of it failed


class Exit:
    """Leaving the network from a station."""

    __slots__ = ("sim", "node")

    def __init__(self, sim: Simulation, node: Node) -> None:
        self.sim = sim
        self.node = node

    def arrive(self, req: Request, now: float) -> None:
        req.last_station = self.node
        self.sim.leave(req, now)


class Branch:
    """A probabilistic routing row: targets[bisect(cum, u)], each a station or an `Exit`."""

    __slots__ = ("cum", "targets", "rng")

    def __init__(self, cum: list[float], targets: list[Hop], rng: random.Random) -> None:
        self.cum = cum
        self.targets = targets
        self.rng = rng

    def arrive(self, req: Request, now: float) -> None:
        self.targets[bisect_right(self.cum, self.rng.random())].arrive(req, now)


class Mark:
    """A route entry after a station that is a step of a source's `complete_through`: a successful visit there
    moves the request one step on (only in order), then it goes where the route says."""

    __slots__ = ("step", "target")

    def __init__(self, step: int, target: Hop) -> None:
        self.step = step
        self.target = target

    def arrive(self, req: Request, now: float) -> None:
        if req.steps_done == self.step:
            req.steps_done = self.step + 1
        self.target.arrive(req, now)
