"""The network model: frozen dataclasses. `simulator.build.build_network` is the one validating way to make them from
a JSON spec."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "SpecError",
    "ServiceTime",
    "ErrorCurve",
    "Slowdown",
    "RetryPolicy",
    "Breaker",
    "Station",
    "Source",
    "Incident",
    "Network",
]

INF = math.inf
DISTRIBUTIONS = ("exponential", "deterministic", "lognormal", "erlang", "jitter")
INCIDENT_KINDS = ("brownout", "outage", "instances_lost", "surge")


class SpecError(ValueError):
    """An invalid spec; `field` is the path of the offending field (``stations[1].service.scv``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, str]]:
        # Raised in a worker process, it must survive the trip back through pickle.
        return (SpecError, (self.field, self.message))


@dataclass(frozen=True, slots=True)
class ServiceTime:
    """A per-server service-time distribution.

    exponential(mean); deterministic(mean); lognormal(mean, scv); erlang(mean, k); jitter(base, mean_jitter) which is
    base + Exp(mean_jitter).
    """

    dist: str
    mean: float
    scv: float = 1.0
    k: int = 1
    base: float = 0.0

    @property
    def second_moment(self) -> float:
        """E[S^2], the quantity Pollaczek-Khinchine needs."""
        return self.mean * self.mean * (1.0 + self.scv)


@dataclass(frozen=True, slots=True)
class ErrorCurve:
    """Error probability of a visit, evaluated when it completes.

    p(u) = base for u <= threshold, else base + (max - base) * ((u - threshold) / (1 - threshold)) ** power with the
    utilization u (capped at 1) measured over the last `window` simulated seconds (on a grid of window/16, so it
    trails by at most window/16). threshold None = flat `base`.
    """

    base: float = 0.0
    threshold: float | None = None
    max: float = 1.0
    power: float = 2.0
    window: float = 5.0

    def probability(self, utilization: float) -> float:
        """The error probability at a windowed utilization."""
        thr = self.threshold
        if thr is None or utilization <= thr:
            return self.base
        x = (min(utilization, 1.0) - thr) / (1.0 - thr)
        return self.base + (self.max - self.base) * x**self.power


