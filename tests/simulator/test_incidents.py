"""Incidents against what the model predicts: a brownout stretches the services that start in its window and
raises the error rate of the visits that end in it, an outage fails every call in its window, lost instances leave
an M/M/c with fewer servers, a surge multiplies the rate's integral; on both engines, and a spec without incidents
gives the results it always gave."""

from __future__ import annotations

import json
import math
from collections.abc import Generator
from typing import Any

import pytest

from simulator import Simulation, SpecError, build_network
from simulator.analytic import mmc
from simulator.engine import run

from .replication import Estimate, t_quantile, z_quantile

ENGINES = ["pure", "fast"]


def _probe(sim: Simulation, times: list[float], read: Any) -> list[Any]:
    """Read `read(sim)` at each of `times` from a plain SimPy process on the run's clock."""
    seen: list[Any] = []

    def watch() -> Generator[Any, Any, None]:
        for t in times:
            yield sim.env.timeout(t - sim.env.now)
            seen.append(read(sim))

    sim.env.process(watch())
    return seen


def _delay(service: dict[str, Any], incidents: list[dict[str, Any]], rate: float = 20.0,
           duration: float = 60.0) -> dict[str, Any]:
    return {"arrival": {"name": "calls", "rate": rate},
            "stations": [{"name": "api", "servers": "inf", "service": service}],
            "duration": duration, "drain": 30.0, "incidents": incidents}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_brownout_multiplies_the_service_of_every_visit_that_starts_in_its_window(engine: str) -> None:
    """M/D/inf: a visit's sojourn is its service time, so exactly the arrivals in [20, 30) take 3 x 0.1 s."""
    spec = _delay({"dist": "deterministic", "mean": 0.1},
                  [{"kind": "brownout", "station": "api", "start": 20.0, "end": 30.0, "latency_factor": 3.0}])
    sim = Simulation(build_network(spec), seed=5, engine=engine)
    arrived = _probe(sim, [20.0, 30.0], lambda s: s.n_arrived)
    results = sim.results()
    sojourns = list(sim.nodes[0].sojourns)
    slow = sum(1 for x in sojourns if math.isclose(x, 0.3, rel_tol=1e-9))
    normal = sum(1 for x in sojourns if math.isclose(x, 0.1, rel_tol=1e-9))
    assert slow == arrived[1] - arrived[0] > 150
    assert slow + normal == len(sojourns) == results.station("api").completions
    assert results.to_dict()["incidents"] == [{"kind": "brownout", "station": "api", "start": 20.0, "end": 30.0,
                                               "latency_factor": 3.0, "error": 0.0}]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_brownouts_error_floor_fails_visits_ending_in_its_window_at_that_rate(engine: str) -> None:
    """Each visit that ends in the window fails with probability p, independently: the errors of R runs against
    Binomial(n, p), n the visits that ended in the window; none outside it (no base error)."""
    p = 0.2
    spec = _delay({"dist": "deterministic", "mean": 0.05},
                  [{"kind": "brownout", "station": "api", "start": 10.0, "end": 40.0, "error": p}], rate=30.0)
    network = build_network(spec)
    errors = ended = 0
    for seed in range(1, 11):
        sim = Simulation(network, seed=seed, engine=engine)
        done = _probe(sim, [10.0, 40.0], lambda s: s.nodes[0].completions)
        results = sim.results()
        errors += results.station("api").errors
        ended += done[1] - done[0]
    assert abs(errors - p * ended) <= z_quantile() * math.sqrt(ended * p * (1 - p)), (errors, ended)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_outage_fails_every_call_in_its_window(engine: str) -> None:
    """Arrivals in [15, 25) are refused at once and the calls in service at 15 fail when they end (D < 10 s): the
    errors are exactly those, and every one is the caller's error."""
    spec = _delay({"dist": "deterministic", "mean": 0.2},
                  [{"kind": "outage", "station": "api", "start": 15.0, "end": 25.0}])
    sim = Simulation(build_network(spec), seed=3, engine=engine)
    seen = _probe(sim, [15.0, 25.0], lambda s: (s.n_arrived, s.nodes[0].busy))
    results = sim.results()
    (arrived_15, busy_15), (arrived_25, _) = seen
    assert results.station("api").errors == arrived_25 - arrived_15 + busy_15
    assert results.overall.outcomes["error"] == results.station("api").errors > 150
    assert results.station("api").surfaced == results.station("api").errors


