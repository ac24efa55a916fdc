"""The clock: a `simpy.Environment` that also keeps the engine's own calendar, so SimPy stays the clock and the event
loop and the engine's events cost one tuple each.

The engine schedules `(time, eid, handler, obj)` entries on `Clock.calendar` (`Clock.at`); processing one is the call
`handler(obj, time)`. SimPy's events go where SimPy puts them (`Environment._queue`, untouched), and each one also
gets a *marker* in the calendar (`schedule` is overridden: every SimPy event is scheduled through it), so the calendar
alone orders everything: time first, then SimPy's priority (an URGENT event before a NORMAL one at the same time),
then the shared event counter (`Clock.ids` is the environment's own `_eid`), one FIFO order at equal times for the
engine's entries and SimPy's. Popping a marker runs `Environment.step`, which pops the very event it marks.

`step()` and `peek()` are overridden to follow the calendar, so `env.run(until=...)`, `env.process`, `env.timeout` and
the events processes wait on work as on a plain environment, interleaved in time order with the engine. The engine
itself runs through `advance(until)`, a loop over the calendar with nothing but the pop, the clock and the call.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity
from simpy.events import NORMAL, Event, EventPriority

__all__ = ["Clock", "Entry", "Handler"]

Handler = Callable[[Any, float], None]
Entry = tuple[float, int, Handler, Any]

# A marker's place among entries at the same time: SimPy's priority first (-1 for an event StopSimulation put back,
# 0 URGENT, 1 NORMAL like every engine entry), then the event's id. Ids stay far below this for any real run.
_PRIORITY_SPAN = 1 << 62


class _EngineIdle(Exception):
    """Raised by a marker when `advance(until_idle=...)` finds the engine done: SimPy's events wait for a later call."""


class Clock(simpy.Environment):
    """A SimPy environment with the engine's calendar beside SimPy's queue (see the module docstring)."""

    def __init__(self, initial_time: float = 0.0) -> None:
        super().__init__(initial_time)
        self._now: float = initial_time
        self.calendar: list[Entry] = []
        self.ids: count[int] = self._eid  # one counter for the engine's entries and SimPy's events
        self._until_idle: Callable[[], bool] | None = None

    def at(self, time: float, handler: Handler, obj: Any) -> None:
        """Schedule the engine's call `handler(obj, time)` (the hot paths push the same tuple themselves)."""
        entry: Entry = (time, next(self.ids), handler, obj)
        heappush(self.calendar, entry)

    # ---------------------------------------------------------------- SimPy's side
    def schedule(self, event: Event, priority: EventPriority = NORMAL, delay: float = 0) -> None:
        """Schedule a SimPy event (as `Environment.schedule` does) and its marker in the calendar."""
        time = self._now + delay
        eid = next(self.ids)
        heappush(self._queue, (time, priority, eid, event))
        marker: Entry = (time, (priority - 1) * _PRIORITY_SPAN + eid, self._simpy_step, None)
        heappush(self.calendar, marker)

    def _simpy_step(self, _: None, time: float) -> None:
        """A marker's handler: process SimPy's next event, the one it marks."""
        idle = self._until_idle
        if idle is not None and idle():
            _time, priority, eid, _event = self._queue[0]
            marker: Entry = (time, (priority - 1) * _PRIORITY_SPAN + eid, self._simpy_step, None)
            heappush(self.calendar, marker)  # put back: SimPy's event waits for a later call
            raise _EngineIdle
        simpy.Environment.step(self)

    def peek(self) -> float:
        """The time of the next event, the engine's or SimPy's (`Infinity` if there is none)."""
        return self.calendar[0][0] if self.calendar else Infinity

    def step(self) -> None:
        """Process the next event, the engine's or SimPy's; `EmptySchedule` if there is none."""
        if not self.calendar:
            raise EmptySchedule
        time, _, handler, obj = heappop(self.calendar)
        self._now = time
        handler(obj, time)

    # ---------------------------------------------------------------- the engine's side
    def advance(self, until: float, until_idle: Callable[[], bool] | None = None) -> None:
        """Process every event before `until`, then set the clock to it (as `Environment.run(until=...)` does: an
        event at exactly `until` waits for the next call).

        Inside an engine handler `now` is its argument (`self.now` is the last SimPy event's or call's time): a
        handler that schedules SimPy events sets `self._now` to its `now` first. With `until=inf` the loop runs
        while there are events; `until_idle` then stops it as soon as only SimPy's events are left and
        `until_idle()` says the engine is done, with the clock at the engine's last event.
        """
        calendar = self.calendar
        pop = heappop
        last = self._now
        self._until_idle = until_idle
        try:
            while calendar:
                time, eid, handler, obj = pop(calendar)
                if time >= until:  # once per call: cheaper than peeking at every event
                    heappush(calendar, (time, eid, handler, obj))
                    break
                # The engine's handlers take the clock as an argument, so it is written back once, when the loop
                # stops (a store per event costs a tenth of a run); SimPy's events set it as they run.
                handler(obj, time)
                last = time
        except _EngineIdle:
            pass
        finally:
            self._until_idle = None
        self._now = last if until == Infinity else until
