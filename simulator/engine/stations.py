"""Stations at run time: a FIFO deque and a count of busy servers, one calendar entry per service.

* Station: FIFO, `servers` parallel servers, optional capacity K (in service + waiting; an arrival that finds K
  present is rejected). Utilization = busy servers / servers.
* Errors are evaluated when a visit completes: probability `ErrorCurve.probability(u)` with u the station's
  utilization over the last `window` seconds (see `Node.utilization_window`). A `timeout` ends a visit whose service
  time would exceed it, at `timeout`, as an error. `slowdown` multiplies the service time at service start. A
  rejection (full station) is handled like an error of the visit.

`node_class` picks the leanest class that has what a station's spec asks for: `PlainNode` (no capacity, timeout,
slowdown or error curve: the hot path of most networks), `CurveNode` (a plain station with an error curve) or `Node`.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import deque
from heapq import heappush
from itertools import count
from typing import TYPE_CHECKING

import numpy as np

from ..distributions import ServiceSampler
from ..model import ErrorCurve, Slowdown, Station
from .clock import Entry

if TYPE_CHECKING:  # the simulation imports this module
    from .core import Simulation
    from .request import Request

__all__ = ["MARKS", "Node", "PlainNode", "CurveNode", "DeadlineNode", "node_class"]

MARKS = 16  # sub-intervals per utilization window


class Node:
    """Runtime state of a station, and a visit with every feature (capacity, timeout, slowdown, error curve)."""

    # Slots, not an instance dict: past 30 attributes CPython 3.11 gives an instance a dict of its own, and method
    # calls on it (nxt.arrive, self._mark, ...) then miss the interpreter's fast path on every visit.
    __slots__ = ("sim", "calendar", "ids", "rng", "idx", "spec", "name", "servers", "capacity", "draws", "refill",
                 "on_done", "busy", "queue", "busy_area", "changed_at", "arrivals_counted", "rejected", "errors",
                 "max_queue", "warm_done", "no_wait", "recovered", "exhausted", "counted_rejected", "waits",
                 "sojourns", "cutoff", "base_error", "curve", "slowdown", "check_errors", "p_error", "successes_left",
                 "tracked", "window", "mark_step", "marks", "next_mark", "window_utilization", "slow_factor",
                 "at_last_snapshot", "surfaced", "lost", "open_servers", "latency_factor", "error_floor", "down",
                 "abandoned", "after_work", "duplicates")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator) -> None:
        self.sim = sim
        self.calendar: list[Entry] = sim.env.calendar
        self.ids: count[int] = sim.env.ids
        self.rng: random.Random = sim.rng
        self.idx = idx
        self.spec = spec
        self.name = spec.name
        self.servers: float = spec.servers
        self.capacity: int | None = spec.admission_limit  # capacity, and load shedding's bound
        sampler = ServiceSampler(spec.service, rng)
        self.draws: list[float] = sampler.buf  # service times drawn ahead, consumed with pop()
        self.refill = sampler.refill
        self.on_done = self._done  # bound once: the handler of this station's calendar entries
        self.busy = 0
        self.queue: deque[Request] = deque()
        self.busy_area = 0.0  # integral of busy servers over time, up to self.changed_at
        self.changed_at = 0.0
        self.arrivals_counted = 0
        self.rejected = self.errors = self.max_queue = 0
        self.warm_done = 0  # completed visits of warm-up requests; see `completions`
        self.recovered = 0  # failed visits here that a holding buffer sent back for another attempt
        self.exhausted = 0  # failed visits here on a request's last attempt allowed by its buffer's retry policy
        self.surfaced = 0  # failed visits here that ended their request as an error (before an acknowledgement)
        self.lost = 0  # failed visits here that ended their (acknowledged) request as failed
        self.abandoned = 0  # requests whose caller's deadline set here passed (each also a failed visit here)
        self.after_work = spec.errors_after_work  # share of its errors that come after the work
        self.duplicates = 0  # retries, without an idempotency key, of its calls that failed after the work
        self.counted_rejected = 0  # rejections of requests past the warm-up
        self.waits = array("d")  # the non-zero wait of every counted visit
        self.no_wait = 0  # counted visits that did not wait: their zero waits are counted, not stored (all_waits())
        self.sojourns = array("d")  # the sojourn of every counted visit
        self.cutoff = spec.timeout if spec.timeout is not None else math.inf  # one comparison per service start
        self.base_error = spec.errors.base if spec.errors is not None else 0.0
        self.curve: ErrorCurve | None = spec.errors if spec.errors is not None and spec.errors.threshold is not None \
            else None
        self.slowdown: Slowdown | None = spec.slowdown
        self.check_errors = spec.errors is not None
        # The error probability only changes when the windowed utilization does (at a grid mark), so it is kept
        # here, and the visits until the next error are drawn up front (geometric): one draw per error, not per visit.
        self.p_error = self.base_error
        self.successes_left = self._successes_before_error()
        # An untracked station never marks (next_mark = inf): it skips the window bookkeeping.
        self.tracked, self.window, self.mark_step, self.next_mark = _window_grid(self.curve, self.slowdown)
        self.marks: deque[tuple[float, float]] = deque([(0.0, 0.0)], maxlen=MARKS + 1)
        self.window_utilization = 0.0
        # Like the error probability, the slowdown multiplier only changes at a grid mark: kept here.
        self.slow_factor = self.slowdown.multiplier(0.0) if self.slowdown is not None else 1.0
        self.at_last_snapshot = (0.0, 0, 0, 0)  # busy area, completions, errors, rejected at the previous snapshot
        # An incident's run-time state (`incidents`); only a full `Node` honours it, and only a station that an
        # incident targets runs as one for that reason.
        self.open_servers: float = spec.servers  # servers in rotation (fewer while instances are lost)
        self.latency_factor = 1.0
        self.error_floor = 0.0
        self.down = False

    # ---------------------------------------------------------------- utilization over the recent window, O(1)
    def _mark(self, now: float) -> None:
        """Record the busy area at every grid point (window/16) passed and refresh the windowed utilization.

        Call it (when now >= next_mark) before each busy change, so the busy count was constant since `changed_at`.
        """
        mark = self.next_mark
        step = self.mark_step
        if now - mark > self.window:  # long idle stretch: only the last window matters
            mark += math.floor((now - self.window - mark) / step) * step
        marks, area, busy, since = self.marks, self.busy_area, self.busy, self.changed_at
        while now >= mark:
            marks.append((mark, area + busy * (mark - since)))
            mark += step
        self.next_mark = mark
        t0, a0 = marks[0]
        t1, a1 = marks[-1]
        self.window_utilization = u = (a1 - a0) / (self.servers * (t1 - t0))
        if self.slowdown is not None:
            self.slow_factor = self.slowdown.multiplier(u)
        curve = self.curve
        if curve is not None:
            p = curve.probability(u)
            if p < self.error_floor:
                p = self.error_floor
            if p != self.p_error:
                # Memorylessness makes a redraw at the new probability exact.
                self.p_error = p
                self.successes_left = self._successes_before_error()

    def _successes_before_error(self) -> int:
        # A flat error probability p is a Bernoulli process: drawing the geometric run of successes up front
        # costs one draw per error instead of one per visit, with the same distribution.
        p = self.p_error
        if p <= 0.0:
            return 1 << 62
        if p >= 1.0:
            return 0
        return int(math.log(1.0 - self.rng.random()) / math.log1p(-p))

    def utilization_window(self, now: float) -> float:
        """Utilization over the last `window` seconds, on a grid of window/16: the mean over the last full window
        ending at the latest grid point <= now (so it trails by at most window/16; 0 before the first point).
        O(1) per call, which is what lets every visit consult it."""
        if now >= self.next_mark:
            self._mark(now)
        return self.window_utilization

    def area_at(self, now: float) -> float:
        """Busy-server time integrated up to `now`."""
        return self.busy_area + self.busy * (now - self.changed_at)

    def all_waits(self) -> np.ndarray:
        """The wait of every counted visit: the zeros (counted on the hot path, not stored), then the others."""
        waits = np.asarray(self.waits, dtype=float)
        return np.concatenate((np.zeros(self.no_wait), waits)) if self.no_wait else waits

    @property
    def queued(self) -> int:
        """Requests waiting (not in service)."""
        return len(self.queue)

    @property
    def completions(self) -> int:
        """Completed visits: one sojourn sample per visit past the warm-up, plus the warm-up ones. Derived, so the
        hot path keeps no separate counter."""
        return len(self.sojourns) + self.warm_done

    @property
    def arrivals(self) -> int:
        """Requests that reached the station (admitted or rejected)."""
        return self.arrivals_counted

    # ---------------------------------------------------------------- the visit
    def arrive(self, req: Request, now: float) -> None:
        """A request reaches the station."""
        self.arrivals_counted += 1
        if self.down:  # an outage refuses the call at once
            self.errors += 1
            req.last_station = self
            self.sim.visit_failed(req, now)
            return
        if self.capacity is not None and self.busy + len(self.queue) >= self.capacity:
            self.rejected += 1
            if req.counted:
                self.counted_rejected += 1
            req.last_station = self
            self.sim.visit_failed(req, now)
            return
        req.arrived_at = now
        busy = self.busy
        if busy < self.open_servers:
            if now >= self.next_mark:
                self._mark(now)
            self.busy_area += busy * (now - self.changed_at)
            self.changed_at = now
            self.busy = busy + 1
            # _begin(req, now), inlined: one call fewer per visit. The window was brought up to date just above,
            # and a factor of 1.0 (no slowdown, no brownout) leaves a service time unchanged.
            draws = self.draws
            s = (draws.pop() if draws else self.refill()) * self.slow_factor * self.latency_factor
            if s > self.cutoff:
                s = self.cutoff
                req.cut_off = True
            else:
                req.cut_off = False
            req.service_started_at = now
            heappush(self.calendar, (now + s, next(self.ids), self.on_done, req))
        else:
            q = self.queue
            q.append(req)
            if len(q) > self.max_queue:
                self.max_queue = len(q)

    def _begin(self, req: Request, now: float) -> None:
        """Start a service: its time stretched by the slowdown, cut at the timeout (then the visit errs)."""
        draws = self.draws
        s = draws.pop() if draws else self.refill()
        if self.slowdown is not None:
            if now >= self.next_mark:  # what utilization_window(now) does, without the calls
                self._mark(now)
            s *= self.slow_factor
        s *= self.latency_factor
        if s > self.cutoff:
            s = self.cutoff
            req.cut_off = True
        else:
            req.cut_off = False
        req.service_started_at = now
        heappush(self.calendar, (now + s, next(self.ids), self.on_done, req))

    def _done(self, req: Request, now: float) -> None:
        if req.counted:
            arrived_at = req.arrived_at
            started_at = req.service_started_at
            if started_at == arrived_at:
                self.no_wait += 1
            else:
                self.waits.append(started_at - arrived_at)
            self.sojourns.append(now - arrived_at)
        else:
            self.warm_done += 1
        q = self.queue
        if q and self.busy <= self.open_servers:  # a server taken out of rotation starts nothing new
            self._begin(q.popleft(), now)
        else:
            if now >= self.next_mark:
                self._mark(now)
            self.busy_area += self.busy * (now - self.changed_at)
            self.changed_at = now
            self.busy -= 1
        failed = req.cut_off
        if not failed and self.check_errors:
            if now >= self.next_mark:
                self._mark(now)
            left = self.successes_left - 1
            if left < 0:
                failed = True
                self.successes_left = self._successes_before_error()
            else:
                self.successes_left = left
        if failed:
            self.errors += 1
            req.last_station = self
            if self.after_work and not req.cut_off:
                self._after_work()
            self.sim.visit_failed(req, now)
            return
        req.route[self.idx].arrive(req, now)

    def _after_work(self) -> None:
        """Did this error come after the work? The simulation's visit_failed reads the answer."""
        if self.rng.random() < self.after_work:
            self.sim.after_work_pending = True


    def set_incident(self, now: float, latency_factor: float, error_floor: float, down: bool,
                     open_servers: float) -> None:
        """Switch to the state of the station's active incidents (see `incidents`), at `now`."""
        if now >= self.next_mark:
            self._mark(now)
        self.latency_factor = latency_factor
        self.error_floor = error_floor
        self.down = down
        natural = self.curve.probability(self.window_utilization) if self.curve is not None else self.base_error
        p = max(natural, error_floor)
        if p != self.p_error:
            self.p_error = p
            self.successes_left = self._successes_before_error()
        self.open_servers = open_servers
        q = self.queue
        while q and self.busy < open_servers:  # instances back: they take the queue on
            self.busy_area += self.busy * (now - self.changed_at)
            self.changed_at = now
            self.busy += 1
            self._begin(q.popleft(), now)


