"""Request traces: a bounded sample of requests, each with its hop-by-hop timeline, kept by a pure-engine run.

Tracing is an option of the pure engine (`Simulation(..., trace=TraceCaps())` runs pure): it taps the route entries
and the calendar handlers of a pure run without drawing a random number or scheduling an event, so a traced run's
results are the untraced run's, bit for bit, on either engine. The web app replays a run's streamed seed with tracing
on, after the run, to get the traces of *that* run.

What is kept (`TraceCaps`, all bounded): the `slowest` requests by sojourn and the `slow_accept` ones by accept
latency (two heaps), the first `per_outcome` errors, failures and drops each, the first `recovered` requests that met
an error a retry recovered, and a uniform sample of `sample` requests (reservoir sampling on the tracer's own
`random.Random`, never the run's). Each trace keeps at most `hops` hops. While the run lasts the tracer holds one
record per request in the network, and the kept ones: its memory is bounded by the requests in flight plus the caps.

A hop is one visit of a station: `arrived` (at the station), `started` and `ended` (its service; for a buffer, the
consumer's take and the hand-on downstream), `result` ("ok", "error", "timeout" when cut at the station's timeout,
"rejected" by a full station, "gave up" when the caller's deadline had passed, "unfinished" at the horizon),
`attempt` (the take number of the buffer holding the request, when one does) and `backoff` (the wait before a
retry's re-entry into a buffer).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .buffers import BufferNode, EnqueueBufferNode
from .core import Simulation
from .request import Branch, Exit, Hop, Mark, Request

if TYPE_CHECKING:
    from .stations import Node

__all__ = ["TraceCaps", "TraceHop", "Trace", "Traces", "Tracer", "TracedSimulation", "CATEGORIES"]

CATEGORIES = ("slowest", "slow_accept", "error", "failed", "dropped", "recovered", "sample")


@dataclass(frozen=True, slots=True)
class TraceCaps:
    """How many traces a run keeps, per category, and hops per trace."""

    slowest: int = 20
    slow_accept: int = 20
    per_outcome: int = 20
    recovered: int = 10
    sample: int = 20
    hops: int = 48

    @property
    def total(self) -> int:
        """The most traces a run keeps per source (a trace in two categories is kept once)."""
        return self.slowest + self.slow_accept + 3 * self.per_outcome + self.recovered + self.sample


@dataclass(frozen=True, slots=True)
class TraceHop:
    """One visit of a station (see the module's docstring)."""

    station: str
    arrived: float
    started: float | None
    ended: float | None
    result: str
    attempt: int | None
    backoff: float | None

    @property
    def wait(self) -> float | None:
        """Time queued before service (None when never served)."""
        return None if self.started is None else self.started - self.arrived

    def to_dict(self) -> dict[str, Any]:
        return {"station": self.station, "arrived": _r(self.arrived), "started": _r(self.started),
                "ended": _r(self.ended), "result": self.result, "attempt": self.attempt, "backoff": _r(self.backoff)}


@dataclass(frozen=True, slots=True)
class Trace:
    """One request's life: its arrival number, source, outcome, times and hops."""

    number: int  # arrival number in the run (0-based)
    source: str
    outcome: str  # "completed", "error", "failed" or "dropped"
    reason: str  # why it ended so: "settled", "answered", "rejected", "out of retries", "unsettled", ...
    entered: float
    ended: float
    accept: float | None  # accept latency (None when never answered)
    met_error: bool
    hops: tuple[TraceHop, ...]
    hops_dropped: int  # hops past the cap, not kept

    @property
    def sojourn(self) -> float:
        return self.ended - self.entered

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "source": self.source, "outcome": self.outcome, "reason": self.reason,
                "entered": _r(self.entered), "ended": _r(self.ended), "sojourn": _r(self.sojourn),
                "accept": _r(self.accept), "met_error": self.met_error, "hops_dropped": self.hops_dropped,
                "hops": [h.to_dict() for h in self.hops]}


