"""Streaming snapshots: step by step, consistent with the final results, replayable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator import Simulation, Snapshot, build_network, run
from simulator.bench import clearpay_spec
from tests.simulator.replication import z_quantile


@pytest.fixture(scope="module")
def streamed() -> tuple[list[Snapshot], object]:
    sim = Simulation(build_network(clearpay_spec(duration=120.0, status=True)), seed=3)
    snaps = list(sim.stream(step=2.0))
    return snaps, sim.results()


def test_snapshots_advance_by_step_to_the_horizon(streamed) -> None:
    snaps, res = streamed
    assert [s.t for s in snaps] == pytest.approx([2.0 * (i + 1) for i in range(60)])
    assert snaps[-1].progress == 1.0 and all(a.progress <= b.progress for a, b in zip(snaps, snaps[1:], strict=False))
    assert res.end_time == 120.0


def test_step_throughput_adds_up_to_completions(streamed) -> None:
    snaps, res = streamed
    for k, st in enumerate(res.stations):
        total = sum(s.stations[k].throughput * 2.0 for s in snaps)
        assert total == pytest.approx(st.completions), st.name
        assert sum(s.stations[k].errors for s in snaps) == st.errors


def test_step_utilization_averages_to_the_run_utilization(streamed) -> None:
    snaps, res = streamed
    gw = [s.name for s in res.stations].index("gateway")
    mean = np.mean([s.stations[gw].utilization for s in snaps])
    assert mean == pytest.approx(res.stations[gw].utilization, rel=1e-9)
    # the peak is the busiest second of the meter's grid: a 2-s step averages two of them, so it is no higher
    assert res.stations[gw].utilization_peak >= max(s.stations[gw].utilization for s in snaps)
    by_second = list(Simulation(build_network(clearpay_spec(duration=120.0, status=True)), seed=3).stream(step=1.0))
    assert res.stations[gw].utilization_peak == max(s.stations[gw].utilization for s in by_second)


def test_so_far_percentiles_track_the_exact_ones_within_the_histogram_resolution(streamed) -> None:
    snaps, res = streamed
    last = snaps[-1]
    exact = res.overall.accept
    for approx, value in zip(last.accept_so_far, (exact.p50, exact.p95, exact.p99), strict=False):
        assert approx == pytest.approx(value, rel=0.011)  # buckets are 1 % wide


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_the_last_snapshot_ends_at_the_final_counts_horizon_sweep_included(streamed, engine: str) -> None:
    # The page's last frame must show the grade's numbers, also for a run its horizon cuts off (here: 120 s of an
    # overloaded path, with requests still in the network, which the results count as dropped or as errors).
    snaps, res = streamed
    assert res.overall.unfinished > 0
    sim = Simulation(build_network(clearpay_spec(duration=120.0, status=True)), seed=3, engine=engine)
    last = list(sim.stream(step=2.0))[-1]
    res = sim.results()
    assert last.arrivals == res.overall.arrivals and last.outcomes == res.overall.outcomes
    assert {s.name: (s.arrivals, s.met_error) for s in last.sources} == {
        src.name: (src.arrivals, src.met_error) for src in res.sources}


def test_results_keep_the_time_series_for_replay(streamed) -> None:
    snaps, res = streamed
    assert list(res.time_series) == [s.to_dict() for s in snaps]
    json.dumps(res.to_dict(), allow_nan=False)  # strict JSON: undefined values are null, never NaN


def test_streaming_does_not_change_the_run() -> None:
    net = build_network(clearpay_spec(duration=60.0))
    plain = Simulation(net, seed=9).results().to_dict()
    streamed = run(net, seed=9, step=0.5).to_dict()
    for d in (plain, streamed):
        d.pop("time_series")
    assert plain == streamed


def test_requests_mode_streams_until_every_request_is_done() -> None:
    net = build_network({"arrival": {"rate": 10.0}, "stations": [
        {"name": "a", "servers": 1, "service": {"dist": "exponential", "mean": 0.05}}]})
    sim = Simulation(net, seed=1, requests=500)
    snaps = list(sim.stream(step=5.0))
    assert snaps[-1].progress == 1.0 and snaps[-1].outcomes["completed"] == 500
    assert sim.results().overall.outcomes["completed"] == 500


def test_snapshot_is_small() -> None:
    sim = Simulation(build_network(clearpay_spec(duration=20.0, status=True)), seed=1)
    snap = next(iter(sim.stream(step=1.0)))
    assert len(json.dumps(snap.to_dict())) < 2_000


def test_rate_profile_arrivals_follow_the_integrated_rate() -> None:
    """Non-homogeneous Poisson: arrivals in each piece of the profile ~ Poisson(integral of the rate)."""
    net = build_network({"sources": [{"name": "pay", "profile": [[0, 10], [100, 10], [200, 50], [300, 0]]}],
                         "stations": [{"name": "a", "servers": "inf",
                                       "service": {"dist": "deterministic", "mean": 0.001}}]})
    sim = Simulation(net, seed=8)
    snaps = {round(s.t): s.arrivals for s in sim.stream(step=50.0)}
    snaps[300] = sim.results().overall.arrivals  # the run ends with its last request, a moment before or after 300 s
    counts = {
        (0, 100): (snaps[100], 1000.0),
        (100, 200): (snaps[200] - snaps[100], 3000.0),  # ramp 10 -> 50
        (200, 250): (snaps[250] - snaps[200], 1875.0),  # ramp 50 -> 25
        (250, 300): (snaps[300] - snaps[250], 625.0),  # ramp 25 -> 0
    }
    for piece, (count, mean) in counts.items():
        assert abs(count - mean) <= z_quantile() * mean**0.5, (piece, count, mean)


def _without_series(res: object) -> dict:
    d = res.to_dict()  # type: ignore[attr-defined]
    d.pop("time_series")
    return d


EARLY_ENDERS = {
    # traffic stops at 5 s; the last request leaves a moment later, between any two steps' boundaries
    "mm1": {"arrival": {"rate": 5.0}, "stations": [
        {"name": "a", "servers": 1, "service": {"dist": "exponential", "mean": 0.1}}], "duration": 5.0, "drain": 30.0},
    # a profile that ends its traffic, a buffer with retries and a station with an error curve after it
    "buffered": {"sources": [{"name": "pay", "entry": "q", "profile": [[0, 20], [4, 40], [7.3, 0]]}],
                 "stations": [
                     {"name": "q", "kind": "buffer", "servers": 3, "acknowledge": True,
                      "retry": {"max_attempts": 3, "backoff": 0.3}},
                     {"name": "g", "servers": 4, "service": {"dist": "jitter", "base": 0.1, "mean_jitter": 0.05},
                      "errors": {"base": 0.05, "threshold": 0.5, "max": 0.5, "window": 2.0}}],
                 "drain": 60.0},
}


@pytest.mark.parametrize("engine", ["pure", "fast"])
@pytest.mark.parametrize("case", sorted(EARLY_ENDERS))
def test_results_are_the_same_whatever_the_streaming_step(engine: str, case: str) -> None:
    """A run ends at the event where traffic has stopped and its last request is done, streamed or not: every
    figure of its results (the time series aside) is the same for any step, and the last snapshot is at that end."""
    net = build_network(EARLY_ENDERS[case])
    off_grid = 0
    for seed in (1, 2, 3, 4):
        plain = Simulation(net, seed=seed, engine=engine)
        expected = _without_series(plain.results())
        assert expected["end_time"] < net.traffic_end + net.drain
        off_grid += expected["end_time"] % 1.0 != 0.0
        for step in (0.37, 1.0, 5.0, 10.0):
            sim = Simulation(net, seed=seed, engine=engine)
            snaps = list(sim.stream(step=step))
            assert snaps[-1].t == expected["end_time"] and snaps[-1].progress == 1.0, (seed, step)
            assert all(b.t - a.t == pytest.approx(step) for a, b in zip(snaps, snaps[1:-1], strict=False))
            assert _without_series(sim.results()) == expected, (seed, step)
    assert off_grid == 4  # the runs really end between the boundaries the old engine stopped at


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_everything_network_gives_the_same_results_streamed_or_not(engine: str) -> None:
    """Every feature at once (deadlines, steps, enqueue writes, retries, slowdown, timeouts), ending early."""
    from tests.simulator.test_pinned_results import EVERYTHING

    net = build_network(EVERYTHING)
    expected = _without_series(Simulation(net, seed=3, engine=engine).results())
    assert expected["end_time"] < 100.0
    for step in (0.37, 1.0, 5.0):
        assert _without_series(run(net, seed=3, step=step, engine=engine)) == expected, step


def test_a_long_run_s_meter_coarsens_its_grid_and_both_engines_agree() -> None:
    """Past MAX_SAMPLES seconds the meter keeps every other sample at twice the width: memory stays bounded."""
    from simulator.engine.meter import MAX_SAMPLES

    net = build_network({"arrival": {"rate": 0.1}, "stations": [
        {"name": "a", "servers": 1, "service": {"dist": "exponential", "mean": 2.0}}]})
    out = []
    for engine in ("pure", "fast"):
        sim = Simulation(net, seed=5, requests=2_500, engine=engine)
        res = sim.results()
        assert res.end_time > MAX_SAMPLES and sim.meter.width == 2.0 and len(sim.meter.times) <= MAX_SAMPLES + 1
        assert sim.meter.times[-1] == res.end_time
        out.append(json.dumps(res.to_dict(), sort_keys=True))
    assert out[0] == out[1]
