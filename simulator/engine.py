"""The engine: a queueing network on `simpy.Environment`, one scheduled event per station visit.

Why not a SimPy process per request: a generator process plus a `Resource` per station costs ~12 events per request;
here stations are plain objects (a FIFO deque and a busy-server count) and the only events are arrivals and service
completions. The engine drives the environment's heap and clock itself (`Simulation._advance`): a heap entry is
`(time, eid, handler, obj)` and processing it is the call `handler(obj, time)`, so nothing is allocated per visit but
that tuple, and handlers get the clock as an argument.

Semantics (what the grading depends on):

* Station: FIFO, `servers` parallel servers, optional capacity K (in service + waiting; an arrival that finds K
  present is rejected). Utilization = busy servers / servers.
* Errors are evaluated when a visit completes: probability `ErrorCurve.probability(u)` with u the station's
  utilization over the last `window` seconds (see `_Node.utilization_window`). A `timeout` ends a visit whose service time would exceed it, at
  `timeout`, as an error. `slowdown` multiplies the service time at service start. A rejection (full station) is
  handled like an error of the visit.
* Buffer (kind "buffer"): `servers` = consumers. A consumer takes the message (slot taken), serves it for the
  buffer's service time (default 0) and HOLDS the slot while the request travels downstream, until the request
  (a) leaves the network, (b) is admitted into another buffer (which takes over) or (c) errors downstream. On (c),
  with attempts < retry.max_attempts the slot is released and the request re-enters this buffer after
  `RetryPolicy.delay(attempts)`; a full buffer at re-entry drops it; out of attempts -> "failed" if acknowledged,
  else "error". Without a retry policy: "failed" if acknowledged, else "error". Buffer capacity counts waiting
  messages plus messages held by consumers; a request rejected by a full buffer ends "dropped" if acknowledged,
  else "error".
* Acknowledgement: accept latency = arrival -> arrival at the first buffer with acknowledge=true (the caller is
  answered as the message reaches the queue, so a full acknowledging buffer drops a request it has acknowledged); a
  request that never meets one has accept latency = arrival -> successful exit (synchronous path). Settlement latency =
  arrival -> completion, for acknowledged requests.
* Outcomes: "completed" (left normally; "settled" counts the acknowledged subset), "error" (before ack),
  "failed" (after ack, out of retries), "dropped" (after ack: rejected by a full buffer, or unfinished at the horizon).
* Requests mode: exactly N arrivals, all run to completion; the first `warmup` arrivals count in no latency or
  outcome statistic. Duration mode: sources run until the end of traffic (`duration`, else the end of the last
  profile); the run stops at end of traffic + `drain`, or as soon as traffic has stopped and no request is left;
  requests unfinished at the horizon count as dropped (acked) or error.

Random streams: service times per station and inter-arrival times per source come from numpy generators spawned
from `numpy.random.SeedSequence(seed)`; routing and error draws from one `random.Random`. No global state.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy

from .distributions import BLOCK, ServiceSampler
from .model import Network, Source, SpecError, Station
from .results import (LogHistogram, Results, Snapshot, SourceResult, StationResult,
                      StationSnapshot, summarize)

__all__ = ["Simulation", "run"]

_MARKS = 16  # sub-intervals per utilization window
_RUN_CHUNK = 10.0  # simulated seconds between checks for an early end when running without snapshots


def _duration_progress(now: float, traffic_end: float, horizon: float) -> float:
    """Most of a run is its traffic; the drain usually ends early, so it gets the last 5 % of the bar."""
    if now <= traffic_end:
        return 0.95 * now / traffic_end if traffic_end > 0 else 0.95
    drain = horizon - traffic_end
    return min(1.0, 0.95 + 0.05 * ((now - traffic_end) / drain if drain > 0 else 1.0))


class _Req:
    """One request in the network."""

    __slots__ = ("src", "t0", "ts", "tst", "c", "route", "holder", "acked", "attempts", "err",
                 "last", "progress", "hurt")


# A route is a list, per station, of where a request goes next: a station, an `_Exit` or a `_Branch`. All three
# have `arrive(req, now)`, so a finished visit hands on with one call and no test of what comes next.


class _Exit:
    """Leaving the network from a station."""

    __slots__ = ("sim", "node")

    def __init__(self, sim: Simulation, node: _Node) -> None:
        self.sim = sim
        self.node = node

    def arrive(self, req: _Req, now: float) -> None:
        req.last = self.node
        self.sim._leave(req, now)


class _Branch:
    """A probabilistic routing row: targets[bisect(cum, u)], each a station or an `_Exit`."""

    __slots__ = ("cum", "targets", "rng")

    def __init__(self, cum: list[float], targets: list[Any], rng: random.Random) -> None:
        self.cum = cum
        self.targets = targets
        self.rng = rng

    def arrive(self, req: _Req, now: float) -> None:
        self.targets[bisect_right(self.cum, self.rng.random())].arrive(req, now)


class _Mark:
    """A route entry after a station that is a step of a source's `complete_through`: a successful visit there
    moves the request one step on (only in order), then it goes where the route says."""

    __slots__ = ("step", "target")

    def __init__(self, step: int, target: Any) -> None:
        self.step = step
        self.target = target

    def arrive(self, req: _Req, now: float) -> None:
        if req.progress == self.step:
            req.progress = self.step + 1
        self.target.arrive(req, now)


class _SourceStats:
    __slots__ = ("name", "arrivals", "acked", "outcomes", "accept", "settle", "sojourn", "retries", "exits",
                 "unfinished", "unfinished_acked", "need", "deadline", "timeouts", "leaks", "met_error_ok")

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

    def counts(self) -> dict[str, int]:
        """Outcome counts in `results.OUTCOMES` order."""
        o = self.outcomes
        return {"completed": len(self.sojourn), "settled": len(self.settle), "error": o["error"],
                "failed": o["failed"], "dropped": o["dropped"]}


class _Node:
    """Runtime state of a station."""

    # Slots, not an instance dict: past 30 attributes CPython 3.11 gives an instance a dict of its own, and method
    # calls on it (nxt.arrive, self._mark, ...) then miss the interpreter's fast path on every visit.
    __slots__ = ("sim", "heap", "eid", "rng", "idx", "spec", "name", "servers", "capacity", "buf", "refill",
                 "on_done", "busy", "queue", "area", "last", "arrivals", "rejected", "errors", "max_queue",
                 "warm_done", "nowait", "recovered", "exhausted", "c_rejected", "wq", "w", "cutoff", "err_base",
                 "curve", "slow", "check_errors", "p_error", "ok_left", "tracked", "window", "h", "marks", "next_b",
                 "u_window", "slow_factor", "prev", "peak", "surfaced", "lost")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator) -> None:
        self.sim = sim
        self.heap = sim.env._queue
        self.eid = sim.env._eid
        self.rng = sim.rng
        self.idx = idx
        self.spec = spec
        self.name = spec.name
        self.servers = spec.servers
        self.capacity = spec.capacity
        sampler = ServiceSampler(spec.service, rng)
        self.buf = sampler.buf
        self.refill = sampler.refill
        self.on_done = self._done  # bound once: the handler of this station's heap entries
        self.busy = 0
        self.queue: deque[_Req] = deque()
        self.area = 0.0  # integral of busy servers over time, up to self.last
        self.last = 0.0
        self.arrivals = self.rejected = self.errors = self.max_queue = 0
        self.warm_done = 0  # completed visits of warm-up requests; see `completions`
        self.recovered = 0  # failed visits here that a holding buffer sent back for another attempt
        self.exhausted = 0  # failed visits here on a request's last attempt allowed by its buffer's retry policy
        self.surfaced = 0  # failed visits here that ended their request as an error (before an acknowledgement)
        self.lost = 0  # failed visits here that ended their (acknowledged) request as failed
        self.c_rejected = 0
        self.wq = array("d")
        self.nowait = 0  # counted visits that did not wait: their zero waits are counted, not stored (see waits())
        self.w = array("d")
        self.cutoff = spec.timeout if spec.timeout is not None else math.inf  # one comparison per service start
        self.err_base = spec.errors.base if spec.errors is not None else 0.0
        self.curve = spec.errors if spec.errors is not None and spec.errors.threshold is not None else None
        self.slow = spec.slowdown
        self.check_errors = spec.errors is not None
        # The error probability only changes when the windowed utilization does (at a grid mark), so it is kept
        # here, and the visits until the next error are drawn up front (geometric): one draw per error, not per visit.
        self.p_error = self.err_base
        self.ok_left = self._successes_before_error()
        self.tracked = self.curve is not None or self.slow is not None
        if self.tracked:
            self.window = self.curve.window if self.curve is not None else self.slow.window  # type: ignore[union-attr]
            self.h = self.window / _MARKS
            self.marks: deque[tuple[float, float]] = deque([(0.0, 0.0)], maxlen=_MARKS + 1)
            self.next_b = self.h
            self.u_window = 0.0
        else:
            self.next_b = math.inf  # never marks: untracked stations skip the window bookkeeping
        # Like the error probability, the slowdown multiplier only changes at a grid mark: kept here.
        self.slow_factor = self.slow.multiplier(0.0) if self.slow is not None else 1.0
        self.prev = (0.0, 0, 0, 0)  # area, completions, errors, rejected at the previous snapshot
        self.peak: float | None = None

    # ---------------------------------------------------------------- utilization over the recent window, O(1)
    def _mark(self, now: float) -> None:
        """Record the busy-area at every grid point (window/16) passed and refresh the windowed utilization.

        Call it (when now >= next_b) before each busy change, so the busy count was constant since `last`.
        """
        nb = self.next_b
        h = self.h
        if now - nb > self.window:  # long idle stretch: only the last window matters
            nb += math.floor((now - self.window - nb) / h) * h
        marks, area, busy, last = self.marks, self.area, self.busy, self.last
        while now >= nb:
            marks.append((nb, area + busy * (nb - last)))
            nb += h
        self.next_b = nb
        t0, a0 = marks[0]
        t1, a1 = marks[-1]
        self.u_window = u = (a1 - a0) / (self.servers * (t1 - t0))
        if self.slow is not None:
            self.slow_factor = self.slow.multiplier(u)
        curve = self.curve
        if curve is not None:
            p = curve.probability(u)
            if p != self.p_error:
                # Memorylessness makes a redraw at the new probability exact.
                self.p_error = p
                self.ok_left = self._successes_before_error()

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
        if now >= self.next_b:
            self._mark(now)
        return self.u_window

    def area_at(self, now: float) -> float:
        """Busy-server time integrated up to `now`."""
        return self.area + self.busy * (now - self.last)

    def waits(self) -> np.ndarray:
        """The wait of every counted visit: the zeros (counted on the hot path, not stored), then the others."""
        wq = np.asarray(self.wq, dtype=float)
        return np.concatenate((np.zeros(self.nowait), wq)) if self.nowait else wq

    @property
    def completions(self) -> int:
        """Completed visits: one sojourn sample per visit past the warm-up, plus the warm-up ones. Derived, so the
        hot path keeps no separate counter."""
        return len(self.w) + self.warm_done

    # ---------------------------------------------------------------- the visit
    def arrive(self, req: _Req, now: float) -> None:
        """A request reaches the station."""
        self.arrivals += 1
        if self.capacity is not None and self.busy + len(self.queue) >= self.capacity:
            self.rejected += 1
            if req.c:
                self.c_rejected += 1
            req.last = self
            self.sim._visit_failed(req, now)
            return
        req.ts = now
        busy = self.busy
        if busy < self.servers:
            if now >= self.next_b:
                self._mark(now)
            self.area += busy * (now - self.last)
            self.last = now
            self.busy = busy + 1
            # _begin(req, now), inlined: one call fewer per visit. The window was brought up to date just above,
            # and a factor of 1.0 (no slowdown) leaves a service time unchanged.
            buf = self.buf
            s = (buf.pop() if buf else self.refill()) * self.slow_factor
            if s > self.cutoff:
                s = self.cutoff
                req.err = True
            else:
                req.err = False
            req.tst = now
            heappush(self.heap, (now + s, next(self.eid), self.on_done, req))
        else:
            q = self.queue
            q.append(req)
            if len(q) > self.max_queue:
                self.max_queue = len(q)

    def _begin(self, req: _Req, now: float) -> None:
        """Start a service: its time stretched by the slowdown, cut at the timeout (then the visit errs)."""
        buf = self.buf
        s = buf.pop() if buf else self.refill()
        if self.slow is not None:
            if now >= self.next_b:  # what utilization_window(now) does, without the calls
                self._mark(now)
            s *= self.slow_factor
        if s > self.cutoff:
            s = self.cutoff
            req.err = True
        else:
            req.err = False
        req.tst = now
        heappush(self.heap, (now + s, next(self.eid), self.on_done, req))

    def _done(self, req: _Req, now: float) -> None:
        if req.c:
            ts = req.ts
            tst = req.tst
            if tst == ts:
                self.nowait += 1
            else:
                self.wq.append(tst - ts)
            self.w.append(now - ts)
        else:
            self.warm_done += 1
        q = self.queue
        if q:
            self._begin(q.popleft(), now)
        else:
            if now >= self.next_b:
                self._mark(now)
            self.area += self.busy * (now - self.last)
            self.last = now
            self.busy -= 1
        err = req.err
        if not err and self.check_errors:
            if now >= self.next_b:
                self._mark(now)
            left = self.ok_left - 1
            if left < 0:
                err = True
                self.ok_left = self._successes_before_error()
            else:
                self.ok_left = left
        if err:
            self.errors += 1
            req.last = self
            self.sim._visit_failed(req, now)
            return
        req.route[self.idx].arrive(req, now)


class _PlainNode(_Node):
    """A station without capacity, timeout, slowdown or error curve (a flat error rate is fine): the hot path of
    most networks, kept minimal."""

    __slots__ = ()

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator) -> None:
        super().__init__(sim, idx, spec, rng)

    def arrive(self, req: _Req, now: float) -> None:
        """A request reaches the station."""
        req.ts = now
        busy = self.busy
        if busy < self.servers:
            self.area += busy * (now - self.last)
            self.last = now
            self.busy = busy + 1
            buf = self.buf
            req.tst = now
            heappush(self.heap, (now + (buf.pop() if buf else self.refill()), next(self.eid), self.on_done, req))
        else:
            q = self.queue
            q.append(req)
            if len(q) > self.max_queue:
                self.max_queue = len(q)

    def _done(self, req: _Req, now: float) -> None:
        if req.c:
            ts = req.ts
            tst = req.tst
            if tst == ts:  # most visits: an array append costs several times an int increment
                self.nowait += 1
            else:
                self.wq.append(tst - ts)
            self.w.append(now - ts)
        else:
            self.warm_done += 1
        q = self.queue
        if q:
            nxt_req = q.popleft()
            buf = self.buf
            nxt_req.tst = now
            heappush(self.heap, (now + (buf.pop() if buf else self.refill()), next(self.eid), self.on_done, nxt_req))
        else:
            self.area += self.busy * (now - self.last)
            self.last = now
            self.busy -= 1
        left = self.ok_left - 1
        if left < 0:
            self.ok_left = self._successes_before_error()
            self.errors += 1
            req.last = self
            self.sim._visit_failed(req, now)
            return
        self.ok_left = left
        req.route[self.idx].arrive(req, now)

    @property  # type: ignore[override]
    def arrivals(self) -> int:
        # Not counted on the hot path: nothing is ever rejected here, so it is derivable.
        return self.completions + self.busy + len(self.queue)

    @arrivals.setter
    def arrivals(self, value: int) -> None:
        pass


class _CurveNode(_PlainNode):
    """A plain station whose error probability follows its utilization: bring the window (and with it the error
    probability) up to date, then visit as a plain station does. Marking first is exact: busy has been constant
    since the last change."""

    __slots__ = ()

    def arrive(self, req: _Req, now: float) -> None:
        if now >= self.next_b:
            self._mark(now)
        _PlainNode.arrive(self, req, now)

    def _done(self, req: _Req, now: float) -> None:
        if now >= self.next_b:
            self._mark(now)
        _PlainNode._done(self, req, now)


class _Buffer(_Node):
    """Runtime state of a buffer: consumers hold their slot while the request travels downstream."""

    __slots__ = ("acknowledge", "retry", "on_reenter", "instant", "dispatching")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator) -> None:
        super().__init__(sim, idx, spec, rng)
        self.acknowledge = spec.acknowledge
        self.retry = spec.retry
        self.on_reenter = self._reenter
        self.instant = spec.service.dist == "deterministic" and spec.service.mean == 0.0
        if self.instant:
            self.w = self.wq  # no service time: a visit's sojourn is its wait, recorded once for both
        self.dispatching = False

    def arrive(self, req: _Req, now: float, reentry: bool = False) -> None:
        """A request is routed to (or re-enters) the buffer."""
        self.arrivals += 1
        holder = req.holder
        if holder is not None:  # admission (or rejection) here ends the upstream consumer's hold
            req.holder = None
            holder._release(now)
        if self.acknowledge and not req.acked:
            # The caller is answered as the message reaches the queue, before the queue looks for room: a full
            # acknowledging queue loses a payment it has already acknowledged. (Inlined: once per request.)
            st = req.src
            d = now - req.t0
            if d > st.deadline:  # the caller gave up before the write: not acknowledged, an error
                self.sim._timed_out(req, now)
                return
            req.acked = True
            if req.c:
                st.acked += 1
                st.accept.append(d)
        busy = self.busy  # read after the release above: a request looping back into its holder frees a slot
        if self.capacity is not None and busy + len(self.queue) >= self.capacity:
            self.rejected += 1
            if req.c:
                self.c_rejected += 1
            req.last = self
            self.sim._finish(req, "dropped" if req.acked else "error", now)
            return
        if not reentry:
            req.attempts = 0
        req.ts = now
        if busy < self.servers:
            self.area += busy * (now - self.last)
            self.last = now
            self.busy = busy + 1
            self._take(req, now)
        else:
            q = self.queue
            q.append(req)
            if len(q) > self.max_queue:
                self.max_queue = len(q)

    def _take(self, req: _Req, now: float) -> None:
        req.holder = self
        req.attempts += 1
        req.tst = now
        if self.instant and not self.dispatching:
            # Zero service time: hand on at once. Re-entrant takes (release -> take -> downstream reject ->
            # release ...) go through a zero-delay event instead, so the recursion is at most one level deep.
            # (`_done`, inlined: every message through an asynchronous boundary takes this path.)
            if req.c:
                self.wq.append(now - req.ts)  # w is wq
            else:
                self.warm_done += 1
            self.dispatching = True
            try:
                req.route[self.idx].arrive(req, now)
            finally:
                self.dispatching = False
            return
        buf = self.buf
        s = buf.pop() if buf else self.refill()
        heappush(self.heap, (now + s, next(self.eid), self.on_done, req))

    def _done(self, req: _Req, now: float) -> None:
        if not req.c:
            self.warm_done += 1
        elif self.instant:  # a deferred hand-off: now == req.tst, and w is wq
            self.wq.append(now - req.ts)
        else:
            self.wq.append(req.tst - req.ts)
            self.w.append(now - req.ts)
        req.route[self.idx].arrive(req, now)

    def _release(self, now: float) -> None:
        q = self.queue
        if q:
            self._take(q.popleft(), now)
        else:
            self.area += self.busy * (now - self.last)
            self.last = now
            self.busy -= 1

    def _reenter(self, req: _Req, now: float) -> None:
        self.arrive(req, now, True)


class _EnqueueBuffer(_Buffer):
    """A buffer whose write takes time (and may fail): the caller waits for it, then the message is admitted (and
    acknowledged) as in `_Buffer`. A retry's re-entry is the queue's own move and pays no write."""

    __slots__ = ("put_buf", "put_refill", "put_error", "on_admit")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator,
                 put_rng: np.random.Generator | None = None) -> None:
        super().__init__(sim, idx, spec, rng)
        assert spec.enqueue is not None and put_rng is not None
        sampler = ServiceSampler(spec.enqueue, put_rng)
        self.put_buf = sampler.buf
        self.put_refill = sampler.refill
        self.put_error = spec.enqueue_error
        self.on_admit = self._admit

    def arrive(self, req: _Req, now: float, reentry: bool = False) -> None:
        if reentry:
            _Buffer.arrive(self, req, now, True)
            return
        buf = self.put_buf
        heappush(self.heap, (now + (buf.pop() if buf else self.put_refill()), next(self.eid), self.on_admit, req))

    def _admit(self, req: _Req, now: float) -> None:
        if self.put_error and self.sim.rng.random() < self.put_error:
            self.arrivals += 1
            self.errors += 1
            req.last = self
            self.sim._visit_failed(req, now)
            return
        _Buffer.arrive(self, req, now)


class _SourceRt:
    """A Poisson source; its heap entry is the next arrival."""

    __slots__ = ("sim", "spec", "stats", "entry", "route", "rng", "exp", "end", "segs", "seg", "flat_a", "flat_b",
                 "flat_r", "on_fire", "heap", "eid")

    def __init__(self, sim: Simulation, spec: Source, stats: _SourceStats, entry: _Node, route: list[Any],
                 rng: np.random.Generator, end: float) -> None:
        self.sim = sim
        self.spec = spec
        self.stats = stats
        self.entry = entry
        self.route = route
        self.rng = rng
        self.exp: list[float] = []
        self.end = end
        # (start, end, rate at start, slope) per linear piece of the profile; a constant rate is one flat piece
        pts = spec.profile or ()
        self.segs = [(t0, t1, r0, (r1 - r0) / (t1 - t0)) for (t0, r0), (t1, r1) in zip(pts, pts[1:])]
        if spec.rate is not None:
            self.segs = [(0.0, math.inf, spec.rate, 0.0)]
        self.seg = 0
        self._cache_segment()
        self.on_fire = self._fire
        self.heap = sim.env._queue
        self.eid = sim.env._eid

    def _refill(self) -> float:
        """Refill the block of Exp(1) draws and return one (callers do `exp.pop() if exp else _refill()`)."""
        self.exp.extend(self.rng.standard_exponential(BLOCK).tolist())
        return self.exp.pop()

    def _cache_segment(self) -> None:
        """Keep the current segment's [a, b) and rate when it is flat: most arrivals then take the fast path in
        `_next_time` (a segment that is not flat gets a = inf, so the fast path never applies)."""
        if self.seg < len(self.segs) and self.segs[self.seg][3] == 0.0:
            self.flat_a, self.flat_b, self.flat_r, _ = self.segs[self.seg]
        else:
            self.flat_a, self.flat_b, self.flat_r = math.inf, math.inf, 1.0

    def _next_time(self, now: float, work: float) -> float:
        """`_invert`, with its arithmetic for a draw that ends inside the current flat segment done here."""
        if self.flat_a <= now and work <= self.flat_r * (self.flat_b - now):
            return now + work / self.flat_r
        t = self._invert(now, work)
        self._cache_segment()
        return t

    def _invert(self, now: float, work: float) -> float:
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
                area = r * x + 0.5 * slope * x * x
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
        t = self._next_time(now, exp.pop() if exp else self._refill())
        if t > self.end:
            self.sim.active_sources -= 1
            return
        heappush(self.heap, (t, next(self.eid), self.on_fire, None))

    def _fire(self, _: None, now: float) -> None:
        sim = self.sim
        if sim.n_arrived >= sim.limit:
            sim.active_sources -= 1
            return
        # schedule_next(now) with the flat-segment case of _next_time, inlined: this runs once per request
        exp = self.exp
        work = exp.pop() if exp else self._refill()
        if self.flat_a <= now and work <= self.flat_r * (self.flat_b - now):
            t = now + work / self.flat_r
        else:
            t = self._next_time(now, work)
        if t > self.end:
            sim.active_sources -= 1
        else:
            heappush(self.heap, (t, next(self.eid), self.on_fire, None))
        sim._arrival(self, now)


class Simulation:
    """One run of a network.

    `requests=None` runs in duration mode (until end of traffic + drain); `requests=N` generates exactly N
    arrivals (over all sources) and runs every one to completion, the first `warmup` of them counting in no
    statistic. Advance it with `stream(step)` (yields `Snapshot`s) and/or finish it with `results()`.
    """

    def __init__(self, network: Network, seed: int = 1, requests: int | None = None, warmup: int = 0) -> None:
        if requests is not None and requests < 1:
            raise ValueError("requests must be >= 1")
        if warmup < 0 or (requests is not None and warmup >= requests):
            raise ValueError("warmup must be >= 0 and < requests")
        self.network = network
        self.seed = seed
        self.requests = requests
        self.warmup = warmup
        self.mode = "duration" if requests is None else "requests"
        traffic_end = network.traffic_end
        if requests is None and math.isinf(traffic_end):
            raise SpecError("duration", "required in duration mode when a source has a constant rate")
        self.horizon = math.inf if requests is not None else traffic_end + network.drain
        self.limit = requests if requests is not None else math.inf
        self.env = simpy.Environment()
        seq = np.random.SeedSequence(seed)
        n, m = len(network.stations), len(network.sources)
        # Streams n + m + 1 onwards (the queue writes') come after the ones every network has, so adding a feature
        # to a spec never moves the draws of a spec without it.
        children = seq.spawn(n + m + 1 + n)
        streams = [np.random.Generator(np.random.PCG64(s)) for s in children[:n + m + 1]]
        self.rng = random.Random(int(streams[n + m].integers(2**63)))
        self.nodes: list[_Node] = []
        for i, st in enumerate(network.stations):
            if st.is_buffer and st.enqueue is not None:
                put_rng = np.random.Generator(np.random.PCG64(children[n + m + 1 + i]))
                self.nodes.append(_EnqueueBuffer(self, i, st, streams[i], put_rng))
            else:
                self.nodes.append(_node_class(st)(self, i, st, streams[i]))
        self.stats = [_SourceStats(src.name, n, len(src.complete_through), src.deadline) for src in network.sources]
        self.track_exits = requests is not None  # only metrics() reads sojourns by exit, and it needs requests mode
        exits = [_Exit(self, node) for node in self.nodes]
        base_route = self._routes(network.routing, exits)
        self.sources: list[_SourceRt] = []
        for j, src in enumerate(network.sources):
            route = base_route if src.routing is None else self._routes(src.routing, exits)
            if src.complete_through:
                route = list(route)
                for k, step in enumerate(src.complete_through):
                    for i in step:
                        route[i] = _Mark(k, route[i])
            end = min(src.end, traffic_end) if requests is None else src.end
            self.sources.append(_SourceRt(self, src, self.stats[j], self.nodes[src.entry], route, streams[n + j], end))
        self.n_arrived = 0
        self.outstanding = 0  # requests in the network (including those waiting out a retry backoff)
        self.active_sources = len(self.sources)
        self.cost_per_hour = network.cost_per_hour
        self.window: tuple[float, float] | None = None  # CLI window [arrival #warmup, last arrival]
        self._win_area0: list[float] = []
        self._win_area1: list[float] = []
        self._started = False
        self._finished = False
        self._series: list[dict[str, Any]] = []
        self._acc_hist = LogHistogram()
        self._set_hist = LogHistogram()
        self._pos = [(0, 0) for _ in self.stats]
        self._snap_t = 0.0
        self._win_t0 = 0.0

    def _routes(self, matrix: tuple[tuple[float, ...], ...], exits: list[_Exit]) -> list[Any]:
        out: list[Any] = []
        for i, row in enumerate(matrix):
            targets = [(p, self.nodes[j]) for j, p in enumerate(row) if p > 0]
            leave = 1.0 - sum(row)
            if not targets:
                out.append(exits[i])
            elif len(targets) == 1 and leave <= 1e-12:
                out.append(targets[0][1])
            else:
                cum, acc, nodes = [], 0.0, []
                for p, node in targets:
                    acc += p
                    cum.append(acc)
                    nodes.append(node)
                cum[-1] = min(cum[-1], 1.0) if leave > 1e-12 else 1.0 + 1e-9
                out.append(_Branch(cum, nodes + [exits[i]], self.rng))
        return out

    # ---------------------------------------------------------------- request life cycle
    def _arrival(self, source: _SourceRt, now: float) -> None:
        i = self.n_arrived
        self.n_arrived = i + 1
        req = _Req()
        req.t0 = now
        req.src = source.stats
        req.route = source.route
        req.holder = None
        req.acked = False
        req.progress = 0
        req.hurt = False
        req.c = c = i >= self.warmup
        if c:
            source.stats.arrivals += 1
        if i == self.warmup:
            self._win_t0 = now
            self._win_area0 = [node.area_at(now) for node in self.nodes]
        if i + 1 == self.limit:
            self.window = (self._win_t0, now)
            self._win_area1 = [node.area_at(now) for node in self.nodes]
        self.outstanding += 1
        source.entry.arrive(req, now)

    def _leave(self, req: _Req, now: float) -> None:
        holder = req.holder
        if holder is not None:
            req.holder = None
            holder._release(now)
        st = req.src
        d = now - req.t0
        if not req.acked and d > st.deadline:  # answered after its caller gave up: an error all the same
            self._timed_out(req, now)
            return
        self.outstanding -= 1
        if req.c:
            if req.hurt:
                st.met_error_ok += 1
            if req.progress < st.need:
                # Left before completing its path (a payment that never reached the gateway, say): the caller was
                # answered, so it counts as acknowledged, and it is lost.
                st.leaks[req.last.idx][req.progress] += 1
                st.outcomes["dropped"] += 1
                if not req.acked:
                    st.acked += 1
                    st.accept.append(d)
                return
            st.sojourn.append(d)  # completed = len(sojourn): no separate counter on the hot path
            if self.track_exits:
                st.exits[req.last.idx].append(d)
            if req.acked:
                st.settle.append(d)  # settled = len(settle)
            else:
                st.accept.append(d)

    def _timed_out(self, req: _Req, now: float) -> None:
        """The caller's deadline passed before an acknowledgement: an error, with the deadline as accept latency."""
        holder = req.holder
        if holder is not None:
            req.holder = None
            holder._release(now)
        if req.c:
            st = req.src
            st.timeouts += 1
            st.accept.append(st.deadline)
        self._finish(req, "error", now)

    def _finish(self, req: _Req, outcome: str, now: float) -> None:
        """End a request that did not complete normally ("error", "failed" or "dropped")."""
        self.outstanding -= 1
        if req.c:
            req.src.outcomes[outcome] += 1
            if req.hurt and outcome == "dropped":
                req.src.met_error_ok += 1

    def _visit_failed(self, req: _Req, now: float) -> None:
        req.hurt = True
        holder = req.holder
        if holder is not None:
            req.holder = None
            holder._release(now)
            policy = holder.retry
            if policy is not None and req.attempts >= policy.max_attempts:
                req.last.exhausted += 1
            elif policy is not None:
                req.last.recovered += 1
                if req.c:
                    req.src.retries += 1
                heappush(self.env._queue,
                         (now + policy.delay(req.attempts), next(self.env._eid), holder.on_reenter, req))
                return
        if req.acked:
            req.last.lost += 1
            self._finish(req, "failed", now)
        else:
            req.last.surfaced += 1
            self._finish(req, "error", now)

    # ---------------------------------------------------------------- running
    def _start(self) -> None:
        if not self._started:
            self._started = True
            for src in self.sources:
                src.schedule_next(0.0)

    @property
    def done(self) -> bool:
        """True when the run has reached its end."""
        if self.mode == "duration":
            # The run ends at the horizon, or sooner: once traffic has stopped and the last request has finished.
            return self.env.now >= self.horizon or (self._started and self.active_sources == 0 and self.outstanding == 0)
        return self._started and self.outstanding == 0 and self.active_sources == 0

    def stream(self, step: float = 1.0) -> Iterator[Snapshot]:
        """Advance in steps of `step` simulated seconds, yielding a `Snapshot` after each (also kept for results)."""
        if step <= 0:
            raise ValueError("step must be > 0")
        self._start()
        while not self.done:
            t = self.env.now + step
            if t > self.horizon:
                t = self.horizon
            self._advance(t)
            snap = self._snapshot(t)
            self._series.append(snap.to_dict())
            yield snap

    def _advance(self, until: float) -> None:
        """Process every event before `until`, then set the clock to it (as `Environment.run(until=...)` does:
        an event at exactly `until` waits for the next call).

        Every event here is the engine's own (a request or a source, one handler, never failing), so this drives
        the environment's heap directly, without `Environment.step`'s general handling of processes, failures and
        interrupts; that costs a third of a run's time. Handlers take the clock as an argument, so it is written
        back once, when the loop stops.
        """
        env = self.env
        heap = env._queue
        pop = heappop
        now = env._now
        while heap:
            t, eid, handler, obj = pop(heap)
            if t >= until:  # once per call: cheaper than peeking at every event
                heappush(heap, (t, eid, handler, obj))
                break
            now = t
            handler(obj, t)
        env._now = now if until == math.inf else until

    def _run_to_end(self) -> None:
        self._start()
        if self.mode == "duration":
            while not self.done:
                self._advance(min(self.horizon, self.env.now + _RUN_CHUNK))
        else:
            self._advance(math.inf)

    def _close(self) -> None:
        """At the horizon, count what is still in the network: acknowledged -> dropped, else error."""
        if self._finished:
            return
        self._finished = True
        for st in self.stats:
            o = st.counts()
            finished = o["completed"] + o["error"] + o["failed"] + o["dropped"]
            unfinished = st.arrivals - finished
            unfinished_acked = st.acked - o["settled"] - o["failed"] - o["dropped"]  # leaks count as acknowledged
            st.unfinished = unfinished
            st.unfinished_acked = unfinished_acked
            st.outcomes["dropped"] += unfinished_acked
            st.outcomes["error"] += unfinished - unfinished_acked

    # ---------------------------------------------------------------- output
    def _snapshot(self, now: float) -> Snapshot:
        dt = now - self._snap_t
        self._snap_t = now
        stations = []
        for node in self.nodes:
            area = node.area_at(now)
            a0, c0, e0, r0 = node.prev
            node.prev = (area, node.completions, node.errors, node.rejected)
            util = None
            if not node.spec.infinite and dt > 0:
                util = (area - a0) / (node.servers * dt)
                if node.peak is None or util > node.peak:
                    node.peak = util
            stations.append(StationSnapshot(
                node.name, util, len(node.queue), node.busy,
                (node.completions - c0) / dt if dt > 0 else 0.0, node.errors - e0, node.rejected - r0))
        acc_step = array("d")
        set_step = array("d")
        for k, st in enumerate(self.stats):
            pa, ps = self._pos[k]
            acc_step += st.accept[pa:]
            set_step += st.settle[ps:]
            self._pos[k] = (len(st.accept), len(st.settle))
        # Sorted once by numpy (a step's few hundred values): the step percentiles read it, and the histogram's
        # bucket search is quicker on sorted values.
        acc_sorted = np.sort(np.frombuffer(acc_step, dtype=float))
        set_sorted = np.sort(np.frombuffer(set_step, dtype=float))
        self._acc_hist.add(acc_sorted)
        self._set_hist.add(set_sorted)
        counts = [st.counts() for st in self.stats]
        outcomes = counts[0] if len(counts) == 1 else {k: sum(c[k] for c in counts) for k in counts[0]}
        arrivals = sum(st.arrivals for st in self.stats)
        if self.mode == "duration":
            progress = 1.0 if self.done else _duration_progress(now, self.network.traffic_end, self.horizon)
        else:
            progress = 1.0 if self.done else min(1.0, (self.n_arrived - self.outstanding) / float(self.limit))
        return Snapshot(
            t=now,
            progress=progress,
            stations=tuple(stations),
            accept_step=_p3(acc_sorted.tolist()),
            settle_step=_p3(set_sorted.tolist()),
            accept_so_far=tuple(self._acc_hist.quantiles((0.5, 0.95, 0.99))),  # type: ignore[arg-type]
            settle_so_far=tuple(self._set_hist.quantiles((0.5, 0.95, 0.99))),  # type: ignore[arg-type]
            arrivals=arrivals,
            outcomes=outcomes,
            error_rate=(outcomes["error"] + outcomes["failed"]) / arrivals if arrivals else None,
            cost_per_hour=self.cost_per_hour,
            cost_so_far=self.cost_per_hour * now / 3600.0,
        )

    def results(self) -> Results:
        """Run to the end if needed and return the full, deterministic `Results`."""
        self._run_to_end()
        self._close()
        end = self.env.now
        stations = []
        for node in self.nodes:
            area = node.area_at(end)
            admitted = node.arrivals - node.rejected
            stations.append(StationResult(
                name=node.name,
                kind=node.spec.kind,
                servers=None if node.spec.infinite else int(node.servers),
                arrivals=node.arrivals,
                admitted=admitted,
                rejected=node.rejected,
                completions=node.completions,
                errors=node.errors,
                recovered=node.recovered,
                exhausted=node.exhausted,
                surfaced=node.surfaced,
                lost=node.lost,
                error_rate=(node.errors + node.rejected) / node.arrivals if node.arrivals else None,
                utilization=None if node.spec.infinite or end <= 0 else area / (node.servers * end),
                utilization_peak=node.peak,
                mean_in_service=area / end if end > 0 else 0.0,
                max_queue=node.max_queue,
                wait=summarize(node.waits()),
                sojourn=summarize(node.w),
            ))
        names = [node.name for node in self.nodes]
        sources = tuple(_source_result(st.name, [st], names) for st in self.stats)
        overall = sources[0] if len(sources) == 1 else _source_result("all", self.stats, names)
        return Results(
            mode=self.mode,
            seed=self.seed,
            end_time=end,
            warmup=self.warmup,
            stations=tuple(stations),
            sources=sources,
            overall=overall,
            cost_per_hour_peak=self.cost_per_hour,
            cost_total=self.cost_per_hour * end / 3600.0,
            time_series=tuple(self._series),
        )

    def metrics(self, percentiles: tuple[float, ...] = (50, 95, 99),
                wait_over: tuple[float, ...] = ()) -> dict[str, float | None]:
        """The CLI's flat metrics (requests mode): `<station>.W_mean`, `e2e.W_p99`, ... (see the issue/README)."""
        if self.mode != "requests":
            raise ValueError("metrics() needs requests mode")
        self._run_to_end()
        self._close()
        if self.window is None:
            raise SpecError("--requests", f"the sources ended after {self.n_arrived} arrivals, fewer than "
                                          f"{self.requests} (a rate profile ends its traffic)")
        t0, t1 = self.window
        span = t1 - t0
        qs = [p / 100.0 for p in percentiles]
        out: dict[str, float | None] = {}

        def rate(count: int) -> float | None:
            return count / span if span > 0 else None

        for k, node in enumerate(self.nodes):
            name = node.name
            wq = node.waits()
            w = np.asarray(node.w, dtype=float)
            admitted = int(wq.size)
            reached = admitted + node.c_rejected
            out[f"{name}.Wq_mean"] = float(wq.mean()) if admitted else None
            out[f"{name}.W_mean"] = float(w.mean()) if admitted else None
            wq_q = np.quantile(wq, qs).tolist() if admitted else [None] * len(qs)
            w_q = np.quantile(w, qs).tolist() if admitted else [None] * len(qs)
            for p, a, b in zip(percentiles, w_q, wq_q):
                out[f"{name}.W_p{p:g}"] = a
                out[f"{name}.Wq_p{p:g}"] = b
            for T in wait_over:
                out[f"{name}.P_Wq_gt_{T:g}"] = float((wq > T).mean()) if admitted else None
            out[f"{name}.prob_wait"] = float((wq > 0).mean()) if admitted else None
            if not node.spec.infinite:
                busy = self._win_area1[k] - self._win_area0[k]
                out[f"{name}.utilization"] = busy / (node.servers * span) if span > 0 else None
            out[f"{name}.throughput"] = rate(admitted)
            out[f"{name}.arrival_rate"] = rate(reached)
            out[f"{name}.blocking_prob"] = node.c_rejected / reached if reached else None
        e2e = np.asarray(_joined([st.sojourn for st in self.stats]), dtype=float)
        out["e2e.W_mean"] = float(e2e.mean()) if e2e.size else None
        e2e_q = np.quantile(e2e, qs).tolist() if e2e.size else [None] * len(qs)
        for p, a in zip(percentiles, e2e_q):
            out[f"e2e.W_p{p:g}"] = a
        out["e2e.throughput"] = rate(int(e2e.size))
        for k, node in enumerate(self.nodes):
            exits = _joined([st.exits[k] for st in self.stats])
            out[f"e2e.W_mean_exit_{node.name}"] = float(np.mean(exits)) if exits else None
            out[f"e2e.frac_exit_{node.name}"] = len(exits) / e2e.size if e2e.size else None
        return out