@dataclass(frozen=True, slots=True)
class Traces:
    """The traces a run kept: `traces` by arrival number, `kept[source][category]` (trace numbers, slowest first in
    the two heaps), `seen[source][category]` (how many requests were in each category, kept or not)."""

    caps: TraceCaps
    traces: dict[int, Trace]
    kept: dict[str, dict[str, tuple[int, ...]]]
    seen: dict[str, dict[str, int]]
    peak_live: int  # the most requests the tracer followed at once

    def category(self, source: str, name: str) -> list[Trace]:
        return [self.traces[n] for n in self.kept[source][name]]

    def to_dict(self) -> dict[str, Any]:
        return {"traces": {str(n): t.to_dict() for n, t in sorted(self.traces.items())},
                "kept": {src: {k: list(v) for k, v in cats.items()} for src, cats in self.kept.items()},
                "seen": {src: dict(cats) for src, cats in self.seen.items()}}


def _r(value: float | None) -> float | None:
    """Microsecond resolution is plenty for a waterfall, and keeps the JSON small."""
    return None if value is None or not math.isfinite(value) else round(value, 6)


class _Live:
    """A followed request's timeline while it is in the network. A hop: [station, arrived, started, ended, result,
    attempt, backoff]."""

    __slots__ = ("number", "source", "entered", "hops", "dropped_hops", "acked_at", "failed_at", "outcome", "reason",
                 "ended", "met_error", "accept")

    def __init__(self, number: int, source: str, entered: float) -> None:
        self.number = number
        self.source = source
        self.entered = entered
        self.hops: list[list[Any]] = []
        self.dropped_hops = 0
        self.acked_at: float | None = None
        self.failed_at = math.nan  # the last failed visit (a retry's backoff starts there)
        self.outcome = ""
        self.reason = ""
        self.ended = math.nan
        self.met_error = False
        self.accept: float | None = None


