"""Same spec and seed give byte-identical results; another seed gives different ones."""

from __future__ import annotations

import json

from simulator import Simulation, build_network, run
from simulator.bench import TANDEM, clearpay_spec


def dump(res) -> str:
    return json.dumps(res.to_dict(), sort_keys=True)


def test_same_seed_gives_byte_identical_results_in_duration_mode() -> None:
    net = build_network(clearpay_spec(duration=60.0, status=True))
    assert dump(run(net, seed=42)) == dump(run(build_network(clearpay_spec(duration=60.0, status=True)), seed=42))


def test_different_seed_gives_different_results() -> None:
    net = build_network(clearpay_spec(duration=60.0))
    assert dump(run(net, seed=1)) != dump(run(net, seed=2))


def test_same_seed_gives_identical_cli_metrics_in_requests_mode() -> None:
    net = build_network(TANDEM)
    a = Simulation(net, seed=5, requests=3_000, warmup=100).metrics()
    b = Simulation(net, seed=5, requests=3_000, warmup=100).metrics()
    c = Simulation(net, seed=6, requests=3_000, warmup=100).metrics()
    assert json.dumps(a) == json.dumps(b) != json.dumps(c)