@pytest.mark.parametrize("engine", ENGINES)
def test_lost_instances_leave_the_station_an_mmc_with_the_servers_left(engine: str) -> None:
    """Four single-server instances, two lost for the whole run: the same waits as an M/M/2, sample for sample
    (same streams), and their mean is M/M/2's Wq over replications."""
    def spec(servers: int, lost: bool) -> dict[str, Any]:
        return {"arrival": {"rate": 1.2},
                "stations": [{"name": "w", "servers": servers, "instances": servers,
                              "service": {"dist": "exponential", "mean": 1.0}}],
                "incidents": [{"kind": "instances_lost", "station": "w", "start": 0.0, "end": 1e9, "instances": 2}]
                if lost else []}
    means = []
    for seed in range(1, 21):
        hit = Simulation(build_network(spec(4, True)), seed=seed, requests=6_000, warmup=1_000, engine=engine)
        two = Simulation(build_network(spec(2, False)), seed=seed, requests=6_000, warmup=1_000, engine=engine)
        m_hit, m_two = hit.metrics(), two.metrics()
        assert m_hit["w.Wq_mean"] == m_two["w.Wq_mean"] and m_hit["e2e.W_p99"] == m_two["e2e.W_p99"]
        means.append(float(m_hit["w.Wq_mean"]))  # type: ignore[arg-type]
    est = Estimate(sum(means) / len(means), _sd(means) / math.sqrt(len(means)), len(means))
    exact = mmc(1.2, 1.0, 2).Wq
    assert est.agrees_with(exact), est.explain(exact)


@pytest.mark.parametrize("engine", ENGINES)
def test_lost_instances_come_back_and_drain_the_backlog(engine: str) -> None:
    """lambda = 3 on 4 servers of rate 1, 2 lost in [0, 50): the queue grows at about 1/s in the window, then the
    four drain it at about 1/s; nothing is left at the end."""
    spec = {"arrival": {"name": "jobs", "rate": 3.0},
            "stations": [{"name": "w", "servers": 4, "instances": 4, "service": {"dist": "exponential", "mean": 1.0}}],
            "duration": 200.0, "drain": 100.0,
            "incidents": [{"kind": "instances_lost", "station": "w", "start": 0.0, "end": 50.0, "instances": 2}]}
    sim = Simulation(build_network(spec), seed=2, engine=engine)
    snaps = {round(s.t): s for s in sim.stream(1.0)}
    queue_at = {t: snaps[t].stations[0].queue for t in (50, 60, 200)}
    assert 25 <= queue_at[50] <= 80 and queue_at[60] < queue_at[50]
    assert queue_at[200] < 15
    assert max(s.stations[0].in_flight for t, s in snaps.items() if 5 < t <= 50) == 2
    assert max(s.stations[0].in_flight for t, s in snaps.items() if 51 <= t <= 60) == 4
    assert sim.results().overall.outcomes["completed"] == sim.results().overall.arrivals


def test_a_surge_multiplies_the_integral_of_the_rate_over_its_window() -> None:
    """Arrivals of a Poisson process = the integral of its rate; a surge x2.5 on the ramp [10, 30) of a profile
    (20/s -> 60/s) adds 1.5 x its integral (800): mean arrivals over R runs against the exact total."""
    spec = {"sources": [{"name": "pay", "profile": [[0, 20], [10, 20], [30, 60], [40, 60]]}],
            "stations": [{"name": "api", "servers": "inf", "service": {"dist": "exponential", "mean": 0.01}}],
            "incidents": [{"kind": "surge", "source": "pay", "start": 10.0, "end": 30.0, "factor": 2.5}]}
    network = build_network(spec)
    base = 20 * 10 + (20 + 60) / 2 * 20 + 60 * 10  # 1600
    exact = base + 1.5 * 800
    for engine in ENGINES:
        counts = [run(network, seed=seed, engine=engine).overall.arrivals for seed in range(1, 31)]
        mean = sum(counts) / len(counts)
        assert abs(mean - exact) <= t_quantile(len(counts) - 1) * math.sqrt(exact / len(counts)), (engine, mean)


