"""Buffers, acknowledgement, retries and outcomes (the async boundary and the recovery buffer)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from simulator import Simulation, build_network, run
from tests.simulator.replication import z_quantile


def det(mean: float) -> dict[str, Any]:
    return {"dist": "deterministic", "mean": mean}


def consumers_spec(consumers: int | None, *, rate: float = 20.0, duration: float = 60.0) -> dict[str, Any]:
    """source -> [buffer with `consumers`] -> a wide downstream station (100 servers, 1 s)."""
    stations: list[dict[str, Any]] = [{"name": "down", "servers": 100, "service": det(1.0)}]
    if consumers is not None:
        stations.insert(0, {"name": "q", "kind": "buffer", "servers": consumers})
    return {"arrival": {"rate": rate}, "stations": stations, "duration": duration, "drain": 0.0}


def test_consumer_slot_is_held_downstream_so_the_buffer_bounds_downstream_concurrency() -> None:
    sim = Simulation(build_network(consumers_spec(3)), seed=4)
    in_flight = [snap.stations[1].in_flight for snap in sim.stream(step=0.5)]
    assert max(in_flight) == 3, "never more calls in flight downstream than consumers"
    assert in_flight.count(3) > len(in_flight) // 2, "and the consumers are kept busy"
    res = sim.results()
    assert res.station("q").utilization == pytest.approx(res.station("down").mean_in_service / 3, rel=1e-9)
    assert res.station("q").max_queue > 100, "20/s against 3 consumers of 1 s backs up in the buffer"


def test_without_a_buffer_the_same_traffic_reaches_far_more_concurrency() -> None:
    sim = Simulation(build_network(consumers_spec(None)), seed=4)
    assert max(snap.stations[0].in_flight for snap in sim.stream(step=0.5)) > 10


def retry_spec(error: float, attempts: int, *, capacity: int | None = None, backoff: float = 0.1,
               ack: bool = True) -> dict[str, Any]:
    buffer: dict[str, Any] = {"name": "q", "kind": "buffer", "servers": 5, "acknowledge": ack,
                              "retry": {"max_attempts": attempts, "backoff": backoff, "multiplier": 2.0}}
    if capacity is not None:
        buffer["capacity"] = capacity
    return {"arrival": {"rate": 10.0}, "stations": [
        {"name": "api", "servers": "inf", "service": det(0.01)},
        buffer,
        {"name": "gw", "servers": 50, "service": {"dist": "exponential", "mean": 0.05}, "errors": {"base": error}}]}


def test_retries_recover_downstream_errors_and_count_as_retries_not_failures() -> None:
    """Errors p = 0.2 per call with 12 attempts: failing all 12 has probability 4e-9, so nothing fails."""
    n, p = 20_000, 0.2
    res = run(build_network(retry_spec(p, 12)), seed=3, requests=n)
    o = res.overall.outcomes
    assert o["settled"] == o["completed"] == n and o["failed"] == o["error"] == o["dropped"] == 0
    # calls per request are geometric: retries per request have mean p/(1-p) and variance p/(1-p)^2
    mean, sd = p / (1 - p), math.sqrt(p) / (1 - p)
    assert abs(res.overall.retries / n - mean) <= z_quantile() * sd / math.sqrt(n)
    assert res.station("gw").errors == res.overall.retries
    assert res.overall.error_rate == 0.0


def test_out_of_retries_an_acknowledged_request_fails() -> None:
    res = run(build_network(retry_spec(1.0, 3)), seed=1, requests=500)
    o = res.overall.outcomes
    assert o["failed"] == 500 and o["completed"] == o["error"] == 0
    assert res.overall.retries == 2 * 500, "max_attempts 3 = the first call and two retries"
    assert res.overall.error_rate == 1.0
    assert res.overall.accept.count == 500 and res.overall.settle.count == 0


def test_out_of_retries_before_acknowledgement_is_an_error() -> None:
    res = run(build_network(retry_spec(1.0, 2, ack=False)), seed=1, requests=200)
    assert res.overall.outcomes["error"] == 200 and res.overall.outcomes["failed"] == 0


def test_backoff_grows_geometrically() -> None:
    """One request, always failing, 4 attempts, backoff 0.1 x 2^(n-1): retries after 0.1, 0.2 and 0.4 s."""
    spec = retry_spec(1.0, 4)
    spec["stations"][2]["service"] = det(0.05)
    sim = Simulation(build_network(spec), seed=1, requests=1)
    res = sim.results()
    assert sim.window is not None
    arrival = sim.window[0]
    # api 0.01, then 4 calls of 0.05 separated by backoffs of 0.1, 0.2 and 0.4
    assert res.end_time - arrival == pytest.approx(0.01 + 4 * 0.05 + 0.1 + 0.2 + 0.4, abs=1e-9)
    assert res.overall.retries == 3 and res.overall.outcomes["failed"] == 1


def test_a_full_buffer_on_retry_drops_the_request() -> None:
    """Capacity 5 and 5 consumers, calls always fail: re-entries find the buffer full whenever 5 are in it."""
    res = run(build_network(retry_spec(1.0, 10, capacity=5, backoff=0.01)), seed=2, requests=3_000)
    o = res.overall.outcomes
    assert o["dropped"] > 0 and o["failed"] > 0
    assert o["completed"] == 0
    # a first arrival finding it full was never acknowledged (error); a re-entry finding it full is dropped
    assert o["error"] + o["dropped"] == res.station("q").rejected
    assert sum(o[k] for k in ("completed", "error", "failed", "dropped")) == 3_000


def test_rejection_by_a_full_buffer_before_acknowledgement_is_an_error() -> None:
    spec = {"arrival": {"rate": 50.0}, "stations": [
        {"name": "q", "kind": "buffer", "servers": 1, "capacity": 2},
        {"name": "slow", "servers": 1, "service": det(1.0)}]}
    res = run(build_network(spec), seed=1, requests=300)
    o = res.overall.outcomes
    assert o["error"] == res.station("q").rejected > 0 and o["dropped"] == 0


def ack_spec(ack: bool) -> dict[str, Any]:
    return {"arrival": {"rate": 2.0}, "stations": [
        {"name": "api", "servers": "inf", "service": det(0.01)},
        {"name": "q", "kind": "buffer", "servers": "inf", "acknowledge": ack},
        {"name": "worker", "servers": "inf", "service": det(0.5)}]}


def test_accept_latency_ends_at_the_acknowledging_buffer_and_settlement_at_completion() -> None:
    res = run(build_network(ack_spec(True)), seed=1, requests=1_000)
    acc, sett = res.overall.accept, res.overall.settle
    assert acc.count == sett.count == 1_000
    assert (acc.p50, acc.max) == pytest.approx((0.01, 0.01)) and (sett.p50, sett.max) == pytest.approx((0.51, 0.51))
    assert res.overall.outcomes["settled"] == 1_000


def test_without_acknowledgement_accept_latency_is_the_synchronous_sojourn() -> None:
    res = run(build_network(ack_spec(False)), seed=1, requests=1_000)
    assert res.overall.accept.max == pytest.approx(0.51) and res.overall.settle.count == 0
    assert res.overall.outcomes["settled"] == 0 and res.overall.outcomes["completed"] == 1_000


def test_rejection_before_acknowledgement_is_an_error_outcome() -> None:
    spec = {"arrival": {"rate": 5.0}, "stations": [{"name": "a", "servers": 1, "capacity": 1, "service": det(1.0)}]}
    res = run(build_network(spec), seed=1, requests=1_000)
    assert res.overall.outcomes["error"] == res.station("a").rejected > 500
    assert res.overall.error_rate == res.overall.outcomes["error"] / 1_000


def test_unfinished_at_the_horizon_counts_acknowledged_as_dropped_and_others_as_error() -> None:
    spec = {"arrival": {"rate": 5.0}, "duration": 10.0, "drain": 0.0, "stations": [
        {"name": "gate", "servers": 1, "service": det(0.3)},
        {"name": "q", "kind": "buffer", "servers": 1, "acknowledge": True},
        {"name": "slow", "servers": "inf", "service": det(100.0)}]}
    res = run(build_network(spec), seed=1)
    o, arrivals = res.overall.outcomes, res.overall.arrivals
    assert res.end_time == 10.0
    assert o["completed"] == 0 and o["dropped"] == res.station("q").arrivals
    assert o["error"] == arrivals - o["dropped"] > 0, "the gate (3.3/s) cannot keep up with 5/s"
    assert res.overall.unfinished == arrivals


def test_cost_is_instances_times_unit_cost_per_hour_over_the_run() -> None:
    spec = {"arrival": {"rate": 1.0}, "duration": 1800.0, "stations": [
        {"name": "a", "service": det(0.1), "instances": 3, "unit_cost": 0.5},
        {"name": "b", "service": det(0.1), "instances": 2, "unit_cost": 0.25}]}
    res = run(build_network(spec), seed=1, step=60.0)
    # the run ends with its last request, a few seconds before or after the 1800 s of traffic
    assert abs(res.end_time - 1800.0) < 10.0
    assert res.cost_per_hour_peak == 2.0 and res.cost_total == pytest.approx(2.0 * res.end_time / 3600.0)
    assert res.time_series[-1]["cost_so_far"] == pytest.approx(res.cost_total)
    assert all(row["cost_per_hour"] == 2.0 for row in res.time_series)


def test_a_full_acknowledging_buffer_drops_what_it_already_acknowledged() -> None:
    """The caller is answered as the message reaches the queue; if the queue is full the message is lost."""
    spec = {"arrival": {"rate": 50.0}, "stations": [
        {"name": "q", "kind": "buffer", "servers": 1, "capacity": 2, "acknowledge": True},
        {"name": "slow", "servers": 1, "service": det(1.0)}]}
    res = run(build_network(spec), seed=1, requests=300)
    o = res.overall.outcomes
    assert o["dropped"] == res.station("q").rejected > 250 and o["error"] == 0
    assert res.overall.accept.count == 300, "every request was acknowledged, the dropped ones included"


def test_recovered_counts_the_failed_calls_a_retrying_buffer_sent_back() -> None:
    spec = {"arrival": {"rate": 20.0}, "stations": [
        {"name": "q", "kind": "buffer", "servers": 50, "retry": {"max_attempts": 4, "backoff": 0.05}},
        {"name": "flaky", "servers": 50, "service": det(0.1), "errors": {"base": 0.2}}]}
    res = run(build_network(spec), seed=3, requests=5_000)
    flaky = res.station("flaky")
    # Every error is sent back except the 4th in a row, which ends the request (an error: nothing acknowledged it).
    o = res.overall.outcomes
    assert flaky.recovered == res.overall.retries == flaky.errors - o["error"] - o["failed"]
    assert flaky.exhausted == o["error"] > 0
    assert flaky.recovered + flaky.exhausted == flaky.errors, "every error met the retry policy"
    assert flaky.recovered > 900
    spec["stations"][0].pop("retry")
    bare = run(build_network(spec), seed=3, requests=5_000).station("flaky")
    assert bare.recovered == bare.exhausted == 0 and bare.errors > 900


def test_a_duration_run_ends_once_traffic_has_stopped_and_the_last_request_is_done() -> None:
    spec = {"arrival": {"rate": 5.0}, "duration": 10.0, "drain": 1000.0, "stations": [
        {"name": "a", "servers": 1, "service": det(0.1)}]}
    sim = Simulation(build_network(spec), seed=1)
    snapshots = list(sim.stream(step=1.0))
    res = sim.results()
    assert 10.0 <= res.end_time <= 11.0, "not at the 1010 s horizon"
    assert snapshots[-1].progress == 1.0 and snapshots[-1].t == res.end_time
    assert all(a.progress < b.progress for a, b in zip(snapshots, snapshots[1:], strict=False))
    assert res.overall.outcomes["completed"] == res.overall.arrivals
    assert run(build_network(spec), seed=1).end_time == res.end_time, "the same end without streaming"
