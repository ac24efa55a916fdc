"""The engine: a queueing network on SimPy, one calendar entry per station visit.

Why not a SimPy process per request: a generator process plus a `Resource` per station costs ~12 events per request;
here stations are plain objects (a FIFO deque and a busy-server count) and the only events are arrivals and service
completions, `(time, eid, handler, obj)` entries on the calendar of the environment, a `Clock` (`simpy.Environment`
subclass) that orders them with SimPy's own events, so plain SimPy processes may share the run.

Modules: `core` (the `Simulation`: routes, a request's life, the run; the semantics), `request` (the request and the
route entries), `stations`, `buffers`, `arrivals` (sources), `clock` (the SimPy coupling), `observe` (snapshots,
results, metrics).
"""

from __future__ import annotations

from .clock import Clock
from .core import Simulation, run

__all__ = ["Simulation", "run", "Clock"]
