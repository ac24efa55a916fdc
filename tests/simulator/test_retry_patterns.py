"""Retry jitter and a retry budget on a buffer's retry policy.

References: the jittered backoff's law exactly (uniform on [(1 - f) d, d], checked with a Kolmogorov-Smirnov bound);
the token bucket's bound exactly (retries <= burst + ratio x first arrivals, met within one token and one deposit
when every call fails)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from simulator import Simulation, SpecError, build_network

from .replication import ALPHA

BACKOFF = 0.8


def _spec(retry: dict[str, Any], p_error: float, rate: float = 40.0) -> dict[str, Any]:
    # A zero-time infinite-server call after an instant buffer: a completed request's sojourn is exactly the sum of
    # its backoffs, and a second attempt's success has sojourn = its one backoff.
    return {"arrival": {"rate": rate},
            "stations": [
                {"name": "q", "kind": "buffer", "servers": "inf", "acknowledge": True,
                 "retry": {"backoff": BACKOFF, "multiplier": 2.0, **retry}},
                {"name": "g", "servers": "inf", "service": {"dist": "deterministic", "mean": 0.0},
                 "errors": {"base": p_error}}],
            "duration": 200.0, "drain": 20.0}


def _ks_uniform(xs: np.ndarray, lo: float, hi: float) -> float:
    u = np.sort((xs - lo) / (hi - lo))
    n = u.size
    k = np.arange(1, n + 1)
    return float(max(np.max(k / n - u), np.max(u - (k - 1) / n)))


@pytest.mark.parametrize(("jitter", "f"), [("full", 1.0), (0.5, 0.5)])
def test_jittered_backoff_follows_its_uniform_law(jitter: str | float, f: float) -> None:
    """Concept: with jitter f the backoff d becomes d (1 - f U): uniform on [(1 - f) d, d]."""
    sim = Simulation(build_network(_spec({"max_attempts": 2, "jitter": jitter}, 0.5)), seed=5)
    res = sim.results()
    sojourns = np.concatenate([np.asarray(st.settle) for st in sim.stats])
    delays = sojourns[sojourns > 0]  # completed on the second attempt: exactly one backoff
    assert delays.size > 1500
    assert delays.min() >= (1 - f) * BACKOFF and delays.max() <= BACKOFF
    critical = math.sqrt(-math.log(ALPHA / 2) / 2) / math.sqrt(delays.size)  # KS at the suite's per-test level
    assert _ks_uniform(delays, (1 - f) * BACKOFF, BACKOFF) <= critical
    assert res.overall.retries == res.station("g").recovered


def test_without_jitter_the_backoff_is_exactly_the_policys() -> None:
    sim = Simulation(build_network(_spec({"max_attempts": 2}, 0.5)), seed=5)
    sim.results()
    sojourns = np.concatenate([np.asarray(st.settle) for st in sim.stats])
    delays = sojourns[sojourns > 1e-9]
    assert delays.size > 1500 and np.allclose(delays, BACKOFF, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("ratio", "burst"), [(0.1, 5.0), (0.02, 1.0), (0.5, 20.0)])
def test_the_retry_budget_holds_retries_to_its_bound(ratio: float, burst: float) -> None:
    """Concept: a token bucket refilled by first arrivals: retries <= burst + ratio x first arrivals, and when
    every call fails the bucket is always drained, so retries meet the bound within one token (plus the first
    arrival's deposit, which lands in the full bucket)."""
    spec = _spec({"max_attempts": 1000, "budget": {"ratio": ratio, "burst": burst}}, 1.0, rate=20.0)
    res = Simulation(build_network(spec), seed=3).results()
    q, g = res.station("q"), res.station("g")
    firsts = q.arrivals - res.overall.retries
    bound = burst + ratio * firsts
    assert bound - ratio - 1.0 < res.overall.retries <= bound
    # every request ends failed, each refused by the budget (none ran out of its 1000 attempts)
    assert res.overall.outcomes["failed"] == res.overall.arrivals == q.budget_refused == g.exhausted


def test_a_budget_that_is_never_short_changes_nothing() -> None:
    plain = _spec({"max_attempts": 3}, 0.01)
    budget = _spec({"max_attempts": 3, "budget": {"ratio": 1.0, "burst": 100}}, 0.01)
    a = Simulation(build_network(plain), seed=2, engine="pure").results().to_dict()
    b = Simulation(build_network(budget), seed=2, engine="pure").results().to_dict()
    assert a == b


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_a_budget_stops_a_retry_storm(engine: str) -> None:
    """Concept: without a budget a failing dependency sees max_attempts x the traffic; with one, ~1 + ratio x."""
    storm = _spec({"max_attempts": 5, "backoff": 0.05}, 1.0)
    capped = _spec({"max_attempts": 5, "backoff": 0.05, "budget": {"ratio": 0.1, "burst": 10}}, 1.0)
    load = [Simulation(build_network(s), seed=1, engine=engine).results().station("g").arrivals / 8000
            for s in (storm, capped)]
    assert load[0] == pytest.approx(5.0, rel=0.02)
    assert load[1] == pytest.approx(1.1, rel=0.02)


@pytest.mark.parametrize(("retry", "message"), [
    ({"jitter": 2}, r"retry\.jitter: must be <= 1"),
    ({"jitter": "half"}, r"retry\.jitter: must be a number"),
    ({"budget": {"burst": 3}}, r"retry\.budget\.ratio: required"),
    ({"budget": {"ratio": 0.1, "burst": 0.5}}, r"retry\.budget\.burst: must be >= 1"),
    ({"budget": {"ratio": 0.1, "cap": 1}}, r"retry\.budget\.cap: unknown field"),
])
def test_bad_retry_fields_are_named(retry: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=r"^stations\[0\]\." + message):
        build_network(_spec(retry, 0.1))
