"""What a request must pass to be done (complete_through), the caller's deadline, the time a queue write takes,
and requests that met an error anywhere — each against an exact count or law."""

from __future__ import annotations

import math
from statistics import fmean, stdev
from typing import Any

import pytest

from simulator import SpecError, Simulation, build_network
from tests.simulator.replication import t_quantile, z_quantile

Z = z_quantile()


def det(mean: float) -> dict[str, Any]:
    return {"dist": "deterministic", "mean": mean}


def _binomial_ok(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= Z * math.sqrt(n * p * (1 - p)) + 1


def _source(results, name: str = "arrivals"):
    return next(s for s in results.sources if s.name == name)


def test_a_request_that_leaves_before_its_steps_is_unsettled_and_counted_where_it_left() -> None:
    """Half of A's output skips B: every one of those is lost (dropped), by exit station; none is completed."""
    spec = {"arrival": {"rate": 50.0, "complete_through": [["b"]]},
            "stations": [{"name": "a", "servers": "inf", "service": det(0.01)},
                         {"name": "b", "servers": "inf", "service": det(0.01)}],
            "routing": [[0, 0.5], [0, 0]], "duration": 200.0, "drain": 5.0}
    res = Simulation(build_network(spec), seed=3).results()
    src = _source(res)
    assert src.unsettled == src.leaks["a"][0] == src.outcomes["dropped"]
    assert src.outcomes["completed"] + src.unsettled == src.arrivals
    assert _binomial_ok(src.unsettled, src.arrivals, 0.5)
    assert src.outcomes["completed"] == res.station("b").completions, "every completed request passed b"


def test_steps_count_only_in_order() -> None:
    """Route b → a with steps [a], [b]: b comes first, so no request completes; each leaves a having passed one step."""
    spec = {"arrival": {"rate": 20.0, "complete_through": [["a"], ["b"]], "entry": "b"},
            "stations": [{"name": "a", "servers": "inf", "service": det(0.01)},
                         {"name": "b", "servers": "inf", "service": det(0.01)}],
            "routing": [[0, 0], [1, 0]], "duration": 50.0, "drain": 5.0}
    src = _source(Simulation(build_network(spec), seed=1).results())
    assert src.outcomes["completed"] == 0
    assert src.leaks == {"a": [0, src.arrivals]}


def test_deadline_gives_up_exactly_the_requests_that_mm1_says_wait_longer() -> None:
    """M/M/1 sojourn is Exp(μ − λ): P(W > d) = e^{-(μ−λ)d}. Those requests are errors with accept latency d; the
    work is still done (the server does not know its caller left), so the queue is the M/M/1 one."""
    lam, mu, d = 5.0, 10.0, 0.3
    shares = []
    for seed in range(1, 11):
        spec = {"arrival": {"rate": lam, "deadline": d},
                "stations": [{"name": "s", "servers": 1, "service": {"dist": "exponential", "mean": 1 / mu}}],
                "duration": 2000.0, "drain": 50.0}
        sim = Simulation(build_network(spec), seed=seed)
        res = sim.results()
        src = _source(res)
        assert src.outcomes["error"] == src.timeouts
        assert src.accept.max == pytest.approx(d), "a caller that gave up waited exactly its deadline"
        shares.append(src.timeouts / src.arrivals)
    exact = math.exp(-(mu - lam) * d)
    assert abs(fmean(shares) - exact) <= t_quantile(len(shares) - 1) * stdev(shares) / math.sqrt(len(shares))


def test_a_queue_write_takes_its_time_before_the_acknowledgement_and_may_fail() -> None:
    spec = {"arrival": {"rate": 100.0},
            "stations": [{"name": "q", "kind": "buffer", "servers": 50, "acknowledge": True,
                          "enqueue": det(0.003), "enqueue_error": 0.01, "capacity": 1000},
                         {"name": "w", "servers": 50, "service": det(0.1)}],
            "duration": 300.0, "drain": 5.0}
    res = Simulation(build_network(spec), seed=5).results()
    src = _source(res)
    assert src.accept.p50 == pytest.approx(0.003) and src.accept.max == pytest.approx(0.003)
    assert src.outcomes["error"] == res.station("q").errors
    assert _binomial_ok(src.outcomes["error"], src.arrivals, 0.01)


def test_a_request_whose_failed_call_was_retried_still_met_an_error() -> None:
    """Every attempt fails with p independently; with unlimited-enough attempts all complete, and the share that met
    an error is the share whose first attempt failed: p."""
    p = 0.05
    spec = {"arrival": {"rate": 50.0},
            "stations": [{"name": "q", "kind": "buffer", "servers": 100, "acknowledge": True,
                          "retry": {"max_attempts": 20, "backoff": 0.01}},
                         {"name": "g", "servers": 100, "service": det(0.05), "errors": {"base": p}}],
            "duration": 600.0, "drain": 30.0}
    src = _source(Simulation(build_network(spec), seed=2).results())
    assert src.outcomes["failed"] == 0 and src.outcomes["error"] == 0
    assert src.met_error > 0 and _binomial_ok(src.met_error, src.arrivals, p)


def test_the_builder_refuses_bad_steps_and_deadlines() -> None:
    base = {"stations": [{"name": "a", "servers": 1, "service": det(0.1)}], "duration": 10.0}
    with pytest.raises(SpecError, match=r"arrival.complete_through\[0\]: unknown station 'nope'"):
        build_network({**base, "arrival": {"rate": 1.0, "complete_through": [["nope"]]}})
    with pytest.raises(SpecError, match=r"arrival.deadline: must be > 0"):
        build_network({**base, "arrival": {"rate": 1.0, "deadline": 0}})
    with pytest.raises(SpecError, match=r"stations\[0\].enqueue: only allowed on kind 'buffer'"):
        build_network({**base, "arrival": {"rate": 1.0},
                       "stations": [{"name": "a", "servers": 1, "service": det(0.1), "enqueue": det(0.01)}]})
