"""ClearPay's reference design, compiled as the grader compiles it: the same results streamed at the grader's 1-s
step as run with no snapshots at all (a run that ends with its last request ends there, not at a step boundary)."""

from __future__ import annotations

import pytest

from kata.compiler import compile_design
from kata.design import design_validate
from simulator import Simulation, build_network


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_design_gives_the_same_results_streamed_or_not(clearpay_palette, design_file, seed: int) -> None:
    spec = compile_design(design_validate(design_file("reference"), clearpay_palette), clearpay_palette).spec
    net = build_network(spec)
    streamed = Simulation(net, seed=seed)
    snaps = list(streamed.stream(step=1.0))
    a = streamed.results().to_dict()
    b = Simulation(net, seed=seed).results().to_dict()
    assert len(a.pop("time_series")) == len(snaps) and b.pop("time_series") == []
    assert a == b
    assert snaps[-1].t == a["end_time"] and a["end_time"] % 1.0 != 0.0  # it ended between two steps
