"""The compiled engine against the pure one: random networks with every feature, both modes, several streaming
steps; the results must be the same to the last bit. And the compiled engine is what runs by default."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from simulator import Simulation, build_network
from simulator.bench import TANDEM
from simulator.engine import fast


def _service(rng: random.Random) -> dict[str, Any]:
    mean = rng.choice([0.005, 0.02, 0.08, 0.2])
    kind = rng.choice(["exponential", "deterministic", "lognormal", "erlang", "jitter"])
    if kind == "lognormal":
        return {"dist": kind, "mean": mean, "scv": rng.choice([0.5, 1.0, 3.0])}
    if kind == "erlang":
        return {"dist": kind, "mean": mean, "k": rng.choice([2, 4])}
    if kind == "jitter":
        return {"dist": kind, "base": mean * 0.7, "mean_jitter": mean * 0.3}
    return {"dist": kind, "mean": mean}


def _station(rng: random.Random, name: str) -> dict[str, Any]:
    if rng.random() < 0.35:
        buffer: dict[str, Any] = {"name": name, "kind": "buffer", "servers": rng.randint(1, 12),
                                  "acknowledge": rng.random() < 0.5}
        if rng.random() < 0.5:
            buffer["capacity"] = rng.randint(5, 80)
        if rng.random() < 0.6:
            buffer["retry"] = {"max_attempts": rng.randint(1, 4), "backoff": rng.choice([0.05, 0.2]),
                               "multiplier": 2.0, "max_backoff": 1.0}
            if rng.random() < 0.5:
                buffer["retry"]["jitter"] = rng.choice(["full", 0.5])
            if rng.random() < 0.4:
                buffer["retry"]["budget"] = {"ratio": rng.choice([0.05, 0.2]), "burst": rng.choice([1, 5])}
            if rng.random() < 0.5:
                buffer["dead_letter"] = f"{name}-dlq"
            if rng.random() < 0.3:
                buffer["idempotency_key"] = True
        if rng.random() < 0.3:
            buffer["breaker"] = {"failure_rate": rng.choice([0.01, 0.2]), "window": 2.0, "min_calls": 3,
                                 "open_for": rng.choice([0.5, 3.0]), "probes": rng.randint(1, 3)}
        if rng.random() < 0.4:
            buffer["service"] = _service(rng)
        if rng.random() < 0.3:
            buffer["enqueue"] = {"dist": "deterministic", "mean": 0.002}
            buffer["enqueue_error"] = rng.choice([0.0, 0.02])
        return buffer
    station: dict[str, Any] = {"name": name, "service": _service(rng)}
    if rng.random() < 0.1:
        station["servers"] = "inf"
        if rng.random() < 0.5:
            station["errors"] = {"base": 0.01}
        return station
    station["servers"] = rng.randint(1, 10)
    if rng.random() < 0.4:
        station["errors"] = {"base": rng.choice([0.0, 0.001, 0.02])}
        if rng.random() < 0.6:
            station["errors"].update({"threshold": 0.6, "max": 0.3, "power": 2, "window": rng.choice([1.0, 4.0])})
        if rng.random() < 0.4:
            station["errors_after_work"] = rng.choice([0.3, 1.0])
    if rng.random() < 0.25:
        window = station.get("errors", {}).get("window", 2.0)
        station["slowdown"] = {"threshold": 0.7, "factor": 1.8, "window": window}
    if rng.random() < 0.25:
        station["timeout"] = rng.choice([0.05, 0.3])
    if rng.random() < 0.25:
        station["capacity"] = rng.randint(2, 30)
    if rng.random() < 0.2:
        station["shed_wait"] = rng.choice([0.05, 0.5])
    if rng.random() < 0.25:
        station["deadline"] = rng.choice([0.05, 0.3])
        station["on_deadline"] = rng.choice(["cancel", "continue"])
    return station


def random_network(case: int) -> dict[str, Any]:
    """A small random network: a chain with branches and exits, one or two sources, sometimes a deadline and
    steps to complete through."""
    rng = random.Random(case)
    n = rng.randint(2, 6)
    names = [f"s{i}" for i in range(n)]
    stations = [_station(rng, name) for name in names]
    routing = []
    for i in range(n):
        row = [0.0] * n
        later = list(range(i + 1, n))
        if later:
            targets = rng.sample(later, min(len(later), rng.randint(1, 2)))
            share = 1.0 if rng.random() < 0.6 else rng.choice([0.7, 0.9])
            for k, j in enumerate(targets):
                row[j] = round(share / len(targets), 6) if k < len(targets) - 1 else round(
                    share - sum(round(share / len(targets), 6) for _ in targets[:-1]), 6)
        routing.append(row)
    sources: list[dict[str, Any]] = []
    pay: dict[str, Any] = {"name": "pay", "entry": names[0],
                           "profile": [[0, 20], [10, 20], [15, rng.choice([40, 90])], [25, 60], [30, 20], [40, 20]]}
    if rng.random() < 0.5:
        pay["deadline"] = rng.choice([0.2, 1.0])
    if rng.random() < 0.5 and n >= 3:
        pay["complete_through"] = [[names[n - 1]]]
    sources.append(pay)
    if rng.random() < 0.5:
        sources.append({"name": "read", "entry": names[rng.randrange(n)], "rate": rng.choice([5.0, 15.0])})
    spec = {"sources": sources, "stations": stations, "routing": routing, "duration": 40.0,
            "drain": rng.choice([0.0, 5.0, 30.0])}
    spec["incidents"] = _incidents(random.Random(case + 1000), stations, sources)
    if rng.random() < 0.5:  # named windows of arrival time (drawn last: the other draws stay as they were)
        spec["windows"] = {"spike": [10.0, 30.0]} if rng.random() < 0.5 else {"a": [0.0, 12.5], "b": [15.0, 25.0]}
    return spec


def _incidents(rng: random.Random, stations: list[dict[str, Any]], sources: list[dict[str, Any]]) -> list[Any]:
    """Incidents in about two networks of three (their own stream, so the networks stay what they were), sometimes
    overlapping on one station."""
    out: list[dict[str, Any]] = []
    struck = [s for s in stations if s.get("kind") != "buffer"]
    if not struck or rng.random() < 0.35:
        return out
    for _ in range(rng.randint(1, 3)):
        st = rng.choice(struck)
        start = rng.choice([0.0, 5.0, 12.5, 20.0])
        window = {"start": start, "end": start + rng.choice([3.0, 8.0, 30.0])}
        kind = rng.choice(["brownout", "outage", "instances_lost", "surge"])
        if kind == "instances_lost" and st.get("servers") == "inf":
            kind = "brownout"
        if kind == "brownout":
            out.append({"kind": kind, "station": st["name"], **window, "latency_factor": rng.choice([1.0, 1.5, 4.0]),
                        "error": rng.choice([0.05, 0.3])})
        elif kind == "outage":
            out.append({"kind": kind, "station": st["name"], **window})
        elif kind == "instances_lost":
            st["instances"] = rng.choice([1, 2]) if st["servers"] % 2 == 0 else 1
            out.append({"kind": kind, "station": st["name"], **window, "instances": 1})
        else:
            out.append({"kind": kind, "source": rng.choice(sources)["name"], **window,
                        "factor": rng.choice([0.5, 2.0, 3.0])})
    return out


@pytest.mark.parametrize("case", range(30))
def test_random_networks_give_the_same_results_on_both_engines(case: int) -> None:
    spec = random_network(case)
    network = build_network(spec)  # every generated network is valid: a failure here is the generator's bug
    for seed, step in ((case + 1, 1.0), (case + 101, 0.37)):
        runs = []
        for engine in ("pure", "fast"):
            sim = Simulation(network, seed=seed, engine=engine)
            snaps = [snap.to_dict() for snap in sim.stream(step)]
            runs.append((json.dumps(snaps, sort_keys=True), json.dumps(sim.results().to_dict(), sort_keys=True)))
        assert runs[0][0] == runs[1][0], f"snapshots differ (case {case}, seed {seed})"
        assert runs[0][1] == runs[1][1], f"results differ (case {case}, seed {seed})"


@pytest.mark.parametrize("case", range(0, 30, 3))
def test_random_networks_in_requests_mode_give_the_same_metrics_on_both_engines(case: int) -> None:
    spec = random_network(case)
    spec["sources"] = [{**spec["sources"][0], "rate": 30.0, "profile": None}]
    spec["sources"][0].pop("profile")
    spec["incidents"] = [inc for inc in spec["incidents"] if inc.get("source", "pay") == "pay"]
    network = build_network(spec)
    figures = []
    for engine in ("pure", "fast"):
        sim = Simulation(network, seed=case, requests=3_000, warmup=200, engine=engine)
        metrics = sim.metrics(percentiles=(50, 99), wait_over=(0.05,))
        figures.append(json.dumps({"metrics": metrics, "results": sim.results().to_dict()}, sort_keys=True))
    assert figures[0] == figures[1]


def test_the_compiled_engine_is_built_and_runs_by_default() -> None:
    """`pip install -e .` (the README's `make run` / `make test`) builds it; without it every run is ~7x slower."""
    assert fast.AVAILABLE, "the compiled engine is not built: `make setup` (pip install -e .) builds it"
    assert Simulation(build_network(TANDEM), requests=10).engine == "fast"


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        Simulation(build_network(TANDEM), requests=10, engine="turbo")


def test_request_records_are_recycled_so_memory_follows_what_is_in_the_network() -> None:
    """No record per request beyond what the results need: a record returns to a free list when its request ends,
    so 20,000 requests through a stable tandem use as many records as were ever in the network at once."""
    sim = Simulation(build_network(TANDEM), seed=2, requests=20_000, engine="fast")
    peak = 0
    for _ in sim.stream(0.05):
        peak = max(peak, sim.outstanding)
    assert sim.n_arrived == 20_000
    assert 10 < sim.requests_allocated <= peak + 64  # at most a snapshot's worth of arrivals above the sampled peak
    assert sim.requests_allocated < 1_000
