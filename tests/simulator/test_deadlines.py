"""Caller deadlines on a station: a deadline covers the wait, the service and everything downstream; past it the
request is abandoned (an error, or a failed visit its buffer retries), and its work is cancelled or continues.

References: with "continue" the station still does every request's work, so it is a plain M/M/c and the share
abandoned is the exact M/M/c sojourn tail P(W > D); with "cancel" an independent plain-Python FCFS multi-server DES
written here (a queued request leaves at its deadline, a service in progress runs out with its result discarded)."""

from __future__ import annotations

import heapq
import math
import random
from statistics import fmean, stdev
from typing import Any

import pytest

from simulator import Simulation, SpecError, build_network
from simulator.engine import fast

from .replication import estimate, t_quantile

LAM, MU, C, D = 1.2, 1.0, 2, 2.0  # M/M/2 at rho = 0.6, deadline 2 s
REQUESTS, WARMUP, R = 20_000, 1_000, 10


def _spec(on_deadline: str) -> dict[str, Any]:
    return {"arrival": {"rate": LAM},
            "stations": [{"name": "s", "servers": C, "service": {"dist": "exponential", "mean": 1.0 / MU},
                          "deadline": D, "on_deadline": on_deadline}]}


def _erlang_c(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_sojourn_tail(lam: float, mu: float, c: int, t: float) -> float:
    """P(W > t) in M/M/c FCFS: W = Wq + S, Wq = 0 w.p. 1 - C(c, a), else Exp(c mu - lam)."""
    pc = _erlang_c(c, lam / mu)
    g = c * mu - lam
    both = (g * math.exp(-mu * t) - mu * math.exp(-g * t)) / (g - mu)  # P(Exp(g) + Exp(mu) > t)
    return (1 - pc) * math.exp(-mu * t) + pc * both


def _runs(on_deadline: str) -> list[dict[str, Any]]:
    out = []
    net = build_network(_spec(on_deadline))
    for seed in range(1, R + 1):
        sim = Simulation(net, seed=seed, requests=REQUESTS, warmup=WARMUP)
        metrics = sim.metrics()
        res = sim.results()
        out.append({"abandoned": res.overall.outcomes["error"] / res.overall.arrivals,
                    "utilization": metrics["s.utilization"], "engine": sim.engine})
    return out


def test_with_continue_the_share_abandoned_is_the_mmc_sojourn_tail() -> None:
    """Concept: work that continues leaves the station an M/M/c, so abandonment = P(W > D) exactly."""
    runs = _runs("continue")
    exact = mmc_sojourn_tail(LAM, MU, C, D)
    est = estimate(runs, "abandoned")
    assert est.agrees_with(exact), est.explain(exact)
    util = estimate(runs, "utilization")
    assert util.agrees_with(LAM / (C * MU)), util.explain(LAM / (C * MU))  # the wasted work is still done


def reference_cancel(seed: int, n: int, warmup: int) -> tuple[float, float]:
    """(share abandoned, utilization) of M/M/c FCFS whose requests are cancelled at arrival + D: one that would start
    later leaves the queue unserved; one whose service ends later is abandoned, the server busy to the end."""
    rng = random.Random(seed)
    free = [0.0] * C
    t = busy = 0.0
    abandoned = 0
    t0 = 0.0
    for i in range(n):
        t += rng.expovariate(LAM)
        if i == warmup:
            t0, busy, abandoned = t, 0.0, 0
        start = max(t, free[0])
        if start > t + D:
            abandoned += 1
            continue
        s = rng.expovariate(MU)
        heapq.heapreplace(free, start + s)
        busy += s
        if start + s > t + D:
            abandoned += 1
    return abandoned / (n - warmup), busy / (C * (t - t0))


def test_with_cancel_abandonment_and_utilization_match_a_reference_des() -> None:
    """Concept: cancelling frees the queue of abandoned requests (but not a service under way)."""
    runs = _runs("cancel")
    ref = [reference_cancel(seed, 4 * REQUESTS, WARMUP) for seed in range(101, 101 + R)]
    for k, key in enumerate(("abandoned", "utilization")):
        ours = [r[key] for r in runs]
        theirs = [x[k] for x in ref]
        se = math.sqrt(stdev(ours) ** 2 / R + stdev(theirs) ** 2 / R)
        gap = abs(fmean(ours) - fmean(theirs))
        assert gap <= t_quantile(R - 1) * se, f"{key}: engine {fmean(ours):.5f} vs reference {fmean(theirs):.5f}"
    # and cancelling is not a free lunch: fewer abandoned than with continue, yet some still are
    assert 0.0 < fmean(r["abandoned"] for r in runs) < mmc_sojourn_tail(LAM, MU, C, D)


def _worker_spec(deadline: float, service: float, **station: Any) -> dict[str, Any]:
    return {"arrival": {"rate": 5.0},
            "stations": [
                {"name": "q", "kind": "buffer", "servers": 4, "acknowledge": True,
                 "retry": {"max_attempts": 3, "backoff": 0.1, "multiplier": 1.0}},
                {"name": "w", "servers": 50, "service": {"dist": "deterministic", "mean": service},
                 "deadline": deadline, **station}],
            "duration": 20.0, "drain": 10.0}


def test_after_the_acknowledgement_a_deadline_fails_the_visit_and_the_buffer_retries_it() -> None:
    """Concept: a worker's deadline shorter than its call fails every attempt: max_attempts abandonments, then
    failed (the payment was acknowledged), never completed."""
    res = Simulation(build_network(_worker_spec(0.1, 0.2)), seed=2).results()
    w = res.station("w")
    out = res.overall.outcomes
    assert out["completed"] == 0 and out["failed"] == res.overall.arrivals > 50
    assert w.abandoned == 3 * res.overall.arrivals
    assert w.recovered == 2 * res.overall.arrivals and w.exhausted == res.overall.arrivals
    assert res.overall.met_error == res.overall.arrivals


def test_a_deadline_longer_than_the_work_changes_nothing() -> None:
    """Concept: a deadline that never passes is invisible: the same results as without it (pure engine)."""
    with_it = Simulation(build_network(_worker_spec(0.3, 0.2)), seed=2, engine="pure").results().to_dict()
    spec = _worker_spec(0.3, 0.2)
    del spec["stations"][1]["deadline"]
    without = Simulation(build_network(spec), seed=2, engine="pure").results().to_dict()
    assert with_it == without


def test_nested_deadlines_the_earliest_wins() -> None:
    """Concept: an API with a 1 s deadline calling a gateway with a 0.3 s one: a 1.5 s call fails at the gateway's;
    with the gateway's at 5 s, the API's 1 s is the earliest and passes first."""
    spec = {"arrival": {"rate": 2.0},
            "stations": [
                {"name": "api", "servers": "inf", "service": {"dist": "deterministic", "mean": 0.0}, "deadline": 1.0},
                {"name": "gw", "servers": "inf", "service": {"dist": "deterministic", "mean": 1.5},
                 "deadline": 0.3}],
            "duration": 10.0, "drain": 5.0}
    res = Simulation(build_network(spec), seed=1).results()
    assert res.station("gw").abandoned == res.overall.arrivals > 0
    assert res.station("api").abandoned == 0
    spec["stations"][1]["deadline"] = 5.0
    res = Simulation(build_network(spec), seed=1).results()
    assert res.station("api").abandoned == res.overall.arrivals and res.station("gw").abandoned == 0


@pytest.mark.skipif(not fast.AVAILABLE, reason="the compiled engine is not built")
@pytest.mark.parametrize("case", ["cancel", "continue", "worker", "nested"])
def test_both_engines_give_the_same_deadlines_to_the_last_bit(case: str) -> None:
    if case in ("cancel", "continue"):
        spec = _spec(case)
        spec.update(duration=300.0)
    elif case == "worker":
        spec = _worker_spec(0.25, 0.2)
        spec["stations"][1]["service"] = {"dist": "exponential", "mean": 0.2}
        spec["stations"][1]["servers"] = 2
    else:
        spec = {"arrival": {"rate": 8.0},
                "stations": [
                    {"name": "api", "servers": 2, "service": {"dist": "exponential", "mean": 0.1}, "deadline": 1.0,
                     "on_deadline": "continue"},
                    {"name": "gw", "servers": 3, "service": {"dist": "exponential", "mean": 0.3}, "deadline": 0.5,
                     "errors": {"base": 0.05}, "capacity": 10}],
                "routing": [[0, 0.8], [0, 0]], "duration": 120.0, "drain": 5.0}
    net = build_network(spec)
    assert fast.supports(net)
    runs = []
    for engine in ("pure", "fast"):
        sim = Simulation(net, seed=11, engine=engine)
        runs.append(([snap.to_dict() for snap in sim.stream(0.9)], sim.results().to_dict()))
    assert runs[0] == runs[1]
    assert sum(st.get("abandoned", 0) for st in runs[0][1]["stations"]) > 0


@pytest.mark.parametrize(("station", "message"), [
    ({"deadline": 0}, r"stations\[0\]\.deadline: must be > 0"),
    ({"deadline": 1, "on_deadline": "drop"}, r"stations\[0\]\.on_deadline: must be 'cancel' or 'continue'"),
    ({"on_deadline": "cancel"}, r"stations\[0\]\.on_deadline: needs a deadline"),
    ({"kind": "buffer", "deadline": 1}, r"stations\[0\]\.deadline: not allowed on a buffer"),
])
def test_bad_deadline_fields_are_named(station: dict[str, Any], message: str) -> None:
    spec = {"arrival": {"rate": 1.0},
            "stations": [{"name": "s", "servers": 1, "service": {"dist": "exponential", "mean": 0.5}, **station}]}
    with pytest.raises(SpecError, match=message):
        build_network(spec)
