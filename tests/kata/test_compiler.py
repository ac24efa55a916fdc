"""The compiler, one part type at a time: what each part of a drawing becomes in the queueing network."""

from __future__ import annotations

import pytest

from kata.compiler import compile_design, compile_document, ttl_hit_ratio
from kata.design import Design, design_validate
from simulator import build_network


@pytest.fixture
def compiled(clearpay_palette, design_file):
    return compile_design(design_validate(design_file("reference"), clearpay_palette), clearpay_palette)


def _station(compiled, name):
    return next(s for s in compiled.spec["stations"] if s["name"] == name)


def test_sources_enter_the_part_they_feed_with_the_kata_profile(compiled):
    checkout = next(s for s in compiled.spec["sources"] if s["name"] == "checkout")
    assert checkout["entry"] == "lb"
    assert checkout["profile"] == [[0, 60], [60, 60], [120, 180], [720, 180], [780, 60], [1380, 60]]
    assert checkout["deadline"] == 2.0, "the checkout gives up after 2 s"
    assert checkout["complete_through"] == [["gateway"], ["ledger"]], "settled: the gateway, then the ledger"
    assert compiled.spec["duration"] == 1380 and compiled.spec["drain"] == 60
    assert "checkout" not in {s["name"] for s in compiled.spec["stations"]}


def test_every_source_runs_to_the_end_of_the_kata_traffic(compiled):
    status = next(s for s in compiled.spec["sources"] if s["name"] == "status")
    assert status["profile"] == [[0, 100], [1380, 100]]
    assert status["complete_through"] == [["cache", "ledger"]], "a status read is served by the cache or the ledger"


def test_a_part_with_cores_works_on_its_cores_and_holds_its_slots(compiled):
    api = _station(compiled, "api")  # 2 instances × 4 cores, 16 requests in flight each
    assert api["servers"] == 8, "CPU work is bounded by instances × cores"
    assert api["capacity"] == 32, "a request beyond instances × concurrency slots is refused"
    assert api["service"] == {"dist": "lognormal", "mean": 0.03, "scv": 0.5}
    assert compiled.stations["api"].cost_per_hour == pytest.approx(2 * (0.04 + 4 * 0.05))


def test_queue_becomes_an_acknowledging_retrying_buffer_consumed_by_its_workers(compiled):
    queue = _station(compiled, "queue")
    assert queue["kind"] == "buffer" and queue["acknowledge"] is True
    assert queue["capacity"] == 60000
    assert queue["servers"] == 40, "consumers = the workers' slots, instances × concurrency"
    assert queue["enqueue"] == {"dist": "lognormal", "mean": 0.003, "scv": 0.5}, "writing a message takes time"
    assert queue["enqueue_error"] == 0.00005
    assert queue["retry"] == {"max_attempts": 5, "backoff": 0.5, "multiplier": 2.0, "max_backoff": 30.0}


def test_queue_with_one_attempt_has_no_retry_policy(clearpay_palette, design_file):
    compiled = compile_design(design_validate(design_file("no-recovery-buffer"), clearpay_palette), clearpay_palette)
    assert "retry" not in _station(compiled, "queue")


def test_external_gateway_keeps_its_fixed_capacity_error_curve_and_slowdown(compiled):
    gateway = _station(compiled, "gateway")
    assert gateway["servers"] == 50 and gateway["instances"] == 1 and gateway["unit_cost"] == 0
    assert gateway["service"] == {"dist": "jitter", "base": 0.22, "mean_jitter": 0.03}
    assert gateway["errors"] == {"base": 0.001, "threshold": 0.8, "max": 0.5, "power": 2.0, "window": 5.0}
    assert gateway["slowdown"] == {"threshold": 0.8, "factor": 2.0}


def test_cache_forwards_only_its_misses_at_the_hit_ratio_its_ttl_gives(compiled):

    names = [s["name"] for s in compiled.spec["stations"]]
    routing = compiled.spec["routing"]
    hit = ttl_hit_ratio(rate=100, ttl=2, keys=5000, zipf=1.1)
    assert 0.45 < hit < 0.55
    assert routing[names.index("cache")][names.index("ledger")] == pytest.approx(1 - hit, abs=1e-6)
    assert _station(compiled, "lb")["servers"] == 1000


def test_ttl_hit_ratio_matches_the_renewal_formula_and_grows_with_ttl():

    # One key read at 10/s with a 1 s TTL: each miss opens a 1 s window holding 10 hits on average.
    assert ttl_hit_ratio(rate=10, ttl=1, keys=1, zipf=0) == pytest.approx(10 / 11)
    ratios = [ttl_hit_ratio(rate=100, ttl=t, keys=5000, zipf=1.1) for t in (0.5, 2, 10)]
    assert ratios == sorted(ratios) and ratios[-1] < 1


def test_routing_follows_edges_and_splits_evenly(clearpay_palette, design_file):
    document = design_file("reference")
    document["edges"].append({"source": "workers", "target": "ledger"})
    compiled = compile_design(design_validate(document, clearpay_palette), clearpay_palette)
    names = [s["name"] for s in compiled.spec["stations"]]
    row = compiled.spec["routing"][names.index("workers")]
    assert row[names.index("gateway")] == row[names.index("ledger")] == 0.5
    assert sum(compiled.spec["routing"][names.index("ledger")]) == 0, "the last part sends requests out"
    for source, target in [("lb", "api"), ("api", "queue"), ("queue", "workers"), ("workers", "gateway")]:
        assert names.index(source) < names.index(target), "stations are listed in flow order"


def test_design_cost_adds_up_instances_times_unit_and_core_cost(compiled):
    # lb 0.05 + api 2×(0.04 + 4×0.05) + queue 0.15 + workers 2×(0.04 + 10×0.05) + ledger 0.30 + cache 0.12
    # + status api 1×(0.04 + 2×0.05); gateway free
    assert compiled.cost_per_hour == pytest.approx(0.05 + 0.48 + 0.15 + 1.08 + 0.30 + 0.12 + 0.14)


def test_compiled_spec_is_accepted_by_the_simulator(compiled):
    network = build_network(compiled.spec)
    assert len(network.stations) == 8


@pytest.mark.parametrize("name", ["reference", "second-passing", "two-queues-retry-on-wrong-one"])
def test_a_saved_design_read_back_lists_the_compilers_stations_in_order(clearpay_palette, design_file, name):
    """The charts label a run from its saved design without compiling it again: same stations, same order."""
    document = design_file(name)
    compiled = compile_document(document, clearpay_palette)
    design = Design.from_saved(document, clearpay_palette)
    assert [(n.id, n.label, n.part.role) for n in design.topological() if n.part.role != "source"] == [
        (s.id, s.label, s.role) for s in compiled.stations.values()]
    assert compiled.spec == compile_design(design_validate(document, clearpay_palette), clearpay_palette).spec
