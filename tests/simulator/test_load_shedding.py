"""Load shedding at a queue: an arrival whose expected wait (q + 1) x hold / servers would exceed `shed_wait` is
rejected. Reference: that is an M/M/c/K with K = c + floor(shed_wait x c / hold), so the share shed is the exact
M/M/c/K blocking probability (and the run is the same, draw for draw, as the one with that capacity)."""

from __future__ import annotations

from typing import Any

import pytest

from simulator import Simulation, SpecError, build_network
from simulator.analytic import mmck

from .replication import assert_agrees, replicate

LAM, MU, C, SHED = 1.8, 1.0, 2, 1.6  # floor(1.6 x 2 / 1) = 3 may wait: K = 5


def _spec(**station: Any) -> dict[str, Any]:
    return {"arrival": {"rate": LAM},
            "stations": [{"name": "s", "servers": C, "service": {"dist": "exponential", "mean": 1.0 / MU},
                          **station}]}


def test_shedding_is_an_mmck_with_the_bound_as_its_k() -> None:
    """Concept: a wait bound is a queue-length bound; the blocking share is the M/M/c/K formula's."""
    assert build_network(_spec(shed_wait=SHED)).stations[0].admission_limit == 5
    runs = replicate(_spec(shed_wait=SHED), requests=20_000, warmup=1_000, replications=10)
    exact = mmck(LAM, 1.0 / MU, C, 5)
    assert_agrees(runs, "s.blocking_prob", exact.blocking_prob)
    assert_agrees(runs, "s.Wq_mean", exact.Wq)


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_shedding_gives_the_runs_of_the_equivalent_capacity(engine: str) -> None:
    shed = Simulation(build_network(_spec(shed_wait=SHED)), seed=4, requests=5_000, engine=engine).results()
    cap = Simulation(build_network(_spec(capacity=5)), seed=4, requests=5_000, engine=engine).results()
    assert shed.to_dict() == cap.to_dict()
    assert shed.station("s").rejected > 0
    # a shed request is not hidden: it is an error of its caller (no buffer before it)
    assert shed.overall.outcomes["error"] == shed.station("s").rejected


def test_capacity_and_shedding_together_the_smaller_bound_wins() -> None:
    assert build_network(_spec(shed_wait=SHED, capacity=3)).stations[0].admission_limit == 3
    assert build_network(_spec(shed_wait=SHED, capacity=9)).stations[0].admission_limit == 5
    assert build_network(_spec(shed_wait=0.0)).stations[0].admission_limit == C  # never wait


def test_a_buffer_sheds_on_the_hold_it_states_and_drops_what_it_acknowledged() -> None:
    spec = {"arrival": {"rate": 30.0},
            "stations": [{"name": "q", "kind": "buffer", "servers": 10, "acknowledge": True, "shed_wait": 0.5,
                          "shed_hold": 0.2},
                         {"name": "w", "servers": "inf", "service": {"dist": "exponential", "mean": 0.2}}],
            "duration": 60.0}
    net = build_network(spec)
    assert net.stations[0].admission_limit == 10 + 25
    res = Simulation(net, seed=1).results()
    assert res.station("q").rejected == 0  # 6 of 10 consumers busy on average: the bound is never reached
    spec["stations"][1] = {"name": "w", "servers": 2, "service": {"dist": "exponential", "mean": 0.2}}
    res = Simulation(build_network(spec), seed=1).results()
    assert res.station("q").rejected > 0
    assert res.overall.outcomes["dropped"] >= res.station("q").rejected  # acknowledged, then shed: dropped


@pytest.mark.parametrize(("station", "message"), [
    ({"shed_wait": -1}, r"stations\[0\]\.shed_wait: must be >= 0"),
    ({"servers": "inf", "shed_wait": 1}, r"stations\[0\]\.shed_wait: needs a finite number of servers"),
    ({"shed_hold": 1}, r"stations\[0\]\.shed_hold: needs shed_wait"),
    ({"kind": "buffer", "shed_wait": 1}, r"stations\[0\]\.shed_hold: required to shed at a buffer"),
])
def test_bad_shedding_fields_are_named(station: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build_network(_spec(**station))
