"""Exact queueing formulas: the workspace's instant estimate and the tests' oracle.

Rates are per second, times in seconds. Every function raises `UnstableError` (a ValueError) when the offered load
makes the queue unstable (rho >= 1), except the loss systems (M/M/c/K, Erlang B), which are always stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .distributions import lognormal_params
from .model import Network, ServiceTime

__all__ = ["UnstableError", "QueueMetrics", "mm1", "mmc", "mmck", "erlang_b", "erlang_c", "md1", "mg1", "mminf",
           "jackson", "JacksonResult", "jackson_network", "service_cdf"]


class UnstableError(ValueError):
    """The offered load is at or above capacity: no steady state exists."""


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """Steady-state metrics of one queue. Wq = wait before service, W = sojourn (wait + service)."""

    arrival_rate: float
    throughput: float  # admitted rate (= arrival_rate unless the system loses requests)
    utilization: float  # busy servers / servers (0 for infinite servers)
    prob_wait: float  # P(an admitted request waits > 0)
    blocking_prob: float  # P(an arrival is rejected)
    Lq: float
    L: float
    Wq: float
    W: float
    wait_tail: Callable[[float], float] | None = None  # t -> P(Wq > t), when known in closed form
    sojourn_tail: Callable[[float], float] | None = None  # t -> P(W > t), when known in closed form

    def wait_quantile(self, p: float) -> float:
        """The p-quantile (0 < p < 1) of the wait Wq."""
        if self.wait_tail is None:
            raise ValueError("no closed-form wait distribution for this model")
        return _invert(self.wait_tail, p)

    def sojourn_quantile(self, p: float) -> float:
        """The p-quantile (0 < p < 1) of the sojourn W."""
        if self.sojourn_tail is None:
            raise ValueError("no closed-form sojourn distribution for this model")
        return _invert(self.sojourn_tail, p)


def _invert(tail: Callable[[float], float], p: float) -> float:
    """Smallest t with P(X > t) <= 1 - p, by bisection (the tails here are continuous except at 0)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    target = 1.0 - p
    if tail(0.0) <= target:
        return 0.0
    hi = 1.0
    while tail(hi) > target:
        hi *= 2.0
    lo = 0.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if tail(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _check(lam: float, mean_service: float, servers: float = 1) -> float:
    if lam <= 0 or mean_service <= 0:
        raise ValueError("arrival rate and mean service time must be > 0")
    rho = lam * mean_service / servers
    if rho >= 1.0:
        raise UnstableError(f"unstable: utilization rho = {rho:.4g} >= 1 (arrival rate x service / servers)")
    return rho


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang B: blocking probability of M/M/c/c (or M/G/c/c) with offered load a = lambda x E[S]."""
    if servers < 1 or offered_load < 0:
        raise ValueError("servers must be >= 1 and offered load >= 0")
    b = 1.0
    for k in range(1, servers + 1):  # the stable recursion B(k) = a B(k-1) / (k + a B(k-1))
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: probability that an arrival waits in M/M/c, offered load a = lambda/mu < c."""
    if offered_load >= servers:
        raise UnstableError(f"unstable: offered load {offered_load:.4g} >= {servers} servers")
    b = erlang_b(servers, offered_load)
    rho = offered_load / servers
    return b / (1.0 - rho + rho * b)


def _hypoexp_tail(a: float, b: float) -> Callable[[float], float]:
    """P(Exp(a) + Exp(b) > t)."""
    if abs(a - b) < 1e-12 * max(a, b):
        return lambda t: math.exp(-a * t) * (1.0 + a * t)
    return lambda t: (a * math.exp(-b * t) - b * math.exp(-a * t)) / (a - b)


def mmc(arrival_rate: float, mean_service: float, servers: int) -> QueueMetrics:
    """M/M/c (Erlang C): means, P(wait), and the exact wait and sojourn distributions."""
    rho = _check(arrival_rate, mean_service, servers)
    mu = 1.0 / mean_service
    a = arrival_rate * mean_service
    c_prob = erlang_c(servers, a)
    theta = servers * mu - arrival_rate  # the conditional wait is Exp(c mu - lambda)
    wq = c_prob / theta
    hypo = _hypoexp_tail(theta, mu)

    def wait_tail(t: float) -> float:
        return c_prob * math.exp(-theta * t)

    def sojourn_tail(t: float) -> float:
        return (1.0 - c_prob) * math.exp(-mu * t) + c_prob * hypo(t)

    return QueueMetrics(arrival_rate, arrival_rate, rho, c_prob, 0.0, arrival_rate * wq, arrival_rate * wq + a, wq,
                        wq + mean_service, wait_tail, sojourn_tail)


def mm1(arrival_rate: float, mean_service: float) -> QueueMetrics:
    """M/M/1 (the c = 1 case of M/M/c)."""
    return mmc(arrival_rate, mean_service, 1)


def mmck(arrival_rate: float, mean_service: float, servers: int, capacity: int) -> QueueMetrics:
    """M/M/c/K: K = in service + waiting; arrivals finding K present are lost. Stable for any load."""
    if capacity < servers:
        raise ValueError("capacity must be >= servers")
    if arrival_rate <= 0 or mean_service <= 0:
        raise ValueError("arrival rate and mean service time must be > 0")
    a = arrival_rate * mean_service
    # unnormalized p_n, computed as ratios to stay finite under heavy overload
    weights = [1.0]
    for n in range(1, capacity + 1):
        weights.append(weights[-1] * a / min(n, servers))
    total = sum(weights)
    p = [w / total for w in weights]
    block = p[capacity]
    lam_eff = arrival_rate * (1.0 - block)
    L = sum(n * pn for n, pn in enumerate(p))
    Lq = sum((n - servers) * pn for n, pn in enumerate(p) if n > servers)
    prob_wait = sum(p[n] for n in range(servers, capacity)) / (1.0 - block)
    busy = sum(min(n, servers) * pn for n, pn in enumerate(p))
    # An admitted arrival that finds n >= c present waits for n - c + 1 completions at rate c mu: Erlang(n - c + 1).
    rate = servers / mean_service
    waiting = [(n - servers, p[n] / (1.0 - block)) for n in range(servers, capacity)]

    def wait_tail(t: float) -> float:
        x = rate * t
        if x <= 0.0:
            return sum(share for _, share in waiting)
        # P(Erlang(k, rate) > t) = P(Poisson(x) <= k - 1), its terms summed in log space (x may be large)
        total, below, log_x = 0.0, 0.0, math.log(x)
        for j, share in waiting:
            below += math.exp(j * log_x - x - math.lgamma(j + 1))
            total += share * min(1.0, below)
        return total

    return QueueMetrics(arrival_rate, lam_eff, busy / servers, prob_wait, block, Lq, L, Lq / lam_eff, L / lam_eff,
                        wait_tail)


def md1(arrival_rate: float, service_time: float) -> QueueMetrics:
    """M/D/1 (Pollaczek-Khinchine with zero service variance)."""
    return mg1(arrival_rate, service_time, 0.0)


def mg1(arrival_rate: float, mean_service: float, scv: float) -> QueueMetrics:
    """M/G/1 by Pollaczek-Khinchine: Wq = rho (1 + scv) E[S] / (2 (1 - rho)); scv = Var[S] / E[S]^2."""
    rho = _check(arrival_rate, mean_service)
    wq = rho * (1.0 + scv) * mean_service / (2.0 * (1.0 - rho))
    return QueueMetrics(arrival_rate, arrival_rate, rho, rho, 0.0, arrival_rate * wq, arrival_rate * wq + rho, wq,
                        wq + mean_service)


def mminf(arrival_rate: float, mean_service: float) -> QueueMetrics:
    """M/G/inf: nobody waits; W = E[S]; the number in service is Poisson(lambda E[S])."""
    if arrival_rate <= 0 or mean_service <= 0:
        raise ValueError("arrival rate and mean service time must be > 0")
    a = arrival_rate * mean_service
    return QueueMetrics(arrival_rate, arrival_rate, 0.0, 0.0, 0.0, 0.0, a, 0.0, mean_service)


def service_cdf(service: ServiceTime, t: float) -> float:
    """P(S <= t) for a station's service-time distribution (the simulator's `ServiceTime`)."""
    if t < 0:
        return 0.0
    dist, mean = service.dist, service.mean
    if dist == "deterministic":
        return 1.0 if t >= mean else 0.0
    if dist == "exponential":
        return -math.expm1(-t / mean)
    if dist == "jitter":
        jitter = mean - service.base
        if t < service.base:
            return 0.0
        return 1.0 if jitter <= 0 else -math.expm1(-(t - service.base) / jitter)
    if dist == "lognormal":
        if t <= 0:
            return 0.0
        mu, sigma = lognormal_params(mean, service.scv)
        return 0.5 * (1.0 + math.erf((math.log(t) - mu) / (sigma * math.sqrt(2.0))))
    if dist == "erlang":
        x = service.k * t / mean
        if x <= 0:
            return 0.0
        log_x = math.log(x)
        return 1.0 - min(1.0, sum(math.exp(j * log_x - x - math.lgamma(j + 1)) for j in range(service.k)))
    raise ValueError(f"unknown distribution {dist!r}")


@dataclass(frozen=True, slots=True)
class JacksonResult:
    """An open Jackson network: per-station arrival rates and metrics, and the end-to-end mean sojourn."""

    arrival_rates: tuple[float, ...]
    stations: tuple[QueueMetrics, ...]
    W: float  # mean external arrival -> departure, by Little's law over the whole network
    visits: tuple[float, ...]  # mean visits per external arrival


def _solve(external: Sequence[float], routing: Sequence[Sequence[float]]) -> list[float]:
    """Traffic equations lambda = gamma + lambda P, by fixed-point iteration (P is substochastic and transient)."""
    n = len(external)
    lam = list(external)
    for _ in range(100_000):
        new = [external[j] + sum(lam[i] * routing[i][j] for i in range(n)) for j in range(n)]
        if max(abs(x - y) for x, y in zip(new, lam, strict=False)) <= 1e-13 * max(1.0, max(new)):
            return new
        lam = new
    raise ValueError("traffic equations did not converge (does every request eventually leave?)")


def jackson(external: Sequence[float], routing: Sequence[Sequence[float]], mean_service: Sequence[float],
            servers: Sequence[float]) -> JacksonResult:
    """Open Jackson network of M/M/c (servers = math.inf for a delay) stations."""
    lam = _solve(external, routing)
    metrics = []
    for i, (rate, s, c) in enumerate(zip(lam, mean_service, servers, strict=False)):
        if rate <= 0:
            metrics.append(QueueMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, s))
        elif math.isinf(c):
            metrics.append(mminf(rate, s))
        else:
            try:
                metrics.append(mmc(rate, s, int(c)))
            except UnstableError as exc:
                raise UnstableError(f"station {i}: {exc}") from None
    gamma = sum(external)
    W = sum(m.L for m in metrics) / gamma
    return JacksonResult(tuple(lam), tuple(metrics), W, tuple(x / gamma for x in lam))


def jackson_network(network: Network) -> JacksonResult:
    """`jackson` for a built Network: needs constant-rate sources, exponential service, no capacity."""
    n = len(network.stations)
    external = [0.0] * n
    for src in network.sources:
        if src.rate is None or src.routing is not None:
            raise ValueError(f"source {src.name!r}: needs a constant rate and the network's routing")
        external[src.entry] += src.rate
    for st in network.stations:
        if (st.service.dist != "exponential" and not st.infinite) or st.capacity is not None:
            raise ValueError(f"station {st.name!r}: Jackson needs exponential service and no capacity")
    return jackson(external, network.routing, [st.service.mean for st in network.stations],
                   [st.servers for st in network.stations])
