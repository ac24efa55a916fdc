"""A network using a feature the compiled engine lacks runs on the pure engine by itself (`fast.missing` names the
feature; every pattern of today is on both engines, so the test names one)."""

from __future__ import annotations

import pytest

from simulator import Simulation, build_network
from simulator.engine import fast

SPEC = {"arrival": {"rate": 5.0}, "stations": [{"name": "s", "servers": 1, "service": {"dist": "exponential",
                                                                                       "mean": 0.1}}]}


def test_every_network_of_today_runs_compiled() -> None:
    assert fast.missing(build_network(SPEC)) is None and fast.supports(build_network(SPEC))


@pytest.mark.skipif(not fast.AVAILABLE, reason="the compiled engine is not built")
def test_a_network_the_compiled_engine_cannot_run_falls_back_and_fast_refuses_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast, "missing", lambda network: "a feature of tomorrow")
    net = build_network(SPEC)
    assert Simulation(net, requests=100).engine == "pure"
    assert Simulation(net, requests=100, engine="pure").engine == "pure"
    with pytest.raises(RuntimeError, match="does not have a feature of tomorrow"):
        Simulation(net, requests=100, engine="fast")
