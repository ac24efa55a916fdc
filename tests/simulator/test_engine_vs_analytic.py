"""The engine against exact queueing theory, one model family per test.

Tolerances: t x SE over R replications (see replication.py, t ~ 6-7 for R = 12). The `slow` variants (make validate)
rerun every family with 3x the replications and 4x the requests, so the same tolerance is ~3.5x tighter.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from simulator import analytic, build_network
from tests.simulator.replication import assert_agrees, estimate, replicate

SCALES = [pytest.param((16, 1), id="fast"), pytest.param((36, 4), id="validate", marks=pytest.mark.slow)]


@pytest.fixture(params=SCALES)
def scale(request: pytest.FixtureRequest) -> tuple[int, int]:
    return request.param  # (replications, request multiplier)


def one_queue(rate: float, servers: int | str, service: dict[str, Any], capacity: int | None = None) -> dict[str, Any]:
    station: dict[str, Any] = {"name": "q", "servers": servers, "service": service}
    if capacity is not None:
        station["capacity"] = capacity
    return {"arrival": {"dist": "poisson", "rate": rate}, "stations": [station]}


def exp(mean: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean": mean}


def test_mm1_light_load_matches_theory(scale: tuple[int, int]) -> None:
    """M/M/1 at rho = 0.3: mean wait and sojourn, P(wait), utilization, sojourn percentiles."""
    reps, k = scale
    runs = replicate(one_queue(0.3, 1, exp(1.0)), requests=10_000 * k, warmup=500, replications=reps)
    exact = analytic.mm1(0.3, 1.0)
    assert_agrees(runs, "q.W_mean", exact.W)
    assert_agrees(runs, "q.Wq_mean", exact.Wq)
    assert_agrees(runs, "q.prob_wait", exact.prob_wait)
    assert_agrees(runs, "q.utilization", exact.utilization)
    assert_agrees(runs, "q.W_p95", exact.sojourn_quantile(0.95))


def test_mm1_heavy_load_matches_theory(scale: tuple[int, int]) -> None:
    """M/M/1 at rho = 0.9: the long, correlated busy periods still average to 1/(mu - lambda)."""
    reps, k = scale
    runs = replicate(one_queue(0.9, 1, exp(1.0)), requests=40_000 * k, warmup=4_000, replications=reps)
    exact = analytic.mm1(0.9, 1.0)
    assert_agrees(runs, "q.W_mean", exact.W)
    assert_agrees(runs, "q.W_p50", exact.sojourn_quantile(0.5))
    assert_agrees(runs, "q.utilization", 0.9)


def test_mmc_matches_erlang_c(scale: tuple[int, int]) -> None:
    """M/M/4 at rho = 0.8: Erlang C waiting probability, mean wait, wait tail and sojourn percentile."""
    reps, k = scale
    runs = replicate(one_queue(3.2, 4, exp(1.0)), requests=20_000 * k, warmup=2_000, replications=reps,
                     wait_over=(0.5,))
    exact = analytic.mmc(3.2, 1.0, 4)
    assert_agrees(runs, "q.prob_wait", exact.prob_wait)
    assert_agrees(runs, "q.Wq_mean", exact.Wq)
    assert_agrees(runs, "q.P_Wq_gt_0.5", exact.wait_tail(0.5))  # type: ignore[misc]
    assert_agrees(runs, "q.W_p99", exact.sojourn_quantile(0.99))
    assert_agrees(runs, "q.Wq_p95", exact.wait_quantile(0.95))


def test_mmck_loses_requests_at_the_theoretical_rate(scale: tuple[int, int]) -> None:
    """M/M/2/5 at offered load 1.8: blocking probability, mean sojourn of admitted requests, throughput."""
    reps, k = scale
    runs = replicate(one_queue(1.8, 2, exp(1.0), capacity=5), requests=20_000 * k, warmup=500, replications=reps)
    exact = analytic.mmck(1.8, 1.0, 2, 5)
    assert_agrees(runs, "q.blocking_prob", exact.blocking_prob)
    assert_agrees(runs, "q.W_mean", exact.W)
    assert_agrees(runs, "q.Wq_mean", exact.Wq)
    assert_agrees(runs, "q.utilization", exact.utilization)


def test_mmck_under_overload_stays_stable_and_blocks(scale: tuple[int, int]) -> None:
    """M/M/2/6 at rho = 1.5: a finite buffer keeps an overloaded queue stable; blocking and sojourn match."""
    reps, k = scale
    runs = replicate(one_queue(3.0, 2, exp(1.0), capacity=6), requests=20_000 * k, warmup=500, replications=reps)
    exact = analytic.mmck(3.0, 1.0, 2, 6)
    assert_agrees(runs, "q.blocking_prob", exact.blocking_prob)
    assert_agrees(runs, "q.W_mean", exact.W)
    assert_agrees(runs, "q.throughput", exact.throughput)


@pytest.mark.parametrize("service", [exp(1.0), {"dist": "lognormal", "mean": 1.0, "scv": 3.0}],
                         ids=["exponential", "lognormal"])
def test_loss_system_blocking_is_erlang_b(scale: tuple[int, int], service: dict[str, Any]) -> None:
    """M/G/5/5 at offered load 4: Erlang B, insensitive to the service distribution."""
    reps, k = scale
    runs = replicate(one_queue(4.0, 5, service, capacity=5), requests=20_000 * k, warmup=200, replications=reps)
    assert_agrees(runs, "q.blocking_prob", analytic.erlang_b(5, 4.0))
    est = estimate(runs, "q.prob_wait")
    assert est.mean == 0.0, "in a loss system nobody waits"


def test_md1_wait_is_half_of_mm1(scale: tuple[int, int]) -> None:
    """M/D/1 at rho = 0.7: Pollaczek-Khinchine with zero variance; W - Wq is exactly the service time."""
    reps, k = scale
    runs = replicate(one_queue(0.7, 1, {"dist": "deterministic", "mean": 1.0}), requests=20_000 * k, warmup=1_000,
                     replications=reps)
    exact = analytic.md1(0.7, 1.0)
    assert_agrees(runs, "q.Wq_mean", exact.Wq)
    for r in runs:
        assert r["q.W_mean"] - r["q.Wq_mean"] == pytest.approx(1.0, rel=1e-9)  # type: ignore[operator]


@pytest.mark.parametrize("service", [
    {"dist": "lognormal", "mean": 1.0, "scv": 2.0},
    {"dist": "erlang", "mean": 1.0, "k": 3},
    {"dist": "jitter", "base": 0.6, "mean_jitter": 0.4},
], ids=["lognormal", "erlang3", "jitter"])
def test_mg1_matches_pollaczek_khinchine(scale: tuple[int, int], service: dict[str, Any]) -> None:
    """M/G/1 at rho = 0.6: mean wait rho (1 + scv) E[S] / (2 (1 - rho)) for each service distribution."""
    reps, k = scale

    st = build_network(one_queue(0.6, 1, service)).stations[0].service
    runs = replicate(one_queue(0.6, 1, service), requests=20_000 * k, warmup=1_000, replications=reps)
    exact = analytic.mg1(0.6, st.mean, st.scv)
    assert_agrees(runs, "q.Wq_mean", exact.Wq)
    assert_agrees(runs, "q.W_mean", exact.W)


def test_tandem_is_a_jackson_network(scale: tuple[int, int]) -> None:
    """M/M/1 -> M/M/3 -> M/M/2 in tandem: each station is M/M/c at the source rate; e2e mean is the sum."""
    reps, k = scale
    spec = {"arrival": {"rate": 2.0}, "stations": [
        {"name": "a", "servers": 1, "service": exp(0.3)},
        {"name": "b", "servers": 3, "service": exp(1.2)},
        {"name": "c", "servers": 2, "service": exp(0.7)}]}
    runs = replicate(spec, requests=20_000 * k, warmup=1_000, replications=reps)
    exact = analytic.jackson([2.0, 0, 0], [[0, 1, 0], [0, 0, 1], [0, 0, 0]], [0.3, 1.2, 0.7], [1, 3, 2])
    for name, m in zip("abc", exact.stations, strict=False):
        assert_agrees(runs, f"{name}.W_mean", m.W)
    assert_agrees(runs, "e2e.W_mean", exact.W)
    assert_agrees(runs, "c.throughput", 2.0)


def test_infinite_servers_are_a_pure_delay(scale: tuple[int, int]) -> None:
    """M/M/inf: nobody waits, sojourn = service: mean and the exponential's 90th percentile."""
    reps, k = scale
    runs = replicate(one_queue(50.0, "inf", exp(2.0)), requests=20_000 * k, warmup=500, replications=reps,
                     percentiles=(90,))
    assert_agrees(runs, "q.W_mean", 2.0)
    assert_agrees(runs, "q.W_p90", -2.0 * math.log(0.1))
    assert all(r["q.prob_wait"] == 0.0 for r in runs)
    assert all("q.utilization" not in r for r in runs), "no utilization for infinite servers"


