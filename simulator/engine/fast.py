"""The compiled engine's side of a `Simulation`: when it runs, its clock, and the simulation that drives it.

`_fast.pyx` holds the same semantics as the pure engine (`core`, `stations`, `buffers`, `arrivals`, `request`) in C;
Cython builds it when the package is installed (`setup.py`). A `Simulation` runs on it when it is built, unless
`engine="pure"` (or `KATA_ENGINE=pure` in the environment) asks for the pure engine; `engine="fast"` insists on it.
Both give the same results for the same seed, to the last bit (`tests/simulator/test_fast_engine.py`).

`FastClock` is the `Clock` with the calendar in C: SimPy's events still go on `Environment._queue`, with a marker in
the C calendar each, so plain SimPy processes interleave with the compiled engine as they do with the pure one.
"""

from __future__ import annotations

import os
from heapq import heappush
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simpy.core import EmptySchedule, Infinity
from simpy.events import NORMAL, Event, EventPriority

from .clock import _PRIORITY_SPAN, Clock, Handler

try:
    from . import _fast  # type: ignore[attr-defined]
except ImportError:  # not built: the pure engine runs
    _fast = None

if TYPE_CHECKING:
    from ..model import Network
    from .core import Simulation

__all__ = ["AVAILABLE", "FastClock", "wanted", "supports", "missing", "build_fast"]

AVAILABLE = _fast is not None
ENGINES = ("auto", "fast", "pure")


def wanted(engine: str | None) -> bool:
    """Whether a simulation asked for with `engine` (None: `KATA_ENGINE`, else "auto") runs compiled."""
    choice = engine or os.environ.get("KATA_ENGINE") or "auto"
    if choice not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {choice!r}")
    if choice == "fast" and not AVAILABLE:
        raise RuntimeError("the compiled engine is not built: `pip install -e .` builds it (Cython and a C compiler)")
    return choice != "pure" and AVAILABLE


def missing(network: Network) -> str | None:  # noqa: ARG001 - every feature of today is compiled
    """The first feature `network` uses that the compiled engine does not have yet (None: it has them all, which is
    the case for every feature today; a new one is named here until it is ported)."""
    return None


def supports(network: Network) -> bool:
    """Whether the compiled engine can run `network`; `Simulation` falls back to the pure engine when it cannot."""
    return missing(network) is None


class FastClock(Clock):
    """A `Clock` whose calendar is the compiled engine's (`core`, set by `build_fast` before any event)."""

    core: Any

    def at(self, time: float, handler: Handler, obj: Any) -> None:
        self.core.push_call(time, handler, obj)

    def schedule(self, event: Event, priority: EventPriority = NORMAL, delay: float = 0) -> None:
        time = self._now + delay
        eid = self.core.take_id()
        heappush(self._queue, (time, priority, eid, event))
        self.core.push_marker(time, (priority - 1) * _PRIORITY_SPAN + eid)

    def _simpy_event(self) -> None:
        """A marker's turn: process SimPy's next event, the one it marks."""
        simpy.Environment.step(self)

    def peek(self) -> float:
        return float(self.core.peek())

    def step(self) -> None:
        core = self.core
        time = core.peek()
        if time == Infinity:
            raise EmptySchedule
        self._now = time
        core.step()

    def advance(self, until: float, until_idle: Any = None) -> None:
        last = self.core.advance(until, until_idle)
        if last is None:
            last = self._now
        self._now = last if until == Infinity else until


def build_fast(sim: Simulation, station_streams: list[np.random.Generator],
               source_streams: list[np.random.Generator], put_streams: list[np.random.Generator | None]) -> Any:
    """The compiled engine's state for `sim` (its nodes, stats and sources are the observer's to read)."""
    assert _fast is not None
    clock = FastClock()
    core = _fast.Core(sim, sim.network, [*station_streams, *source_streams], put_streams, sim.rng)
    core.clock = clock
    clock.core = core
    return core