class Tracer:
    """Follows every counted request of a pure run and keeps a bounded sample (see the module's docstring)."""

    def __init__(self, sim: Simulation, caps: TraceCaps) -> None:
        self.sim = sim
        self.caps = caps
        self.live: dict[int, _Live] = {}
        self.rng = random.Random(f"trace-{sim.seed}")  # the reservoir's: never the run's own random stream
        self.keeps = {src.name: _Keep() for src in sim.network.sources}  # per source: reads never crowd out payments
        self.peak_live = 0
        self.peak_outstanding = 0
        self.now = 0.0  # the current event's time, set by every tap (finish() is not told it)
        self._tap(sim)

    # ---------------------------------------------------------------- tapping the run
    def _tap(self, sim: Simulation) -> None:
        taps: dict[int, Hop] = {}
        for node in sim.nodes:
            node.on_done = _Done(self, node, node.on_done)
            if isinstance(node, BufferNode):
                node.on_reenter = _Reenter(self, node, node.on_reenter)
            if isinstance(node, EnqueueBufferNode):
                node.on_admit = _Admit(self, node.on_admit)
        for source in sim.sources:
            source.route = [self._wrap(hop, taps) for hop in source.route]
            source.entry = _Entry(self, source.entry)  # type: ignore[assignment]  # a tap has arrive(), as a node

    def _wrap(self, hop: Hop, taps: dict[int, Hop]) -> Hop:
        key = id(hop)
        if key in taps:
            return taps[key]
        wrapped: Hop
        if isinstance(hop, Exit):
            wrapped = hop
        elif isinstance(hop, Branch):
            wrapped = Branch(hop.cum, [self._wrap(h, taps) for h in hop.targets], hop.rng)
        elif isinstance(hop, Mark):
            wrapped = Mark(hop.step, self._wrap(hop.target, taps))
        else:
            wrapped = _Arrive(self, hop)
        taps[key] = wrapped
        return wrapped

    # ---------------------------------------------------------------- events
    def begin(self, req: Request, now: float) -> None:
        if not req.counted:
            return
        sim = self.sim
        live = _Live(sim.n_arrived - 1, req.source.name, now)
        self.live[id(req)] = live
        if len(self.live) > self.peak_live:
            self.peak_live = len(self.live)
        if sim.outstanding > self.peak_outstanding:
            self.peak_outstanding = sim.outstanding

    def close_open(self, live: _Live, req: Request, now: float) -> None:
        """A buffer hop still open when its request moves on: a zero-time take handed it downstream."""
        if live.hops:
            hop = live.hops[-1]
            if hop[3] is None and hop[4] is None and isinstance(self.sim.nodes[hop[0]], BufferNode):
                hop[2] = req.service_started_at
                hop[3] = now
                hop[4] = "ok"
                hop[5] = req.attempts

    def arrive(self, node: Node, req: Request, now: float, backoff: float | None = None) -> None:
        self.now = now
        live = self.live.get(id(req))
        if live is None:
            return
        self.close_open(live, req, now)
        if len(live.hops) >= self.caps.hops:
            live.dropped_hops += 1
            return
        attempt = req.attempts if req.holder is not None else None
        live.hops.append([node.idx, now, None, None, None, attempt, backoff])

    def acked(self, req: Request, was: bool, now: float) -> None:
        if not was and req.acked:
            live = self.live.get(id(req))
            if live is not None:
                live.acked_at = now

    def done(self, node: Node, req: Request, now: float) -> None:
        self.now = now
        live = self.live.get(id(req))
        if live is not None and live.hops and live.dropped_hops == 0:
            hop = live.hops[-1]
            if hop[0] == node.idx and hop[3] is None:
                hop[2] = req.service_started_at
                hop[3] = now
                if isinstance(node, BufferNode):
                    hop[4] = "ok"
                    hop[5] = req.attempts
                else:  # cut_off is set only where a timeout can cut (a plain station never sets it)
                    hop[4] = "timeout" if node.cutoff != math.inf and req.cut_off else "ok"

    def failed(self, req: Request, now: float) -> None:
        """A visit failed (an error, a timeout, a rejection by a full station, a failed queue write)."""
        live = self.live.get(id(req))
        if live is None:
            return
        live.met_error = True
        live.failed_at = now
        if live.hops and live.dropped_hops == 0:
            hop = live.hops[-1]
            if hop[3] is None:  # never served: rejected by a full station, or its queue write failed
                hop[3] = now
                hop[4] = "error" if isinstance(self.sim.nodes[hop[0]], BufferNode) else "rejected"
            elif hop[4] == "ok":
                hop[4] = "error"

    def end(self, req: Request, now: float, outcome: str, reason: str, last: str = "rejected") -> None:
        """The request's outcome; `last` is the result of a hop still open (its station turned it away)."""
        live = self.live.pop(id(req), None)
        if live is None:
            return
        if live.acked_at is None and req.acked:  # acknowledged and ended within one call
            live.acked_at = now
        if live.hops and live.dropped_hops == 0:
            hop = live.hops[-1]
            if hop[3] is None and hop[4] is None:
                hop[3] = now
                hop[4] = last
        live.outcome = outcome
        live.reason = reason
        live.ended = now
        if live.acked_at is not None:
            live.accept = live.acked_at - live.entered
        elif reason == "gave up":
            live.accept = req.source.deadline
        elif outcome == "completed" or reason == "unsettled":
            live.accept = now - live.entered
        self._keep(live)

    # ---------------------------------------------------------------- keeping a bounded sample
    def _keep(self, live: _Live) -> None:
        caps = self.caps
        keep = self.keeps[live.source]
        seen = keep.seen
        n = seen["sample"]
        seen["sample"] = n + 1
        if len(keep.reservoir) < caps.sample:
            keep.reservoir.append(live)
        else:
            j = self.rng.randrange(n + 1)
            if j < caps.sample:
                keep.reservoir[j] = live
        category = live.outcome if live.outcome != "completed" else ("recovered" if live.met_error else "")
        if category:
            seen[category] += 1
            firsts = keep.firsts[category]
            if len(firsts) < (caps.recovered if category == "recovered" else caps.per_outcome):
                firsts.append(live)
        if live.outcome == "completed":
            keep.push("slowest", live.ended - live.entered, live, caps.slowest)
        if live.accept is not None:
            keep.push("slow_accept", live.accept, live, caps.slow_accept)

    @property
    def retained(self) -> int:
        """Distinct requests kept so far."""
        return len({id(x) for keep in self.keeps.values() for x in keep.everyone()})

    def close(self, now: float) -> None:
        """At the end of the run: what is still in the network is unfinished (dropped when acknowledged)."""
        for key in list(self.live):
            live = self.live[key]
            req_acked = live.acked_at is not None
            self.live.pop(key)
            if live.hops and live.hops[-1][4] is None:
                live.hops[-1][4] = "unfinished"
            live.outcome = "dropped" if req_acked else "error"
            live.reason = "unfinished"
            live.ended = now
            live.accept = None if live.acked_at is None else live.acked_at - live.entered
            self._keep(live)

    def traces(self) -> Traces:
        names = [node.name for node in self.sim.nodes]
        made: dict[int, Trace] = {}

        def make(live: _Live) -> int:
            if live.number not in made:
                made[live.number] = Trace(
                    live.number, live.source, live.outcome, live.reason, live.entered, live.ended, live.accept,
                    live.met_error, tuple(TraceHop(names[h[0]], h[1], h[2], h[3], h[4] or "unfinished", h[5], h[6])
                                          for h in live.hops), live.dropped_hops)
            return live.number

        kept: dict[str, dict[str, tuple[int, ...]]] = {}
        seen: dict[str, dict[str, int]] = {}
        for source, keep in self.keeps.items():
            mine: dict[str, tuple[int, ...]] = {}
            for name, heap in keep.heaps.items():
                mine[name] = tuple(make(item[2]) for item in sorted(heap, key=lambda i: (-i[0], -i[1])))
            for name, firsts in keep.firsts.items():
                mine[name] = tuple(make(x) for x in firsts)
            mine["sample"] = tuple(sorted(make(x) for x in keep.reservoir))
            kept[source] = {name: mine[name] for name in CATEGORIES}
            seen[source] = dict(keep.seen)
        return Traces(self.caps, made, kept, seen, self.peak_live)


