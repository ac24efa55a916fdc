"""The compiler, one part type at a time: what each part of a drawing becomes in the queueing network."""

from __future__ import annotations

import pytest

from kata.compiler import compile_design
from kata.design import design_validate


@pytest.fixture
def compiled(clearpay_palette, design_file):
    return compile_design(design_validate(design_file("reference"), clearpay_palette), clearpay_palette)


def _station(compiled, name):
    return next(s for s in compiled.spec["stations"] if s["name"] == name)


def test_sources_enter_the_part_they_feed_with_the_kata_profile(compiled):
    checkout = next(s for s in compiled.spec["sources"] if s["name"] == "checkout")
    assert checkout["entry"] == "lb"
    assert checkout["profile"] == [[0, 60], [60, 60], [120, 180], [720, 180], [780, 60], [840, 60]]
    assert compiled.spec["duration"] == 840 and compiled.spec["drain"] == 1800
    assert "checkout" not in {s["name"] for s in compiled.spec["stations"]}


def test_service_part_has_instances_times_concurrency_servers_and_its_cost(compiled):
    api = _station(compiled, "api")
    assert api["servers"] == 16
    assert api["service"] == {"dist": "lognormal", "mean": 0.03, "scv": 0.5}
    assert api["instances"] == 2 and api["unit_cost"] == 0.2
    assert compiled.stations["api"].cost_per_hour == pytest.approx(0.4)


def test_queue_becomes_an_acknowledging_retrying_buffer_consumed_by_its_workers(compiled):
    queue = _station(compiled, "queue")
    assert queue["kind"] == "buffer" and queue["acknowledge"] is True
    assert queue["capacity"] == 30000
    assert queue["servers"] == 40, "consumers = the workers' instances × concurrency"
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


def test_cache_forwards_only_its_misses_and_load_balancer_is_fixed(compiled):
    names = [s["name"] for s in compiled.spec["stations"]]
    routing = compiled.spec["routing"]
    assert routing[names.index("cache")][names.index("ledger")] == pytest.approx(0.2)
    assert _station(compiled, "lb")["servers"] == 1000


def test_routing_follows_edges_and_splits_evenly(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"].append({"id": "api-b", "part": "intent_api", "params": {"instances": 1}, "x": 1, "y": 1})
    document["edges"] += [{"source": "lb", "target": "api-b"}, {"source": "api-b", "target": "queue"}]
    compiled = compile_design(design_validate(document, clearpay_palette), clearpay_palette)
    names = [s["name"] for s in compiled.spec["stations"]]
    row = compiled.spec["routing"][names.index("lb")]
    assert row[names.index("api")] == row[names.index("api-b")] == 0.5
    assert sum(compiled.spec["routing"][names.index("ledger")]) == 0, "the last part sends requests out"
    for source, target in [("lb", "api"), ("api", "queue"), ("queue", "workers"), ("workers", "gateway")]:
        assert names.index(source) < names.index(target), "stations are listed in flow order"


def test_design_cost_adds_up_instances_times_unit_cost(compiled):
    # lb 0.05 + api 2×0.20 + queue 0.15 + workers 5×0.40 + ledger 0.60 + cache 0.12 + status api 0.15; gateway free
    assert compiled.cost_per_hour == pytest.approx(3.47)


def test_compiled_spec_is_accepted_by_the_simulator(compiled):
    from simulator import build_network

    network = build_network(compiled.spec)
    assert len(network.stations) == 8
