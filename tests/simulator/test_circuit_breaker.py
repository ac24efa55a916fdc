"""A circuit breaker on a buffer's consumers: it opens at a failure share over a sliding window (with a minimum of
calls), fails calls fast while open (never reaching the dependency, still an error of the request), then lets
probes through half-open.

Reference: an independent plain-Python DES written here (Poisson calls of constant duration to a dependency that
fails each with probability p, and the breaker's rules as `simulator.model.Breaker` states them), compared on the
share of calls failed fast and on the rate of openings, with tolerances from the replications of both."""

from __future__ import annotations

import math
import random
from collections import deque
from statistics import fmean, stdev
from typing import Any

import pytest

from simulator import Simulation, SpecError, build_network
from simulator.engine import fast

from .replication import t_quantile

LAM, TAU, P = 20.0, 0.1, 0.25
BREAKER = {"failure_rate": 0.3, "window": 5.0, "min_calls": 20, "open_for": 2.0, "probes": 3}
DURATION, R = 600.0, 30


def _spec(p: float = P, breaker: dict[str, Any] | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"name": "q", "kind": "buffer", "servers": "inf"}
    if breaker is not False:
        q["breaker"] = breaker or BREAKER
    return {"arrival": {"rate": LAM},
            "stations": [q, {"name": "g", "servers": "inf", "service": {"dist": "deterministic", "mean": TAU},
                             "errors": {"base": p}}],
            "duration": DURATION, "drain": 1.0}


def reference(seed: int) -> tuple[float, float]:
    """(share of calls failed fast, openings per second) of the same system, simulated independently."""
    rng = random.Random(seed)
    b = BREAKER
    state, until, probes_started, probes_ok = "closed", 0.0, 0, 0
    window: deque[tuple[float, bool]] = deque()
    fails = opened = short = arrivals = 0
    pending: deque[float] = deque()  # completion times of calls in flight (constant duration: FIFO)

    def trip(now: float) -> None:
        nonlocal state, until, opened, fails
        state, until, opened, fails = "open", now + b["open_for"], opened + 1, 0
        window.clear()

    def outcome(now: float, failed: bool) -> None:
        nonlocal fails, probes_ok, state
        if state == "open":
            return
        if state == "half":
            if failed:
                trip(now)
            else:
                probes_ok += 1
                if probes_ok >= b["probes"]:
                    state = "closed"
            return
        window.append((now, failed))
        fails += failed
        while window[0][0] < now - b["window"]:
            fails -= window.popleft()[1]
        if failed and len(window) >= b["min_calls"] and fails >= b["failure_rate"] * len(window):
            trip(now)

    t = 0.0
    while True:
        t += rng.expovariate(LAM)
        while pending and pending[0] <= t:
            outcome(pending.popleft(), rng.random() < P)
        if t > DURATION:
            break
        arrivals += 1
        if state == "open" and t >= until:
            state, probes_started, probes_ok = "half", 0, 0
        if state == "open" or (state == "half" and probes_started >= b["probes"]):
            short += 1
            continue
        if state == "half":
            probes_started += 1
        pending.append(t + TAU)
    return short / arrivals, opened / DURATION


def _engine(seed: int) -> tuple[float, float]:
    res = Simulation(build_network(_spec()), seed=seed).results()
    q = res.station("q")
    return q.short_circuited / q.arrivals, q.breaker_opened / DURATION


def test_the_breaker_matches_an_independent_reference_des() -> None:
    """Concept: a breaker's open share and opening rate follow from its rules and the dependency's failures."""
    ours = [_engine(seed) for seed in range(1, R + 1)]
    theirs = [reference(seed) for seed in range(1001, 1001 + R)]
    for k, what in enumerate(("share failed fast", "openings per second")):
        a, b = [x[k] for x in ours], [x[k] for x in theirs]
        se = math.sqrt(stdev(a) ** 2 / R + stdev(b) ** 2 / R)
        assert abs(fmean(a) - fmean(b)) <= t_quantile(R - 1) * se, f"{what}: {fmean(a):.5f} vs {fmean(b):.5f}"
        assert fmean(a) > 0  # the case exercises the breaker


def test_a_fast_fail_never_reaches_the_dependency_and_is_still_an_error() -> None:
    """Concept: failing fast spares the dependency, not the payment: every request still met its error."""
    res = Simulation(build_network(_spec(p=1.0)), seed=2).results()
    q, g = res.station("q"), res.station("g")
    assert q.breaker_opened > 10 and q.short_circuited > 0.8 * q.arrivals
    assert g.arrivals + q.short_circuited == q.arrivals
    assert res.overall.outcomes["error"] == res.overall.met_error == res.overall.arrivals


def test_a_breaker_that_never_trips_changes_nothing() -> None:
    with_it = Simulation(build_network(_spec(p=0.0)), seed=3, engine="pure").results().to_dict()
    without = Simulation(build_network(_spec(p=0.0, breaker=False)), seed=3, engine="pure").results().to_dict()
    assert with_it == without


def test_fast_fails_go_through_the_retry_policy() -> None:
    spec = _spec(p=1.0)
    spec["stations"][0]["retry"] = {"max_attempts": 3, "backoff": 0.5}
    spec["stations"][0]["acknowledge"] = True
    res = Simulation(build_network(spec), seed=2).results()
    q = res.station("q")
    assert q.recovered + q.exhausted > 0  # the buffer's own failed visits (its fast fails) were retried
    assert res.overall.outcomes["failed"] == res.overall.arrivals - res.overall.unfinished


def _retrying(p: float) -> dict[str, Any]:
    spec = _spec(p=p)
    spec["stations"][0].update(retry={"max_attempts": 3, "backoff": 0.5, "jitter": "full"}, acknowledge=True,
                               servers=30, capacity=2000)
    return spec


@pytest.mark.skipif(not fast.AVAILABLE, reason="the compiled engine is not built")
@pytest.mark.parametrize("spec", [_spec(), _retrying(1.0), _retrying(0.3)])
def test_both_engines_give_the_same_breaker_to_the_last_bit(spec: dict[str, Any]) -> None:
    net = build_network(spec)
    assert fast.supports(net)
    runs = []
    for engine in ("pure", "fast"):
        sim = Simulation(net, seed=5, engine=engine)
        runs.append(([snap.to_dict() for snap in sim.stream(0.7)], sim.results().to_dict()))
    assert runs[0] == runs[1] and runs[0][1]["stations"][0]["breaker_opened"] > 0


@pytest.mark.parametrize(("where", "breaker", "message"), [
    (0, {"failure_rate": 0}, r"stations\[0\]\.breaker\.failure_rate: must be > 0"),
    (0, {"min_calls": 0}, r"stations\[0\]\.breaker\.min_calls: must be >= 1"),
    (0, {"probes": 1.5}, r"stations\[0\]\.breaker\.probes: must be an integer"),
    (0, {"half": 1}, r"stations\[0\]\.breaker\.half: unknown field"),
    (1, {}, r"stations\[1\]\.breaker: only allowed on kind 'buffer'"),
])
def test_bad_breaker_fields_are_named(where: int, breaker: dict[str, Any], message: str) -> None:
    spec = _spec(breaker=False)
    spec["stations"][where]["breaker"] = breaker
    with pytest.raises(SpecError, match=message):
        build_network(spec)
