"""Several sources at once, each with its entry station and optionally its own routing."""

from __future__ import annotations

from simulator import build_network, run
from simulator.bench import clearpay_spec
from tests.simulator.replication import z_quantile


def test_each_source_follows_its_own_routing_and_is_reported_separately() -> None:
    res = run(build_network(clearpay_spec(duration=60.0, status=True)), seed=2)
    checkout, status = res.sources
    assert (checkout.name, status.name) == ("checkout", "status")
    assert res.station("api").arrivals == checkout.arrivals, "status reads never touch the payment API"
    assert res.station("status_api").arrivals == status.arrivals
    assert status.settle.count == 0 and status.outcomes["settled"] == 0, "reads are never acknowledged"
    assert checkout.settle.count > 0
    assert res.overall.arrivals == checkout.arrivals + status.arrivals
    # 20 % of the reads that leave the status API go on to the ledger (binomial)
    gateway = res.station("gateway")
    reads_to_ledger = res.station("ledger").arrivals - (gateway.completions - gateway.errors)
    n = res.station("status_api").completions
    assert abs(reads_to_ledger - 0.2 * n) <= z_quantile() * (n * 0.2 * 0.8) ** 0.5