class _Keep:
    """One source's kept traces: two heaps of the slowest, the first of each outcome, a uniform reservoir."""

    __slots__ = ("heaps", "firsts", "reservoir", "seen")

    def __init__(self) -> None:
        self.heaps: dict[str, list[tuple[float, int, _Live]]] = {"slowest": [], "slow_accept": []}
        self.firsts: dict[str, list[_Live]] = {"error": [], "failed": [], "dropped": [], "recovered": []}
        self.reservoir: list[_Live] = []
        self.seen = dict.fromkeys(CATEGORIES, 0)

    def push(self, name: str, key: float, live: _Live, cap: int) -> None:
        self.seen[name] += 1
        heap = self.heaps[name]
        item = (key, -live.number, live)  # ties: the earlier request is kept
        if len(heap) < cap:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)

    def everyone(self) -> list[_Live]:
        return [*self.reservoir, *(x for xs in self.firsts.values() for x in xs),
                *(item[2] for heap in self.heaps.values() for item in heap)]


class _Arrive:
    """A route entry's station, tapped: the request's hop there begins."""

    __slots__ = ("tracer", "node")

    def __init__(self, tracer: Tracer, node: Any) -> None:
        self.tracer = tracer
        self.node = node

    def arrive(self, req: Request, now: float) -> None:
        self.tracer.arrive(self.node, req, now)
        was = req.acked
        self.node.arrive(req, now)
        self.tracer.acked(req, was, now)


