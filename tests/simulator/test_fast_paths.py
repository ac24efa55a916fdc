"""The engine's shortcuts give what the general code would: arrival times, and the samples kept per visit."""

from __future__ import annotations

import copy
import math
import random

import pytest

from simulator import Simulation, build_network, run
from simulator.bench import clearpay_spec

PROFILE = [[0, 5], [10, 5], [20, 40], [30, 40], [30.5, 0], [31, 0], [40, 10], [50, 10]]


def test_flat_segment_fast_path_gives_the_inversion_s_arrival_times() -> None:
    """`next_time` answers inside a flat segment itself and asks `invert` otherwise: bit-identical either way,
    including draws that end exactly on a segment's end and clocks sitting exactly on one."""
    spec = {"sources": [{"name": "pay", "profile": PROFILE}],
            "stations": [{"name": "s", "service": {"dist": "exponential", "mean": 0.01}}]}
    source = Simulation(build_network(spec), seed=1, engine="pure").sources[0]  # the pure engine's source
    reference = copy.copy(source)  # its own segment pointer
    draws = random.Random(7)
    now, steps = 0.0, 0
    while now < 50.0:
        if steps % 50 == 0:  # land exactly on the end of the flat segment [0, 10) at rate 5
            work = 5.0 * (10.0 - now) if now < 10.0 else draws.expovariate(1.0)
        else:
            work = draws.expovariate(1.0)
        fast, exact = source.next_time(now, work), reference.invert(now, work)
        assert fast == exact
        now, steps = fast, steps + 1
    assert now == math.inf and steps > 400


def test_constant_rate_source_is_one_flat_segment() -> None:
    spec = {"arrival": {"rate": 7.0}, "duration": 5.0,
            "stations": [{"name": "s", "service": {"dist": "exponential", "mean": 0.01}}]}
    source = Simulation(build_network(spec), seed=1, engine="pure").sources[0]  # the pure engine's source
    for now, work in [(0.0, 0.3), (1e6, 2.5), (3.25, 1e-9)]:
        assert source.next_time(now, work) == now + work / 7.0


def test_waits_that_are_counted_not_stored_come_back_in_the_results() -> None:
    """Visits that did not wait are counted, not stored; a zero-time buffer stores each visit once (its sojourn is
    its wait). The summaries still cover every visit."""
    res = run(build_network(clearpay_spec(duration=60.0, status=True)), seed=3)
    for st in res.stations:
        assert st.wait.count == st.sojourn.count == st.completions, st.name
        assert st.wait.p50 == pytest.approx(0.0, abs=1e-12) or st.name == "queue", "most visits start at once"
    queue = res.station("queue")
    assert queue.wait == queue.sojourn and queue.wait.max > 0


def test_cli_metrics_count_every_visit_past_the_warm_up() -> None:
    spec = {"arrival": {"rate": 30.0}, "stations": [
        {"name": "q", "kind": "buffer", "servers": 4},
        {"name": "s", "servers": 2, "service": {"dist": "exponential", "mean": 0.05}}]}
    sim = Simulation(build_network(spec), seed=5, requests=4000, warmup=500)
    m = sim.metrics()
    assert 0.0 < m["s.prob_wait"] < 1.0 and 0.0 < m["q.prob_wait"] < 1.0
    assert m["q.Wq_mean"] == pytest.approx(m["q.W_mean"], rel=1e-12), "no service time at the buffer"
    res = sim.results()
    assert res.station("s").wait.count == res.station("q").wait.count == 3500
    assert res.station("s").completions == 4000