def test_probabilistic_early_exit_splits_traffic_and_sojourn(scale: tuple[int, int]) -> None:
    """30 % leave after the first station, 70 % go on; with feedback 10 % of b's output revisits a (Jackson)."""
    reps, k = scale
    spec = {"arrival": {"rate": 1.0}, "stations": [
        {"name": "a", "servers": 1, "service": exp(0.4)},
        {"name": "b", "servers": 2, "service": exp(1.0)}],
        "routing": [[0, 0.7], [0.1, 0]]}
    runs = replicate(spec, requests=20_000 * k, warmup=1_000, replications=reps)
    routing = [[0, 0.7], [0.1, 0]]
    exact = analytic.jackson([1.0, 0.0], routing, [0.4, 1.0], [1, 2])
    assert_agrees(runs, "a.arrival_rate", exact.arrival_rates[0])
    assert_agrees(runs, "b.arrival_rate", exact.arrival_rates[1])
    assert_agrees(runs, "a.W_mean", exact.stations[0].W)
    assert_agrees(runs, "e2e.W_mean", exact.W)
    # a request leaves from a with probability 0.3 per visit; overall exits from a: 0.3 * visits to a
    assert_agrees(runs, "e2e.frac_exit_a", 0.3 * exact.visits[0])


def test_harness_detects_a_ten_percent_error() -> None:
    """The tolerance is not so wide that it accepts anything: a 10 % wrong M/M/4 sojourn fails (tolerance ~5 %)."""
    runs = replicate(one_queue(3.2, 4, exp(1.0)), requests=20_000, warmup=2_000, replications=16)
    exact = analytic.mmc(3.2, 1.0, 4).W
    est = estimate(runs, "q.W_mean")
    assert est.agrees_with(exact)
    assert not est.agrees_with(exact * 1.10), est.explain(exact * 1.10)
    assert not est.agrees_with(exact * 0.90), est.explain(exact * 0.90)