def _node_class(st: Station) -> type[_Node]:
    if st.is_buffer:
        return _Buffer
    if st.capacity is None and st.timeout is None and st.slowdown is None:
        return _PlainNode if st.errors is None or st.errors.threshold is None else _CurveNode
    return _Node


def _p3(xs: list[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95, p99 of a sorted sample as numpy.quantile(linear) computes them; in pure Python, which is faster on
    a step's few hundred values."""
    if not xs:
        return (None, None, None)
    last = len(xs) - 1
    out = []
    for p in (0.5, 0.95, 0.99):  # a loop rather than a nested function: this runs twice per snapshot
        pos = p * last
        i = int(pos)
        out.append(xs[last] if i >= last else xs[i] + (xs[i + 1] - xs[i]) * (pos - i))
    return (out[0], out[1], out[2])


def _joined(parts: list[array[float]]) -> array[float]:
    if len(parts) == 1:
        return parts[0]
    out = array("d")
    for part in parts:
        out.extend(part)
    return out


def _source_result(name: str, stats: list[_SourceStats], names: list[str]) -> SourceResult:
    arrivals = sum(st.arrivals for st in stats)
    counts = [st.counts() for st in stats]
    outcomes = {k: sum(c[k] for c in counts) for k in counts[0]}
    leaks: dict[str, list[int]] = {}
    for st in stats:
        for name_i, by_step in zip(names, st.leaks):
            if any(by_step):
                row = leaks.setdefault(name_i, [0] * len(by_step))
                if len(row) < len(by_step):
                    row.extend([0] * (len(by_step) - len(row)))
                for k, count in enumerate(by_step):
                    row[k] += count
    return SourceResult(
        name=name,
        arrivals=arrivals,
        outcomes=outcomes,
        unfinished=sum(st.unfinished for st in stats),
        unfinished_acked=sum(st.unfinished_acked for st in stats),
        accept=summarize(_joined([st.accept for st in stats])),
        settle=summarize(_joined([st.settle for st in stats])),
        sojourn=summarize(_joined([st.sojourn for st in stats])),
        retries=sum(st.retries for st in stats),
        error_rate=(outcomes["error"] + outcomes["failed"]) / arrivals if arrivals else None,
        met_error=outcomes["error"] + outcomes["failed"] + sum(st.met_error_ok for st in stats),
        timeouts=sum(st.timeouts for st in stats),
        unsettled=sum(sum(row) for row in leaks.values()),
        leaks=leaks,
    )


def run(network: Network, seed: int = 1, requests: int | None = None, warmup: int = 0,
        step: float | None = None) -> Results:
    """Run a network to the end and return its `Results`.

    `step` (simulated seconds) records a time series of snapshots; by default 1.0 in duration mode and none in
    requests mode (where a run may span hours of simulated time).
    """
    sim = Simulation(network, seed=seed, requests=requests, warmup=warmup)
    if step is None and requests is None:
        step = 1.0
    if step is not None:
        for _ in sim.stream(step):
            pass
    return sim.results()

