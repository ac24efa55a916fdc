"""A request's record and the route entries that hand it on.

A route is a list, per station, of where a request goes next: a station, an `Exit`, a `Branch` or a `Mark`. All of
them have `arrive(req, now)`, so a finished visit hands on with one call and no test of what comes next.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the stations and the simulation import this module
    from .arrivals import SourceStats
    from .buffers import BufferNode
    from .core import Simulation
    from .stations import Node

__all__ = ["Request", "Hop", "Exit", "Branch", "Mark", "ScopeEnd", "Discard", "DISCARD"]


class Hop(Protocol):
    """Where a request goes next: a station or a route entry."""

    def arrive(self, req: Request, now: float) -> None: ...


class Request:
    """One request in the network. The engine sets every slot at the request's arrival (`Simulation.arrival`)."""

    __slots__ = ("source", "entered_at", "arrived_at", "service_started_at", "counted", "route", "holder", "acked",
                 "attempts", "cut_off", "last_station", "steps_done", "met_error", "deadline_at", "deadline_node",
                 "ghost")

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
    # Set only in a network with station deadlines (read with getattr elsewhere, so other networks pay nothing):
    deadline_at: float  # its caller's deadline (inf: none running; -inf: an abandoned copy, never timed again)
    deadline_node: Node  # the station whose deadline it is
    ghost: bool  # the abandoned copy left behind by a deadline: it no longer counts anywhere

    def twin(self) -> Request:
        """A copy of every slot that is set: it carries on the request's life when the original is abandoned."""
        other = Request()
        for name in Request.__slots__:
            if hasattr(self, name):
                setattr(other, name, getattr(self, name))
        return other


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


class ScopeEnd:
    """A route entry before a buffer or an exit in a network with station deadlines: reaching it ends the
    synchronous call, so the caller's deadline running on the request stops there."""

    __slots__ = ("target",)

    def __init__(self, target: Hop) -> None:
        self.target = target

    def arrive(self, req: Request, now: float) -> None:
        req.deadline_at = math.inf
        self.target.arrive(req, now)


class Discard:
    """Where an abandoned copy of a request goes when its work is over: nowhere."""

    __slots__ = ()

    def arrive(self, req: Request, now: float) -> None:
        pass


DISCARD = Discard()