class PlainNode(Node):
    """A station without capacity, timeout, slowdown or error curve (a flat error rate is fine): the hot path of
    most networks, kept minimal."""

    __slots__ = ()

    def arrive(self, req: Request, now: float) -> None:
        """A request reaches the station."""
        req.arrived_at = now
        busy = self.busy
        if busy < self.servers:
            self.busy_area += busy * (now - self.changed_at)
            self.changed_at = now
            self.busy = busy + 1
            draws = self.draws
            req.service_started_at = now
            heappush(self.calendar, (now + (draws.pop() if draws else self.refill()), next(self.ids), self.on_done,
                                     req))
        else:
            q = self.queue
            q.append(req)
            if len(q) > self.max_queue:
                self.max_queue = len(q)

    def _done(self, req: Request, now: float) -> None:
        if req.counted:
            arrived_at = req.arrived_at
            started_at = req.service_started_at
            if started_at == arrived_at:  # most visits: an array append costs several times an int increment
                self.no_wait += 1
            else:
                self.waits.append(started_at - arrived_at)
            self.sojourns.append(now - arrived_at)
        else:
            self.warm_done += 1
        q = self.queue
        if q:
            nxt_req = q.popleft()
            draws = self.draws
            nxt_req.service_started_at = now
            heappush(self.calendar, (now + (draws.pop() if draws else self.refill()), next(self.ids), self.on_done,
                                     nxt_req))
        else:
            self.busy_area += self.busy * (now - self.changed_at)
            self.changed_at = now
            self.busy -= 1
        left = self.successes_left - 1
        if left < 0:
            self.successes_left = self._successes_before_error()
            self.errors += 1
            req.last_station = self
            if self.after_work:
                self._after_work()
            self.sim.visit_failed(req, now)
            return
        self.successes_left = left
        req.route[self.idx].arrive(req, now)

    @property
    def arrivals(self) -> int:
        """Not counted on the hot path: nothing is ever rejected here, so it is derived."""
        return self.completions + self.busy + len(self.queue)


