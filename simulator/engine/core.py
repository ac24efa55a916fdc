"""The simulation: routes, a request's life from its arrival to its outcome, and the run on the `Clock`.

Semantics of a request's life (what the grading depends on; stations in `stations`, buffers in `buffers`):

* Acknowledgement: accept latency = arrival -> arrival at the first buffer with acknowledge=true; a request that
  never meets one has accept latency = arrival -> successful exit (synchronous path). Settlement latency =
  arrival -> completion, for acknowledged requests. A caller gives up at its source's `deadline`: a request not
  acknowledged by then is an error, with the deadline as accept latency.
* Outcomes: "completed" (left normally; "settled" counts the acknowledged subset), "error" (before ack),
  "failed" (after ack, out of retries), "dropped" (after ack: rejected by a full buffer, or unfinished at the horizon).
  A request that leaves before passing every step of its source's `complete_through` is "dropped" (unsettled).
* Resilience patterns (see `simulator.model`): a station's deadline abandons a request as a failed visit of that
  station (a twin carries the request on; the original becomes a ghost whose work is cancelled or continues and
  counts nowhere); a buffer's retries pass its `RetryGate` (jitter, budget) and its consumers its circuit breaker;
  out of attempts a message is counted in its buffer's dead-letter queue; a retry after an error that came after the
  work, without an idempotency key, is a duplicate.
* Requests mode: exactly N arrivals, all run to completion; the first `warmup` arrivals count in no latency or
  outcome statistic. Duration mode: sources run until the end of traffic (`duration`, else the end of the last
  profile); the run stops at end of traffic + `drain`, or as soon as traffic has stopped and no request is left:
  at that very event (`done_at`), whatever the streaming step, so a streamed run and an unstreamed one end at the
  same time with the same results; requests unfinished at the horizon count as dropped (acked) or error.

Random streams: service times per station and inter-arrival times per source come from numpy generators spawned
from `numpy.random.SeedSequence(seed)`; routing and error draws from one `random.Random`. No global state.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..model import Network, SpecError
from ..results import Results, Snapshot
from . import fast, incidents
from .arrivals import ArrivalProcess, SourceStats
from .buffers import EnqueueBufferNode, buffer_class
from .clock import Clock
from .meter import Meter
from .observe import Observer, e2e_metrics, station_metrics
from .request import DISCARD, Branch, Exit, Hop, Mark, Request, ScopeEnd
from .stations import DeadlineNode, Node, node_class

__all__ = ["Simulation", "run"]


class Simulation:
    """One run of a network.

    `requests=None` runs in duration mode (until end of traffic + drain); `requests=N` generates exactly N
    arrivals (over all sources) and runs every one to completion, the first `warmup` of them counting in no
    statistic. Advance it with `stream(step)` (yields `Snapshot`s) and/or finish it with `results()`.

    `env` is its `Clock`, a `simpy.Environment`: SimPy processes may run on it beside the engine.

    `trace=TraceCaps(...)` runs it on the pure engine keeping a bounded sample of request traces (`traces()` after
    `results()`; see `engine.trace`): the same results, bit for bit.
    """

    def __new__(cls, network: Network, seed: int = 1, requests: int | None = None, warmup: int = 0,
                engine: str | None = None, trace: Any = None) -> Simulation:
        if cls is Simulation and trace is not None:
            # Tracing is the pure engine's: its taps keep the compiled engine's hot path untouched.
            if engine == "fast":
                raise ValueError("tracing runs on the pure engine: pass engine=None or \"pure\" with trace")
            from .trace import TracedSimulation
            cls = TracedSimulation
        elif cls is Simulation and fast.wanted(engine):
            missing = fast.missing(network)
            if missing is None:
                cls = FastSimulation
            elif engine == "fast":
                raise RuntimeError(f"the compiled engine does not have {missing}: run this network with engine='pure' "
                                   "(or 'auto', which picks it)")
        return super().__new__(cls)

    def __init__(self, network: Network, seed: int = 1, requests: int | None = None, warmup: int = 0,
                 engine: str | None = None, trace: Any = None) -> None:
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
        self.limit: float = requests if requests is not None else math.inf
        seq = np.random.SeedSequence(seed)
        n, m = len(network.stations), len(network.sources)
        # Streams n + m + 1 onwards (the queue writes') come after the ones every network has, so adding a feature
        # to a spec never moves the draws of a spec without it.
        children = seq.spawn(n + m + 1 + n)
        streams = [np.random.Generator(np.random.PCG64(s)) for s in children[:n + m + 1]]
        self.rng = random.Random(int(streams[n + m].integers(2**63)))
        put_streams = [np.random.Generator(np.random.PCG64(children[n + m + 1 + i]))
                       if st.is_buffer and st.enqueue is not None else None for i, st in enumerate(network.stations)]
        self.track_exits = requests is not None  # only metrics() reads sojourns by exit, and it needs requests mode
        self.cost_per_hour = network.cost_per_hour
        self.started = False
        self.closed = False
        self.end_time = math.nan  # set when the run is closed
        self._build(streams[:n], streams[n:n + m], put_streams)
        self.observer = Observer(self)
        self.after_work_pending = False
        if network.incidents:
            incidents.play(self)
        self.meter = Meter(self)

    def _build(self, station_streams: list[np.random.Generator], source_streams: list[np.random.Generator],
               put_streams: list[np.random.Generator | None]) -> None:
        """The run-time stations, sources and counters, on the clock."""
        network = self.network
        n = len(network.stations)
        self.env = Clock()
        self.nodes: list[Node] = []
        struck = incidents.station_targets(network)
        for i, st in enumerate(network.stations):
            put_rng = put_streams[i]
            if put_rng is not None:
                put_cls = buffer_class(st)
                assert issubclass(put_cls, EnqueueBufferNode)
                self.nodes.append(put_cls(self, i, st, station_streams[i], put_rng))
            elif i in struck and not st.is_buffer:  # only the full station honours an incident's state
                node = (DeadlineNode if st.deadline is not None else Node)(self, i, st, station_streams[i])
                node.check_errors = True
                self.nodes.append(node)
            else:
                cls = buffer_class(st) if st.is_buffer else node_class(st)
                self.nodes.append(cls(self, i, st, station_streams[i]))
        self.stats = [SourceStats(src.name, n, len(src.complete_through), src.deadline) for src in network.sources]
        # A request arriving in a named window is counted in its source's stats for that window (the whole run's
        # figures are the source's stats and its windows' together).
        self.arrival_windows = [(t0, t1) for _, t0, t1 in network.windows]
        self.window_stats = [[SourceStats(src.name, n, len(src.complete_through), src.deadline)
                              for _ in network.windows] for src in network.sources]
        self.sources = self._sources(source_streams)
        for src, windows in zip(self.sources, self.window_stats, strict=True):
            src.window_stats = windows
        self.n_arrived = 0
        self.outstanding = 0  # requests in the network (including those waiting out a retry backoff)
        self.active_sources = len(self.sources)
        self.done_at: float | None = None  # the event at which traffic had stopped and the last request was done
        self.window: tuple[float, float] | None = None  # CLI window [arrival #warmup, last arrival]
        self.window_area_start: list[float] = []
        self.window_area_end: list[float] = []
        self.window_start = 0.0
        self.observer = Observer(self)

    def _sources(self, streams: list[np.random.Generator]) -> list[ArrivalProcess]:
        network = self.network
        # With station deadlines, a hop into a buffer or out of the network ends the deadline's scope.
        self.scoped = any(st.deadline is not None for st in network.stations)
        self._ghost_routes: dict[int, list[Hop]] = {}
        exits = [Exit(self, node) for node in self.nodes]
        base_route = self._routes(network.routing, exits)
        sources: list[ArrivalProcess] = []
        for j, src in enumerate(network.sources):
            route = base_route if src.routing is None else self._routes(src.routing, exits)
            if src.complete_through:
                route = list(route)
                for k, step in enumerate(src.complete_through):
                    for i in step:
                        route[i] = Mark(k, route[i])
            end = min(src.end, network.traffic_end) if self.requests is None else src.end
            sources.append(ArrivalProcess(self, src, self.stats[j], self.nodes[src.entry], route, streams[j], end))
        return sources

    def _routes(self, matrix: tuple[tuple[float, ...], ...], exit_hops: list[Exit]) -> list[Hop]:
        out: list[Hop] = []
        exits: list[Hop] = [ScopeEnd(ex) for ex in exit_hops] if self.scoped else list(exit_hops)
        nodes: list[Hop] = [ScopeEnd(node) if self.scoped and node.spec.is_buffer else node for node in self.nodes]
        for i, row in enumerate(matrix):
            targets = [(p, nodes[j]) for j, p in enumerate(row) if p > 0]
            leave = 1.0 - sum(row)
            if not targets:
                out.append(exits[i])
            elif len(targets) == 1 and leave <= 1e-12:
                out.append(targets[0][1])
            else:
                cum: list[float] = []
                hops: list[Hop] = []
                acc = 0.0
                for p, node in targets:
                    acc += p
                    cum.append(acc)
                    hops.append(node)
                cum[-1] = min(cum[-1], 1.0) if leave > 1e-12 else 1.0 + 1e-9
                out.append(Branch(cum, hops + [exits[i]], self.rng))
        return out

    # ---------------------------------------------------------------- a request's life
    def arrival(self, source: ArrivalProcess, now: float) -> None:
        """A source's arrival: a new request enters the network at its source's entry station."""
        i = self.n_arrived
        self.n_arrived = i + 1
        req = Request()
        req.entered_at = now
        stats = source.stats
        if self.arrival_windows:
            for w, (t0, t1) in enumerate(self.arrival_windows):
                if t0 <= now < t1:
                    stats = source.window_stats[w]
                    break
        req.source = stats
        req.route = source.route
        req.holder = None
        req.acked = False
        req.steps_done = 0
        req.met_error = False
        req.counted = counted = i >= self.warmup
        if counted:
            stats.arrivals += 1
        if i == self.warmup:
            self.window_start = now
            self.window_area_start = [node.area_at(now) for node in self.nodes]
        if i + 1 == self.limit:
            self.window = (self.window_start, now)
            self.window_area_end = [node.area_at(now) for node in self.nodes]
        self.outstanding += 1
        source.entry.arrive(req, now)

    def leave(self, req: Request, now: float) -> None:
        """The request leaves the network from `req.last_station`."""
        holder = req.holder
        if holder is not None:
            req.holder = None
            holder.release(now)
        st = req.source
        d = now - req.entered_at
        if not req.acked and d > st.deadline:  # answered after its caller gave up: an error all the same
            self.timed_out(req, now)
            return
        self.outstanding -= 1
        if not self.outstanding and not self.active_sources:
            self.done_at = now
        if req.counted:
            if req.met_error:
                st.met_error_ok += 1
            if req.steps_done < st.need:
                # Left before completing its path (a payment that never reached the gateway, say): the caller was
                # answered, so it counts as acknowledged, and it is lost.
                st.leaks[req.last_station.idx][req.steps_done] += 1
                st.outcomes["dropped"] += 1
                if not req.acked:
                    st.acked += 1
                    st.accept.append(d)
                return
            st.sojourn.append(d)  # completed = len(sojourn): no separate counter on the hot path
            if self.track_exits:
                st.exits[req.last_station.idx].append(d)
            if req.acked:
                st.settle.append(d)  # settled = len(settle)
            else:
                st.accept.append(d)

    def timed_out(self, req: Request, now: float) -> None:
        """The caller's deadline passed before an acknowledgement: an error, with the deadline as accept latency."""
        holder = req.holder
        if holder is not None:
            req.holder = None
            holder.release(now)
        if req.counted:
            st = req.source
            st.timeouts += 1
            st.accept.append(st.deadline)
        self.finish(req, "error", now)

    def finish(self, req: Request, outcome: str, now: float) -> None:
        """End a request that did not complete normally ("error", "failed" or "dropped")."""
        self.outstanding -= 1
        if not self.outstanding and not self.active_sources:
            self.done_at = now
        if req.counted:
            req.source.outcomes[outcome] += 1
            if req.met_error and outcome == "dropped":
                req.source.met_error_ok += 1

    def cancel(self, req: Request) -> None:
        """An abandoned request's work is cancelled: out of the queue it waits in, else (in service) its result is
        discarded when the service ends."""
        for node in self.nodes:
            queue = node.queue
            if queue and not node.spec.is_buffer and req in queue:
                queue.remove(req)
                return
        req.route = [DISCARD] * len(self.nodes)

    def ghost_route(self, route: list[Hop]) -> list[Hop]:
        """The route of an abandoned request whose work continues: the same stations, but a buffer or an exit
        discards it (what it still does is wasted; it reaches no queue and counts in no outcome)."""
        ghost = self._ghost_routes.get(id(route))
        if ghost is None:
            ghost = self._ghost_routes[id(route)] = [self._ghost_hop(hop) for hop in route]
        return ghost

    def _ghost_hop(self, hop: Hop) -> Hop:
        if isinstance(hop, (ScopeEnd, Exit)) or (isinstance(hop, Node) and hop.spec.is_buffer):
            return DISCARD
        if isinstance(hop, Branch):
            return Branch(hop.cum, [self._ghost_hop(t) for t in hop.targets], hop.rng)
        if isinstance(hop, Mark):
            return self._ghost_hop(hop.target)
        return hop

    def visit_failed(self, req: Request, now: float) -> None:
        """A visit of `req.last_station` failed: the holding buffer retries it, or the request ends."""
        after_work = self.after_work_pending  # the failed visit's error came after its work (errors_after_work)
        self.after_work_pending = False
        if self.scoped:
            if getattr(req, "ghost", False):
                return  # an abandoned copy's failure matters to no one
            req.deadline_at = math.inf
        req.met_error = True
        holder = req.holder
        if holder is not None:
            req.holder = None
            if holder.breaker is not None:
                holder.breaker.failed(now)
            holder.release(now)
            policy = holder.retry
            if policy is not None and req.attempts >= policy.max_attempts:
                req.last_station.exhausted += 1
            elif policy is not None:
                gate = holder.gate
                delay = policy.delay(req.attempts) if gate is None else gate.delay(req.attempts, holder)
                if delay < 0.0:  # refused by the retry budget: out of attempts
                    req.last_station.exhausted += 1
                else:
                    req.last_station.recovered += 1
                    if req.counted:
                        req.source.retries += 1
                    if after_work and not holder.idempotent:  # the retry does the work again
                        req.last_station.duplicates += 1
                        if req.counted:
                            req.source.duplicates += 1
                    self.env.at(now + delay, holder.on_reenter, req)
                    return
            if holder.dead_letter:  # out of attempts: kept in the dead-letter queue (not settled)
                holder.dead_letters += 1
                if req.counted:
                    req.source.dead_lettered += 1
        if req.acked:
            req.last_station.lost += 1
            self.finish(req, "failed", now)
        else:
            req.last_station.surfaced += 1
            self.finish(req, "error", now)

    def set_incident(self, idx: int, now: float, latency_factor: float, error_floor: float, down: bool,
                     open_servers: float) -> None:
        """Station `idx` switches to the state of its active incidents (called by `incidents`' processes)."""
        self.nodes[idx].set_incident(now, latency_factor, error_floor, down, open_servers)

    # ---------------------------------------------------------------- running
    def _start(self) -> None:
        if not self.started:
            self.started = True
            for src in self.sources:
                src.schedule_next(0.0)
            self.meter.start()

    @property
    def engine(self) -> str:
        """The engine the run is on: "pure" (Python) or "fast" (compiled)."""
        return "pure"

    @property
    def done(self) -> bool:
        """True when the run has reached its end: the horizon (duration mode), or the event at which traffic had
        stopped and the last request was done (`done_at`)."""
        return self.done_at is not None or self.env.now >= self.horizon

    def _idle(self) -> bool:
        return self.done_at is not None

    def _advance(self, until: float) -> float:
        """Run the engine's events before `until` and stop the clock where the run ended, if it did: at its last
        event, not at `until` (SimPy's own events after it wait for a later call); the time the clock stopped at."""
        self.env.advance(until, until_idle=self._idle)
        end = self.done_at
        if end is None:
            return until
        self.env._now = end
        return end

    def stream(self, step: float = 1.0) -> Iterator[Snapshot]:
        """Advance in steps of `step` simulated seconds, yielding a `Snapshot` after each (also kept for results);
        the last one is at the run's end, a shorter step when the run ends between two."""
        if step <= 0:
            raise ValueError("step must be > 0")
        self._start()
        while not self.done:
            t = self.env.now + step
            if t > self.horizon:
                t = self.horizon
            now = self._advance(t)
            if self.done:  # the last snapshot counts what the run leaves unfinished, as the results do
                self._close()
            yield self.observer.snapshot(now)

    def run_to_end(self) -> None:
        """Run the rest of the simulation (SimPy processes on `env` run with it, up to its end)."""
        self._start()
        if not self.done:
            self._advance(self.horizon)

    def _close(self) -> None:
        """At the horizon, count what is still in the network: acknowledged -> dropped, else error."""
        if self.closed:
            return
        self.closed = True
        # SimPy processes may move the clock on afterwards: the run ended here
        self.end_time = self.done_at if self.done_at is not None else self.env.now
        self.meter.close(self.end_time)
        for st in self.all_stats:
            st.close()

    # ---------------------------------------------------------------- output
    @property
    def all_stats(self) -> list[SourceStats]:
        """Every source's stats, then its windows', source by source (the whole run's samples, in one order)."""
        return [st for j, main in enumerate(self.stats) for st in (main, *self.window_stats[j])]

    def results(self) -> Results:
        """Run to the end if needed and return the full, deterministic `Results`."""
        self.run_to_end()
        self._close()
        return self.observer.results(self.end_time)

    def metrics(self, percentiles: tuple[float, ...] = (50, 95, 99),
                wait_over: tuple[float, ...] = ()) -> dict[str, float | None]:
        """The CLI's flat metrics (requests mode): `<station>.W_mean`, `e2e.W_p99`, ... (see the issue/README)."""
        if self.mode != "requests":
            raise ValueError("metrics() needs requests mode")
        self.run_to_end()
        self._close()
        if self.window is None:
            raise SpecError("--requests", f"the sources ended after {self.n_arrived} arrivals, fewer than "
                                          f"{self.requests} (a rate profile ends its traffic)")
        t0, t1 = self.window
        span = t1 - t0
        qs = [p / 100.0 for p in percentiles]
        out: dict[str, float | None] = {}
        for k, node in enumerate(self.nodes):
            busy = self.window_area_end[k] - self.window_area_start[k]
            out.update(station_metrics(node, qs, percentiles, wait_over, span, busy))
        out.update(e2e_metrics(self, qs, percentiles, span))
        return out


