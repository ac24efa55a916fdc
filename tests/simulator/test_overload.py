"""Overload is reported: a station whose offered load reached its capacity over a window, or whose queue was still
growing at the end, carries `unstable` in its results (the rule: `simulator.engine.overload`), and the CLI warns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator import Simulation, build_network, run
from tests.simulator.test_cli import cli, write


def station(servers: int, capacity_per_s: float, **extra: Any) -> dict[str, Any]:
    """A station of `servers` exponential servers whose service rate is `capacity_per_s` in all."""
    return {"name": "a", "servers": servers, "service": {"dist": "exponential", "mean": servers / capacity_per_s},
            **extra}


def mmc(rho: float, servers: int = 2, capacity_per_s: float = 100.0) -> Any:
    return build_network({"arrival": {"rate": rho * capacity_per_s},
                          "stations": [station(servers, capacity_per_s)]})


@pytest.mark.parametrize("seed", range(1, 11))
def test_rho_above_one_is_flagged_on_every_seed(seed: int) -> None:
    """rho = 1.2: the queue grows without bound, so the offered load over the run is ~1.2x the capacity."""
    res = Simulation(mmc(1.2), seed=seed, requests=20_000).results()
    flag = res.stations[0].unstable
    assert flag is not None and flag["reason"] == "offered load above capacity"
    assert flag["capacity"] == 100.0 and 1.1 < flag["offered"] / flag["capacity"] < 1.3
    t0, t1 = flag["window"]
    assert t0 <= 5.0 and t1 >= 150.0  # nearly the whole run: 20,000 arrivals at 120/s take ~167 s


@pytest.mark.parametrize(("rho", "servers", "capacity_per_s", "requests"), [
    (0.9, 1, 100.0, 60_000),  # the noisiest stable case: one server, near saturation
    (0.9, 4, 5.0, 6_000),  # a slow station: few arrivals per grid second, so Poisson noise is large
    (0.5, 8, 200.0, 60_000),
])
def test_stable_stations_are_never_flagged_over_twenty_seeds(rho: float, servers: int, capacity_per_s: float,
                                                             requests: int) -> None:
    """rho <= 0.9: arrivals minus capacity is a random walk drifting down; its excursions above capacity stay far
    below one second of capacity plus three Poisson standard deviations."""
    net = mmc(rho, servers, capacity_per_s)
    flagged = [seed for seed in range(1, 21)
               if Simulation(net, seed=seed, requests=requests).results().stations[0].unstable is not None]
    assert flagged == []


def test_a_stable_duration_run_is_not_flagged_either() -> None:
    """The queue-growth rule on runs that stop with traffic still flowing (no drain) at rho = 0.9."""
    net = build_network({"arrival": {"rate": 90.0}, "duration": 600.0, "stations": [station(1, 100.0)]})
    assert [s for s in range(1, 21) if run(net, seed=s, step=None).stations[0].unstable is not None] == []


SPIKE = {"sources": [{"name": "s", "entry": "a", "profile": [[0, 80], [100, 80], [100.001, 150], [160, 150],
                                                             [160.001, 80], [300, 80]]}],
         "stations": [station(4, 100.0)]}


@pytest.mark.parametrize("engine", ["pure", "fast"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_transient_spike_above_capacity_is_flagged_with_its_window(engine: str, seed: int) -> None:
    """80/s, then 150/s for 60 s on a 100/s station, then 80/s: the backlog builds over the spike and only there."""
    res = run(build_network(SPIKE), seed=seed, engine=engine)
    flag = res.stations[0].unstable
    assert flag is not None and flag["reason"] == "offered load above capacity"
    t0, t1 = flag["window"]
    assert 98.0 <= t0 <= 102.0 and 158.0 <= t1 <= 162.0, flag["window"]
    assert flag["offered"] == pytest.approx(150.0, rel=0.06)  # 9,000 arrivals: 3 sd = 3.2 %


def test_the_same_spike_within_capacity_is_not_flagged() -> None:
    spec = json.loads(json.dumps(SPIKE).replace("150", "90"))
    assert [s for s in range(1, 11) if run(build_network(spec), seed=s).stations[0].unstable is not None] == []


def test_a_queue_still_growing_at_the_end_is_flagged_even_without_a_capacity() -> None:
    """A buffer has no nominal capacity (its consumers' time is spent downstream): its growing backlog flags it."""
    net = build_network({"arrival": {"rate": 50.0}, "duration": 300.0, "stations": [
        {"name": "q", "kind": "buffer", "servers": 2, "acknowledge": True},
        {"name": "w", "servers": "inf", "service": {"dist": "deterministic", "mean": 0.05}}]})
    res = run(net, seed=1)  # two consumers x 20/s each = 40/s served, 50/s offered
    flag = res.station("q").unstable
    assert flag is not None and flag["reason"] == "queue still growing at the end"
    assert flag["offered"] == pytest.approx(50.0, rel=0.05) and flag["capacity"] == pytest.approx(40.0, rel=0.02)
    assert res.station("w").unstable is None  # infinite servers never are


def test_unstable_is_the_same_whatever_the_streaming_step() -> None:
    net = build_network(SPIKE)
    flags = {step: run(net, seed=4, step=step).stations[0].unstable for step in (None, 0.37, 1.0, 7.0)}
    assert len({json.dumps(f, sort_keys=True) for f in flags.values()}) == 1


def test_the_cli_warns_on_stderr_for_each_unstable_station(tmp_path: Path) -> None:
    spec = {"arrival": {"rate": 120.0}, "stations": [station(1, 100.0)]}
    proc = cli("network", write(tmp_path, spec), "--requests", "20000")
    assert proc.returncode == 0 and json.loads(proc.stdout)["a.throughput"] > 100.0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: a overloaded from 0 s to ")
    assert "x its capacity" in lines[0]
    calm = cli("network", write(tmp_path, {**spec, "arrival": {"rate": 50.0}}), "--requests", "20000")
    assert calm.returncode == 0 and calm.stderr == ""


def test_a_backlog_left_at_the_horizon_is_flagged_after_traffic_eased() -> None:
    """The queue shrinks in the drain, but 1,000 messages are still waiting at the horizon: never caught up."""
    net = build_network({"arrival": {"rate": 50.0}, "duration": 200.0, "drain": 20.0, "stations": [
        {"name": "q", "kind": "buffer", "servers": 2, "acknowledge": True},
        {"name": "w", "servers": "inf", "service": {"dist": "deterministic", "mean": 0.05}}]})
    res = run(net, seed=2)
    flag = res.station("q").unstable
    assert res.end_time == 220.0 and flag is not None and flag["reason"] == "backlog left at the end"
    assert flag["window"][1] == 220.0 and flag["window"][0] < 5.0


def test_a_slowed_down_station_is_judged_on_the_capacity_its_slowdown_leaves() -> None:
    """Service x2 above 80 % utilization: at 70 % of the nominal rate a busy spell halves the capacity, and the
    backlog that follows keeps it halved (the bistable collapse): overloaded, though below the nominal capacity."""
    spec = {"sources": [{"name": "s", "entry": "a", "profile": [[0, 70], [50, 70], [50.001, 120], [80, 120],
                                                                [80.001, 70], [400, 70]]}],
            "stations": [station(10, 100.0, slowdown={"threshold": 0.8, "factor": 2.0, "window": 5.0})]}
    flag = run(build_network(spec), seed=1).stations[0].unstable
    assert flag is not None and "slowed down by its own load" in flag["reason"]
    assert flag["offered"] < 100.0 < 2 * flag["capacity"] + 1e-9 and flag["capacity"] < flag["offered"]