class CurveNode(PlainNode):
    """A plain station whose error probability follows its utilization: bring the window (and with it the error
    probability) up to date, then visit as a plain station does. Marking first is exact: busy has been constant
    since the last change."""

    __slots__ = ()

    def arrive(self, req: Request, now: float) -> None:
        if now >= self.next_mark:
            self._mark(now)
        PlainNode.arrive(self, req, now)

    def _done(self, req: Request, now: float) -> None:
        if now >= self.next_mark:
            self._mark(now)
        PlainNode._done(self, req, now)


class DeadlineNode(Node):
    """A station with a caller's deadline (see `Station`): a request reaching it is given `now + deadline` unless an
    earlier deadline runs on it already, with a calendar entry at that time. The scope ends at a `ScopeEnd` (before a
    buffer or an exit) or at a failed visit, both of which set `deadline_at` to inf, so a stale entry does nothing."""

    __slots__ = ("deadline", "cancel", "on_expire")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator) -> None:
        super().__init__(sim, idx, spec, rng)
        assert spec.deadline is not None
        self.deadline: float = spec.deadline
        self.cancel = spec.on_deadline == "cancel"
        self.on_expire = self._expire

    def arrive(self, req: Request, now: float) -> None:
        t = now + self.deadline
        if t < getattr(req, "deadline_at", math.inf):
            req.deadline_at = t
            req.deadline_node = self
            heappush(self.calendar, (t, next(self.ids), self.on_expire, req))
        Node.arrive(self, req, now)

    def _expire(self, req: Request, now: float) -> None:
        if req.deadline_at != now or req.deadline_node is not self:
            return  # the scope ended, or an earlier deadline took over
        self.abandoned += 1
        twin = req.twin()  # carries the request's life on: its holder, its outcome, its retries
        twin.deadline_at = math.inf
        twin.ghost = False
        req.ghost = True
        req.deadline_at = -math.inf
        req.holder = None
        req.counted = False
        sim = self.sim
        if self.cancel:
            sim.cancel(req)
        else:
            req.route = sim.ghost_route(req.route)
        twin.last_station = self
        sim.visit_failed(twin, now)


def _window_grid(curve: ErrorCurve | None, slowdown: Slowdown | None) -> tuple[bool, float, float, float]:
    """(tracked, window, grid step, first grid point) of a station's utilization window."""
    window = curve.window if curve is not None else slowdown.window if slowdown is not None else 0.0
    if curve is None and slowdown is None:
        return False, window, window / MARKS, math.inf
    return True, window, window / MARKS, window / MARKS


def node_class(st: Station) -> type[Node]:
    """The leanest station class for a (non-buffer) station's spec."""
    if st.deadline is not None:
        return DeadlineNode
    if st.admission_limit is None and st.timeout is None and st.slowdown is None:
        return PlainNode if st.errors is None or st.errors.threshold is None else CurveNode
    return Node