@dataclass(frozen=True, slots=True)
class Slowdown:
    """Service time multiplied by 1 + (factor - 1) * clip((u - threshold) / (1 - threshold), 0, 1) at service start."""

    threshold: float = 0.8
    factor: float = 2.0
    window: float = 5.0

    def multiplier(self, utilization: float) -> float:
        """The service-time multiplier at a windowed utilization."""
        if utilization <= self.threshold:
            return 1.0
        x = (min(utilization, 1.0) - self.threshold) / (1.0 - self.threshold)
        return 1.0 + (self.factor - 1.0) * x


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A buffer's retry policy: after attempt n fails (n < max_attempts) the request re-enters the buffer after
    d = min(backoff * multiplier**(n-1), max_backoff).

    `jitter` f in [0, 1] spreads the delay: d * (1 - f * U), U ~ U(0, 1), so uniform on [(1 - f) d, d]; f = 1 ("full"
    in the spec) is U(0, d). A retry budget (`budget_ratio` not None) is a token bucket per buffer: it starts with
    `budget_burst` tokens, each first arrival at the buffer adds `budget_ratio` (up to `budget_burst`), each retry
    takes one; a retry the bucket cannot pay is refused and the message is out of attempts (see
    `simulator.engine.retry.RetryGate`). So retries <= budget_burst + budget_ratio x first arrivals.
    """

    max_attempts: int = 3
    backoff: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = INF
    jitter: float = 0.0
    budget_ratio: float | None = None
    budget_burst: float = 10.0

    def delay(self, attempts_made: int) -> float:
        """Backoff before the next attempt, after `attempts_made` attempts."""
        return min(self.backoff * self.multiplier ** (attempts_made - 1), self.max_backoff)


@dataclass(frozen=True, slots=True)
class Breaker:
    """A circuit breaker on a buffer's consumers, the callers of what lies downstream of it.

    Closed: each call's outcome (a failure downstream, or a success: the request left the network or reached another
    buffer) enters a sliding window of `window` seconds; at a failure, with at least `min_calls` outcomes in the
    window and a failure share >= `failure_rate`, it opens. Open for `open_for` seconds: a consumer taking a message
    fails it fast, without reaching downstream (counted in `short_circuited`); that is a failed visit of the buffer
    like any other (its retry policy applies, and the request met an error). Then half-open: `probes` calls go
    through, the others fail fast; a failure reopens it, `probes` successes close it (an outcome that arrives while
    half-open counts as a probe's)."""

    failure_rate: float = 0.5
    window: float = 10.0
    min_calls: int = 20
    open_for: float = 5.0
    probes: int = 1


@dataclass(frozen=True, slots=True)
class Station:
    """A FIFO station with `servers` parallel servers (math.inf = pure delay) and optional capacity K.

    K counts requests in service plus waiting; an arrival that finds K present is rejected. A `kind="buffer"`
    station is a queue whose `servers` are its consumers: a consumer slot is held while the request travels
    downstream (see `simulator.engine`). A buffer's `enqueue` is the time the write into the queue takes (the
    caller waits for it, and is acknowledged only after it); `enqueue_error` is the probability that write fails.

    `timeout` is service-only: a service longer than it is cut at `timeout` and the visit errs; waiting and the time
    downstream never time out under it. `deadline` is the caller's deadline of a (non-buffer) station: it starts
    when a request reaches the station and covers its wait, its service and everything downstream, until the
    request leaves the network, reaches a buffer (the hand-off answers the call) or fails a visit. Past it the
    request is abandoned: its visit of this station fails (counted in `abandoned`), so a holding buffer retries it
    like any error, else it ends as an error (before an acknowledgement) or failed (after one). Nested deadlines:
    the earliest wins. The work it left behind (`on_deadline`): "cancel" removes it from the queue it waits in, and
    a service in progress runs to its end with its result discarded (the server stays busy); "continue" still does
    all of it up to the hand-off or exit (wasted work), then discards it. Either way the abandoned copy is no longer
    counted anywhere but in the stations' utilization and completions.

    Load shedding (`shed_wait`, seconds): an arrival that finds every server busy and q requests waiting expects to
    wait (q + 1) x hold / servers (exact in mean for exponential holds), with `hold` the station's mean service time
    (a buffer has to state `shed_hold`, the mean time a consumer holds a message). It is rejected when that exceeds
    `shed_wait`, so at most floor(shed_wait x servers / hold) wait: the station is an M/M/c/K with K = servers +
    that (`admission_limit`, together with `capacity`). A shed arrival is a rejection like a full station's (counted
    in `rejected`; an error before an acknowledgement, dropped after it).

    A buffer's `dead_letter` names its dead-letter queue: a message whose request ends under this buffer's hold (out
    of attempts, refused by the retry budget, or with no retry policy) is kept there: counted in `dead_letters` (and
    per source in `dead_lettered`), its outcome unchanged (failed after an acknowledgement, else error): kept is not
    settled. `errors_after_work` (a station's) is the share of its errors that happen after it did the work (a
    gateway time-out after the charge); a buffer that retries such a call without an `idempotency_key` makes the
    work happen again: each such retry is a duplicate, counted at the station and per source in `duplicates`. With
    `idempotency_key: true` on the buffer none is.
    """

    name: str
    servers: float
    service: ServiceTime
    capacity: int | None = None
    errors: ErrorCurve | None = None
    slowdown: Slowdown | None = None
    timeout: float | None = None
    instances: int = 1
    unit_cost: float = 0.0
    kind: str = "station"
    acknowledge: bool = False
    retry: RetryPolicy | None = None
    enqueue: ServiceTime | None = None
    enqueue_error: float = 0.0
    deadline: float | None = None
    on_deadline: str = "cancel"
    shed_wait: float | None = None
    shed_hold: float | None = None
    breaker: Breaker | None = None
    dead_letter: str | None = None
    idempotency_key: bool = False
    errors_after_work: float = 0.0

    @property
    def infinite(self) -> bool:
        """True for an infinite-server (pure delay) station."""
        return self.servers == INF

    @property
    def admission_limit(self) -> int | None:
        """The most requests present (in service + waiting) that still admit one more: `capacity` and shedding's
        servers + floor(shed_wait x servers / hold), whichever is smaller; None for no limit."""
        if self.shed_wait is None:
            return self.capacity
        hold = self.shed_hold if self.shed_hold is not None else self.service.mean
        servers = int(self.servers)
        shed = servers + (math.floor(self.shed_wait * servers / hold + 1e-9) if hold > 0 else 1 << 40)
        return shed if self.capacity is None else min(self.capacity, shed)

    @property
    def is_buffer(self) -> bool:
        """True for a buffer (a queue with consumers)."""
        return self.kind == "buffer"

    @property
    def cost_per_hour(self) -> float:
        """instances x unit_cost."""
        return self.instances * self.unit_cost


@dataclass(frozen=True, slots=True)
class Source:
    """A Poisson source entering station `entry`, with a constant `rate` or a piecewise-linear `profile`.

    profile = ((t, rate/s), ...) with strictly increasing t; the rate is 0 before the first and after the last point,
    so the last point is the end of traffic. `routing` (optional) overrides the network's matrix for this source.

    `deadline` (seconds) is the caller's time-out: a request not acknowledged within it is given up by its caller
    and ends as an error (its accept latency is the deadline). It covers waiting and everything downstream up to the
    acknowledgement; the work left behind continues (it is checked when the request is answered: at an
    acknowledging buffer, where the late write is not made, or at its exit). A station's `deadline` is the one that
    can cancel work (see `Station`). `complete_through` lists steps, each a tuple of
    station indices: a request completes only after a successful visit to a station of every step, in order; one
    that leaves the network before that is *unsettled* and ends "dropped", counted by the station it left from.
    """

    name: str
    entry: int
    rate: float | None = None
    profile: tuple[tuple[float, float], ...] | None = None
    routing: tuple[tuple[float, ...], ...] | None = None
    deadline: float | None = None
    complete_through: tuple[tuple[int, ...], ...] = ()

    @property
    def peak_rate(self) -> float:
        """The largest rate of the source."""
        if self.profile is None:
            return float(self.rate or 0.0)
        return max(r for _, r in self.profile)

    @property
    def end(self) -> float:
        """End of traffic (inf for a constant rate)."""
        return INF if self.profile is None else self.profile[-1][0]

    def rate_at(self, t: float) -> float:
        """The arrival rate at time t."""
        if self.profile is None:
            return float(self.rate or 0.0)
        pts = self.profile
        if t < pts[0][0] or t > pts[-1][0]:
            return 0.0
        for (t0, r0), (t1, r1) in zip(pts, pts[1:], strict=False):
            if t <= t1:
                return r0 + (r1 - r0) * (t - t0) / (t1 - t0)
        return pts[-1][1]


@dataclass(frozen=True, slots=True)
class Incident:
    """Something that goes wrong for a window [start, end) of a run (`simulator.engine.incidents` plays it).

    * brownout (a station): a service starting in the window takes `latency_factor` times as long, and a visit ending
      in it fails with probability at least `error`;
    * outage (a station): a call arriving in the window is refused at once, and a visit ending in it fails;
    * instances_lost (a station): `instances` of its instances are gone, with their share of its servers; what they
      had in service is finished (a lost instance is taken out of rotation: it starts nothing new), the queue waits
      for the servers left, and at `end` the instances are back and take the queue on again;
    * surge (a source): its arrival rate is multiplied by `factor` in the window.

    `target` is the index of the station (or source) called `name`. Incidents on one station combine: latency
    factors multiply, the highest error floor holds, lost instances add up (never below zero servers).
    """

    kind: str
    name: str
    target: int
    start: float
    end: float
    latency_factor: float = 1.0
    error: float = 0.0
    instances: int = 0
    factor: float = 1.0

    def to_dict(self) -> dict[str, object]:
        """The incident as its spec gives it (what results echo for the charts)."""
        out: dict[str, object] = {"kind": self.kind, "start": self.start, "end": self.end}
        out["source" if self.kind == "surge" else "station"] = self.name
        if self.kind == "brownout":
            out.update(latency_factor=self.latency_factor, error=self.error)
        elif self.kind == "instances_lost":
            out["instances"] = self.instances
        elif self.kind == "surge":
            out["factor"] = self.factor
        return out


@dataclass(frozen=True, slots=True)
class Network:
    """A validated queueing network. Build it with `build_network`."""

    stations: tuple[Station, ...]
    sources: tuple[Source, ...]
    routing: tuple[tuple[float, ...], ...]
    duration: float | None = None
    drain: float = 0.0
    incidents: tuple[Incident, ...] = ()
    # Named windows of arrival time, ((name, t0, t1), ...) in time order, never overlapping: the results give each
    # source's figures for the requests that arrived in [t0, t1) beside the whole run's (the payday spike alone).
    windows: tuple[tuple[str, float, float], ...] = ()

    def station_index(self, name: str) -> int:
        """Index of the station called `name`."""
        for i, st in enumerate(self.stations):
            if st.name == name:
                return i
        raise KeyError(name)

    @property
    def cost_per_hour(self) -> float:
        """Sum over stations of instances x unit_cost."""
        return sum(st.cost_per_hour for st in self.stations)

    @property
    def traffic_end(self) -> float:
        """`duration` if given, else the end of the last profile (inf when a constant source has no duration)."""
        if self.duration is not None:
            return self.duration
        return max(src.end for src in self.sources)


# --------------------------------------------------------------------------------------------------- the builder