class _Entry(_Arrive):
    """A source's entry station, tapped: a new request (followed when it counts), then its first hop."""

    __slots__ = ()

    def arrive(self, req: Request, now: float) -> None:
        self.tracer.begin(req, now)
        _Arrive.arrive(self, req, now)


class _Done:
    __slots__ = ("tracer", "node", "handler")

    def __init__(self, tracer: Tracer, node: Node, handler: Any) -> None:
        self.tracer = tracer
        self.node = node
        self.handler = handler

    def __call__(self, req: Request, now: float) -> None:
        self.tracer.done(self.node, req, now)
        self.handler(req, now)


class _Reenter(_Done):
    """A retry's re-entry into its buffer, after the backoff."""

    __slots__ = ()

    def __call__(self, req: Request, now: float) -> None:
        tracer = self.tracer
        tracer.now = now
        live = tracer.live.get(id(req))
        if live is not None:
            tracer.arrive(self.node, req, now, backoff=now - live.failed_at)
        self.handler(req, now)


class _Admit:
    """A queue write's end: the message is admitted (and acknowledged), or the write failed."""

    __slots__ = ("tracer", "handler")

    def __init__(self, tracer: Tracer, handler: Any) -> None:
        self.tracer = tracer
        self.handler = handler

    def __call__(self, req: Request, now: float) -> None:
        self.tracer.now = now
        was = req.acked
        self.handler(req, now)
        self.tracer.acked(req, was, now)


class TracedSimulation(Simulation):
    """A pure-engine `Simulation` that follows its requests (`Simulation(..., trace=TraceCaps())`); `traces()` gives
    what it kept. Its results are the untraced run's, bit for bit: the taps draw nothing and schedule nothing."""

    tracer: Tracer

    def __init__(self, network: Any, seed: int = 1, requests: int | None = None, warmup: int = 0,
                 engine: str | None = None, trace: TraceCaps | None = None) -> None:
        self._caps = trace or TraceCaps()
        self._failing: tuple[Request, str] | None = None
        super().__init__(network, seed=seed, requests=requests, warmup=warmup, engine=engine)

    def _build(self, *args: Any) -> None:
        super()._build(*args)
        self.tracer = Tracer(self, self._caps)

    def leave(self, req: Request, now: float) -> None:
        tracer = self.tracer
        live = tracer.live.get(id(req))
        if live is not None:
            tracer.close_open(live, req, now)
            st = req.source
            if req.acked or now - req.entered_at <= st.deadline:  # else timed_out() below tells
                if req.steps_done < st.need:
                    tracer.end(req, now, "dropped", "unsettled")
                else:
                    tracer.end(req, now, "completed", "settled" if req.acked else "answered")
        super().leave(req, now)

    def timed_out(self, req: Request, now: float) -> None:
        self.tracer.now = now
        self.tracer.end(req, now, "error", "gave up", last="gave up")
        super().timed_out(req, now)

    def visit_failed(self, req: Request, now: float) -> None:
        self.tracer.now = now
        self.tracer.failed(req, now)
        holder = req.holder
        policy = holder.retry if holder is not None else None
        self._failing = (req, "out of retries" if policy is not None else "failed call")
        try:
            super().visit_failed(req, now)
        finally:
            self._failing = None

    def finish(self, req: Request, outcome: str, now: float) -> None:
        failing = self._failing
        reason = failing[1] if failing is not None and failing[0] is req else "rejected"
        self.tracer.end(req, now, outcome, reason)
        super().finish(req, outcome, now)

    def _close(self) -> None:
        was_closed = self.closed
        super()._close()
        if not was_closed:
            self.tracer.close(self.end_time)

    def traces(self) -> Traces:
        """The traces kept: run the simulation to its end first (`results()`)."""
        if not self.closed:
            raise RuntimeError("traces() needs a finished run: call results() first")
        return self.tracer.traces()
