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
    "Station",
    "Source",
    "Network",
]

INF = math.inf
DISTRIBUTIONS = ("exponential", "deterministic", "lognormal", "erlang", "jitter")


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
    min(backoff * multiplier**(n-1), max_backoff)."""

    max_attempts: int = 3
    backoff: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = INF

    def delay(self, attempts_made: int) -> float:
        """Backoff before the next attempt, after `attempts_made` attempts."""
        return min(self.backoff * self.multiplier ** (attempts_made - 1), self.max_backoff)


@dataclass(frozen=True, slots=True)
class Station:
    """A FIFO station with `servers` parallel servers (math.inf = pure delay) and optional capacity K.

    K counts requests in service plus waiting; an arrival that finds K present is rejected. A `kind="buffer"`
    station is a queue whose `servers` are its consumers: a consumer slot is held while the request travels
    downstream (see `simulator.engine`). A buffer's `enqueue` is the time the write into the queue takes (the
    caller waits for it, and is acknowledged only after it); `enqueue_error` is the probability that write fails.
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

    @property
    def infinite(self) -> bool:
        """True for an infinite-server (pure delay) station."""
        return self.servers == INF

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
    and ends as an error (its accept latency is the deadline). `complete_through` lists steps, each a tuple of
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
class Network:
    """A validated queueing network. Build it with `build_network`."""

    stations: tuple[Station, ...]
    sources: tuple[Source, ...]
    routing: tuple[tuple[float, ...], ...]
    duration: float | None = None
    drain: float = 0.0
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