class FastSimulation(Simulation):
    """A `Simulation` on the compiled engine (`fast`): the same semantics, results and API; the request's life and
    the calendar run in C, and the counters below are read from there."""

    core: Any

    def _build(self, station_streams: list[np.random.Generator], source_streams: list[np.random.Generator],
               put_streams: list[np.random.Generator | None]) -> None:
        core = self.core = fast.build_fast(self, station_streams, source_streams, put_streams)
        self.env = core.clock
        self.nodes = core.nodes
        self.stats = core.stats
        self.window_stats = core.window_stats
        self.sources = core.sources

    def _start(self) -> None:
        if not self.started:
            self.started = True
            self.core.start()
            self.meter.start()

    @property
    def engine(self) -> str:
        return "fast"

    def set_incident(self, idx: int, now: float, latency_factor: float, error_floor: float, down: bool,
                     open_servers: float) -> None:
        self.core.set_incident(idx, now, latency_factor, error_floor, down, open_servers)

    @property
    def n_arrived(self) -> int:  # type: ignore[override]
        return int(self.core.n_arrived)

    @property
    def outstanding(self) -> int:  # type: ignore[override]
        return int(self.core.outstanding)

    @property
    def active_sources(self) -> int:  # type: ignore[override]
        return int(self.core.active_sources)

    @property
    def done_at(self) -> float | None:  # type: ignore[override]
        t = self.core.done_at
        return None if t != t else float(t)

    @property
    def window(self) -> tuple[float, float] | None:  # type: ignore[override]
        return self.core.window

    @property
    def window_area_start(self) -> list[float]:  # type: ignore[override]
        return self.core.window_area_start

    @property
    def window_area_end(self) -> list[float]:  # type: ignore[override]
        return self.core.window_area_end

    @property
    def requests_allocated(self) -> int:
        """Request records the run allocated: the most requests in the network at once (its memory for them)."""
        return int(self.core.requests_allocated)


def run(network: Network, seed: int = 1, requests: int | None = None, warmup: int = 0,
        step: float | None = None, engine: str | None = None) -> Results:
    """Run a network to the end and return its `Results`.

    `step` (simulated seconds) records a time series of snapshots; by default 1.0 in duration mode and none in
    requests mode (where a run may span hours of simulated time).
    """
    sim = Simulation(network, seed=seed, requests=requests, warmup=warmup, engine=engine)
    if step is None and requests is None:
        step = 1.0
    if step is not None:
        for _ in sim.stream(step):
            pass
    return sim.results()
