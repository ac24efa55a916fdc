"""Error probabilities, the utilization-dependent error curve, timeouts and slowdown."""

from __future__ import annotations

import math
from typing import Any

import pytest

from simulator import ErrorCurve, Slowdown, Simulation, build_network, run
from tests.simulator.replication import z_quantile


def binomial_ok(successes: int, n: int, p: float) -> bool:
    """|k/n - p| within z standard errors of a binomial proportion."""
    return abs(successes / n - p) <= z_quantile() * math.sqrt(p * (1 - p) / n)


def test_error_curve_is_flat_to_the_threshold_then_rises_to_max() -> None:
    curve = ErrorCurve(base=0.001, threshold=0.8, max=0.5, power=2, window=5)
    assert curve.probability(0.0) == curve.probability(0.8) == 0.001
    assert curve.probability(0.9) == pytest.approx(0.001 + 0.499 * 0.25)
    assert curve.probability(1.0) == curve.probability(1.7) == 0.5, "u is capped at 1"


def test_slowdown_multiplier_grows_linearly_above_threshold() -> None:
    slow = Slowdown(threshold=0.5, factor=3.0)
    assert (slow.multiplier(0.5), slow.multiplier(0.75), slow.multiplier(1.0), slow.multiplier(2.0)) == (1, 2, 3, 3)


def station(**extra: Any) -> dict[str, Any]:
    return {"name": "s", "servers": 1, "service": {"dist": "exponential", "mean": 1.0}} | extra


def test_flat_base_error_rate_is_the_fraction_of_errored_visits() -> None:
    spec = {"arrival": {"rate": 0.5}, "stations": [station(errors={"base": 0.1})]}
    res = run(build_network(spec), seed=7, requests=20_000)
    s = res.station("s")
    assert binomial_ok(s.errors, s.completions, 0.1)
    assert res.overall.outcomes["error"] == s.errors and res.overall.error_rate == s.errors / 20_000


def test_below_the_threshold_only_the_base_rate_applies() -> None:
    """100 servers at 1 % load never reach 80 % busy over any window: errors stay at base."""
    spec = {"arrival": {"rate": 1.0}, "stations": [station(
        servers=100, errors={"base": 0.05, "threshold": 0.8, "max": 1.0, "window": 5.0})]}
    res = run(build_network(spec), seed=3, requests=20_000)
    assert binomial_ok(res.station("s").errors, 20_000, 0.05)


def test_a_saturated_station_errs_at_the_curve_maximum() -> None:
    """Arrivals at 5x capacity keep the single server busy all the time: windowed u = 1, so p = max."""
    spec = {"arrival": {"rate": 5.0}, "stations": [station(
        service={"dist": "deterministic", "mean": 1.0},
        errors={"base": 0.01, "threshold": 0.8, "max": 0.3, "power": 2, "window": 5.0})]}
    sim = Simulation(build_network(spec), seed=5, requests=6_000)
    res = sim.results()
    s = res.station("s")
    # only the completions in the first 5 s window (at most 5) can see u < 1: allow them on top of the binomial bound
    n = s.completions
    assert abs(s.errors - 0.3 * n) <= z_quantile() * math.sqrt(n * 0.3 * 0.7) + 5


def test_errors_rise_with_load_through_the_curve() -> None:
    def error_rate(rate: float) -> float:
        spec = {"arrival": {"rate": rate}, "stations": [station(
            servers=10, errors={"base": 0.001, "threshold": 0.8, "max": 0.5, "power": 2, "window": 5.0})]}
        res = run(build_network(spec), seed=2, requests=20_000)
        return res.station("s").errors / 20_000

    assert error_rate(5.0) < 0.01 < 0.05 < error_rate(9.5)


def test_timeout_errs_visits_whose_service_would_exceed_it() -> None:
    """Exp(1) service with a 0.5 s timeout: P(error) = e^-0.5, busy time per visit E[min(S, 0.5)] = 1 - e^-0.5."""
    n = 20_000
    spec = {"arrival": {"rate": 2.0}, "stations": [station(servers="inf", timeout=0.5)]}
    sim = Simulation(build_network(spec), seed=11, requests=n)
    m = sim.metrics()
    res = sim.results()
    assert binomial_ok(res.station("s").errors, n, math.exp(-0.5))
    assert m["s.W_p99"] == pytest.approx(0.5), "no visit lasts longer than the timeout"
    mean = 1 - math.exp(-0.5)
    second = 2 * (1 - 1.5 * math.exp(-0.5))  # E[min(S, a)^2] = 2 (1 - e^-a (1 + a))
    sd = math.sqrt(second - mean**2)
    assert abs(m["s.W_mean"] - mean) <= z_quantile() * sd / math.sqrt(n)  # type: ignore[operator]


def test_slowdown_stretches_service_when_the_station_is_saturated() -> None:
    """Deterministic 0.1 s service, saturated (u = 1 after the first window): every later service takes 0.3 s."""
    spec = {"arrival": {"rate": 50.0}, "stations": [station(
        service={"dist": "deterministic", "mean": 0.1}, slowdown={"threshold": 0.5, "factor": 3.0, "window": 1.0})]}
    sim = Simulation(build_network(spec), seed=1, requests=2_000, warmup=100)
    m = sim.metrics()
    service = m["s.W_mean"] - m["s.Wq_mean"]  # type: ignore[operator]
    assert service == pytest.approx(0.3, rel=1e-6)
