"""Per source, per window: snapshots keep each traffic source's step apart, and a spec's named windows of arrival
time give each source's figures for the requests that arrived in them, beside the whole run's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator import Simulation, SpecError, build_network, run
from tests.simulator.replication import z_quantile

BASE: dict[str, Any] = {
    "sources": [{"name": "pay", "entry": "a", "profile": [[0, 50], [20, 50], [20.001, 150], [40, 150], [40.001, 50],
                                                          [60, 50]]},
                {"name": "read", "entry": "b", "rate": 100.0}],
    "stations": [{"name": "a", "servers": 2, "service": {"dist": "exponential", "mean": 0.012},
                  "errors": {"base": 0.002, "threshold": 0.6, "max": 0.3, "window": 2.0}},
                 {"name": "b", "servers": 4, "service": {"dist": "exponential", "mean": 0.01},
                  "errors": {"base": 0.01}}],
    "routing": [[0, 0], [0, 0]], "duration": 60.0, "drain": 10.0,
}


def with_windows(windows: dict[str, list[float]]) -> Any:
    return build_network({**BASE, "windows": windows})


def _no_means(d: Any) -> Any:
    """A source's figures with the means left out: a mean sums its samples in another order when they are kept
    apart by window, so it may differ in the last bit; counts, percentiles and maxima are order-free."""
    if isinstance(d, dict):
        return {k: _no_means(v) for k, v in d.items() if k not in ("mean", "windows")}
    return d


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_windows_change_no_whole_run_figure(engine: str) -> None:
    """Membership is bookkeeping: the whole run's figures are the same with windows as without."""
    plain = run(build_network(BASE), seed=5, engine=engine).to_dict()
    windowed = run(with_windows({"spike": [20.0, 40.0]}), seed=5, engine=engine).to_dict()
    for a, b in zip(plain["sources"], windowed["sources"], strict=True):
        assert _no_means(a) == _no_means(b)
        assert a["accept"]["mean"] == pytest.approx(b["accept"]["mean"], rel=1e-12)
    assert plain["stations"] == windowed["stations"] and plain["end_time"] == windowed["end_time"]
    assert "windows" not in plain["sources"][0]


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_windows_that_cover_the_run_add_up_to_it(engine: str) -> None:
    """Two windows splitting the arrivals: their counts add up to the source's, their samples make up its sample."""
    res = run(with_windows({"early": [0.0, 30.0], "late": [30.0, 60.1]}), seed=2, engine=engine)
    for src in res.sources:
        early, late = src.windows["early"], src.windows["late"]
        assert early.arrivals + late.arrivals == src.arrivals
        assert early.met_error + late.met_error == src.met_error
        for k, v in src.outcomes.items():
            assert early.outcomes[k] + late.outcomes[k] == v
        assert early.accept.count + late.accept.count == src.accept.count
        assert max(early.accept.max, late.accept.max) == src.accept.max


def test_a_window_holds_the_requests_that_arrived_in_it() -> None:
    """The spike window's arrivals are Poisson with mean the rate's integral over it (150/s x 20 s); its accept
    errors are the busy spell's (rho = 0.9 on 2 servers, against 0.3 outside); the status reads' are their own."""
    res = run(with_windows({"spike": [20.0, 40.0]}), seed=3)
    pay, read = res.sources
    spike = pay.windows["spike"]
    assert abs(spike.arrivals - 3000) <= z_quantile() * 3000**0.5
    assert abs(read.windows["spike"].arrivals - 2000) <= z_quantile() * 2000**0.5
    # the error curve rises above 60 % utilization, so the spike's payments met nearly all the errors
    outside = (pay.met_error - spike.met_error) / (pay.arrivals - spike.arrivals)
    assert spike.met_error / spike.arrivals > 10 * outside
    assert spike.accept.mean > pay.accept.mean
    assert read.windows["spike"].accept.mean == pytest.approx(read.accept.mean, rel=0.2)


def test_snapshots_keep_each_source_apart_and_end_at_its_results() -> None:
    """A snapshot's per-source step latencies are that source's samples alone; at the end, the per-source counts
    are the results' (a run that drains: nothing is left for the horizon's sweep)."""
    sim = Simulation(build_network(BASE), seed=4)
    snaps = list(sim.stream(step=1.0))
    res = sim.results()
    for j, src in enumerate(res.sources):
        last = snaps[-1].sources[j]
        assert last.name == src.name and last.arrivals == src.arrivals and last.met_error == src.met_error
    # the status reads alone are faster than the mix: the mixed step p99 lies between the two sources'
    step = snaps[30]
    pay, read = step.source("pay").accept_step[2], step.source("read").accept_step[2]
    assert pay is not None and read is not None and min(pay, read) <= step.accept_step[2] <= max(pay, read)


def test_windows_are_validated() -> None:
    with pytest.raises(SpecError, match=r"windows\.b: overlaps windows\.a"):
        with_windows({"a": [0.0, 30.0], "b": [20.0, 40.0]})
    with pytest.raises(SpecError, match=r"windows\.a\[1\]: must be > t0"):
        with_windows({"a": [30.0, 30.0]})
    with pytest.raises(SpecError, match=r"windows\.a: must be \[t0, t1\]"):
        with_windows({"a": [1.0]})
    json.dumps(run(with_windows({"spike": [20.0, 40.0]}), seed=1).to_dict(), allow_nan=False)