def test_a_surge_on_a_constant_rate_source_keeps_the_rate_outside_its_window() -> None:
    spec = {"arrival": {"name": "a", "rate": 10.0}, "duration": 100.0,
            "stations": [{"name": "x", "servers": "inf", "service": {"dist": "deterministic", "mean": 0.0}}],
            "incidents": [{"kind": "surge", "source": "a", "start": 40.0, "end": 60.0, "factor": 3.0}]}
    sim = Simulation(build_network(spec), seed=1)
    seen = _probe(sim, [40.0, 60.0], lambda s: s.n_arrived)
    total = sim.results().overall.arrivals
    inside, outside = seen[1] - seen[0], total - (seen[1] - seen[0])
    assert abs(inside - 600) <= 4 * math.sqrt(600) and abs(outside - 800) <= 4 * math.sqrt(800)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_spec_with_no_incidents_gives_the_results_it_gave_without_the_field(engine: str) -> None:
    spec = _delay({"dist": "exponential", "mean": 0.1}, [])
    with_field = run(build_network(spec), seed=4, engine=engine).to_dict()
    spec.pop("incidents")
    without = run(build_network(spec), seed=4, engine=engine).to_dict()
    assert json.dumps(with_field, sort_keys=True) == json.dumps(without, sort_keys=True)
    assert "incidents" not in with_field


@pytest.mark.parametrize(("incident", "field", "message"), [
    ({"kind": "quake", "station": "api", "start": 1, "end": 2}, "incidents[0].kind", "must be one of"),
    ({"kind": "outage", "station": "nope", "start": 1, "end": 2}, "incidents[0].station", "unknown station"),
    ({"kind": "outage", "station": "q", "start": 1, "end": 2}, "incidents[0].station", "is a buffer"),
    ({"kind": "outage", "station": "api", "start": 5, "end": 5}, "incidents[0].end", "must be >"),
    ({"kind": "outage", "station": "api", "end": 5}, "incidents[0].start", "required"),
    ({"kind": "brownout", "station": "api", "start": 1, "end": 2}, "incidents[0].latency_factor", "needs"),
    ({"kind": "brownout", "station": "api", "start": 1, "end": 2, "error": 1.5}, "incidents[0].error", "<= 1"),
    ({"kind": "brownout", "station": "api", "start": 1, "end": 2, "latency_factor": 0.5},
     "incidents[0].latency_factor", ">= 1"),
    ({"kind": "instances_lost", "station": "api", "start": 1, "end": 2, "instances": 3}, "incidents[0].instances",
     "<= the station's instances"),
    ({"kind": "instances_lost", "station": "api", "start": 1, "end": 2}, "incidents[0].instances", "required"),
    ({"kind": "surge", "source": "web", "start": 1, "end": 2, "factor": 2}, "incidents[0].source", "unknown source"),
    ({"kind": "surge", "source": "pay", "start": 1, "end": 2}, "incidents[0].factor", "required"),
    ({"kind": "outage", "station": "api", "start": 1, "end": 2, "factor": 2}, "incidents[0].factor",
     "unknown field"),
])
def test_a_bad_incident_is_refused_naming_its_field(incident: dict[str, Any], field: str, message: str) -> None:
    spec = {"arrival": {"name": "pay", "rate": 1.0}, "duration": 10.0,
            "stations": [{"name": "api", "servers": 2, "instances": 2, "service": {"dist": "exponential", "mean": 1}},
                         {"name": "q", "kind": "buffer", "servers": 1}],
            "incidents": [incident]}
    with pytest.raises(SpecError) as err:
        build_network(spec)
    assert err.value.field == field and message in err.value.message, str(err.value)


def _sd(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
