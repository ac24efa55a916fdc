"""The exact formulas against textbook values and against each other."""

from __future__ import annotations

import math

import pytest

from simulator import analytic, build_network
from simulator.model import ServiceTime


def test_mm1_textbook_values() -> None:
    m = analytic.mm1(0.5, 1.0)
    assert (m.W, m.Wq, m.L, m.Lq, m.prob_wait) == pytest.approx((2.0, 1.0, 1.0, 0.5, 0.5))
    assert m.sojourn_quantile(0.5) == pytest.approx(2.0 * math.log(2.0))  # W ~ Exp(mu - lambda)


def test_erlang_b_and_c_textbook_values() -> None:
    assert analytic.erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)
    assert analytic.erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_mmc_wait_distribution_is_consistent_with_its_mean() -> None:
    m = analytic.mmc(3.2, 1.0, 4)
    # E[Wq] = integral of P(Wq > t)
    dt = 1e-3
    integral = sum(m.wait_tail(i * dt) * dt for i in range(40_000))  # type: ignore[misc]
    assert integral == pytest.approx(m.Wq, rel=1e-3)
    assert m.wait_tail(0.0) == pytest.approx(m.prob_wait)  # type: ignore[misc]
    assert m.sojourn_tail(m.sojourn_quantile(0.9)) == pytest.approx(0.1)  # type: ignore[misc]


def test_mmck_with_k_equal_c_is_erlang_b_and_with_large_k_is_mmc() -> None:
    assert analytic.mmck(4.0, 1.0, 5, 5).blocking_prob == pytest.approx(analytic.erlang_b(5, 4.0))
    big, inf = analytic.mmck(3.2, 1.0, 4, 2_000), analytic.mmc(3.2, 1.0, 4)
    assert (big.W, big.prob_wait) == pytest.approx((inf.W, inf.prob_wait))


def test_mg1_with_exponential_service_is_mm1_and_md1_halves_the_wait() -> None:
    assert analytic.mg1(0.7, 1.0, 1.0).Wq == pytest.approx(analytic.mm1(0.7, 1.0).Wq)
    assert analytic.md1(0.7, 1.0).Wq == pytest.approx(analytic.mm1(0.7, 1.0).Wq / 2)


def test_jackson_tandem_sums_the_stations_and_solves_feedback() -> None:
    net = build_network({"arrival": {"rate": 1.0}, "stations": [
        {"name": "a", "servers": 1, "service": {"dist": "exponential", "mean": 0.4}},
        {"name": "b", "servers": 2, "service": {"dist": "exponential", "mean": 1.0}}],
        "routing": [[0, 0.7], [0.1, 0]]})
    res = analytic.jackson_network(net)
    lam_a = 1.0 / (1 - 0.07)
    assert res.arrival_rates == pytest.approx((lam_a, 0.7 * lam_a))
    assert res.W == pytest.approx(sum(v * m.W for v, m in zip(res.visits, res.stations, strict=False)))


@pytest.mark.parametrize("call", [
    lambda: analytic.mm1(1.0, 1.0),
    lambda: analytic.mmc(4.5, 1.0, 4),
    lambda: analytic.mg1(2.0, 0.6, 1.0),
    lambda: analytic.jackson([1.0], [[0]], [1.5], [1]),
])
def test_unstable_input_raises_a_clear_error(call) -> None:
    with pytest.raises(analytic.UnstableError, match="unstable"):
        call()


def test_loss_systems_accept_any_load() -> None:
    assert 0.5 < analytic.mmck(10.0, 1.0, 2, 4).blocking_prob < 1.0


def test_mmck_wait_tail_is_the_exact_mm12_tail_and_tends_to_mmc_for_large_k() -> None:
    # M/M/1/2: an admitted arrival waits only when it finds the one server busy, then Exp(mu).
    small = analytic.mmck(1.0, 0.5, 1, 2)
    p0, p1 = 1 / 1.75, 0.5 / 1.75
    assert small.wait_tail(0.3) == pytest.approx(p1 / (p0 + p1) * math.exp(-0.3 / 0.5))  # type: ignore[misc]
    assert analytic.mmck(4.0, 1.0, 5, 5).wait_tail(0.1) == 0.0  # type: ignore[misc]  # K = c: nobody waits
    big, inf = analytic.mmck(3.2, 1.0, 4, 400), analytic.mmc(3.2, 1.0, 4)
    assert big.wait_quantile(0.99) == pytest.approx(inf.wait_quantile(0.99), rel=1e-6)


@pytest.mark.parametrize("service, mean", [
    (ServiceTime("exponential", 0.2), 0.2),
    (ServiceTime("lognormal", 0.03, scv=0.5), 0.03),
    (ServiceTime("erlang", 0.4, scv=0.25, k=4), 0.4),
    (ServiceTime("jitter", 0.25, scv=0.0144, base=0.22), 0.25),
])
def test_service_cdf_integrates_to_the_distributions_mean(service, mean) -> None:
    # E[S] = integral of P(S > t): the CDF agrees with the sampler's parametrisation.
    dt = mean / 2000
    integral = sum((1 - analytic.service_cdf(service, (i + 0.5) * dt)) * dt for i in range(40_000))
    assert integral == pytest.approx(mean, rel=2e-3)
    assert analytic.service_cdf(service, 0.0) == 0.0
