"""Request traces: a traced pure run is the untraced run to the last bit, its timelines agree with the engine's own
counters and with the buffer's backoff law, and what it keeps stays within its caps however long the run."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from simulator import Simulation, build_network
from simulator.bench import clearpay_spec
from simulator.engine.trace import CATEGORIES, Trace, TraceCaps, TracedSimulation

from .test_pinned_results import EVERYTHING

pytestmark = pytest.mark.filterwarnings("error")


def _streamed(spec: dict[str, Any], seed: int, **kw: Any) -> tuple[Simulation, dict[str, Any]]:
    sim = Simulation(build_network(spec), seed=seed, **kw)
    for _ in sim.stream(step=1.0):
        pass
    return sim, sim.results().to_dict()


def _dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


@pytest.fixture(scope="module")
def everything() -> TracedSimulation:
    sim, _ = _streamed(EVERYTHING, 5, trace=TraceCaps())
    assert isinstance(sim, TracedSimulation)
    return sim


def _all(sim: TracedSimulation) -> list[Trace]:
    return list(sim.traces().traces.values())


@pytest.mark.parametrize("engine", ["pure", "fast"])
@pytest.mark.parametrize("case", ["everything", "clearpay"])
def test_traced_replay_gives_the_runs_results_bit_for_bit(case: str, engine: str) -> None:
    """Concept: tracing observes and never acts (no draw, no event), so a traced replay is the run it traces."""
    spec = EVERYTHING if case == "everything" else clearpay_spec(duration=120.0, status=True)
    _, plain = _streamed(spec, 7, engine=engine)
    traced, results = _streamed(spec, 7, trace=TraceCaps())
    assert traced.engine == "pure"
    assert _dump(results) == _dump(plain)


def test_tracing_insists_on_the_pure_engine() -> None:
    with pytest.raises(ValueError, match="pure engine"):
        Simulation(build_network(EVERYTHING), seed=1, engine="fast", trace=TraceCaps())


def test_a_traces_timeline_is_consistent(everything: TracedSimulation) -> None:
    """Concept: a request is at one place at a time, so its hops follow each other; a wait is start − arrival."""
    traces = _all(everything)
    assert len(traces) > 50
    for trace in traces:
        hops = trace.hops
        assert hops and hops[0].arrived == trace.entered
        previous_end = trace.entered
        for hop in hops:
            assert hop.arrived >= previous_end - 1e-12
            if hop.started is not None:
                assert hop.wait == hop.started - hop.arrived and hop.wait >= 0
                assert hop.ended is not None and hop.ended >= hop.started
            if hop.ended is not None:
                previous_end = hop.ended
        if trace.reason != "unfinished":
            assert hops[-1].ended == trace.ended  # its span is its life
        assert trace.ended >= trace.entered


def test_a_completed_requests_sojourn_and_accept_latency_are_the_engines(everything: TracedSimulation) -> None:
    """Concept: the trace's span is the very sojourn the engine recorded for that request (same floats)."""
    stats = {st.name: st for st in everything.stats}
    completed = [t for t in _all(everything) if t.outcome == "completed"]
    assert len(completed) > 30
    for trace in completed:
        st = stats[trace.source]
        assert trace.sojourn in set(st.sojourn)
        assert trace.accept is not None and trace.accept in set(st.accept)
    slowest = everything.traces().category("pay", "slowest")
    assert slowest[0].sojourn == max(stats["pay"].sojourn)  # the first kept is the slowest of the run
    assert [t.sojourn for t in slowest] == sorted((t.sojourn for t in slowest), reverse=True)
    slow_accept = everything.traces().category("pay", "slow_accept")
    assert slow_accept[0].accept == max(stats["pay"].accept)


def test_retries_follow_the_buffers_backoff_law(everything: TracedSimulation) -> None:
    """Concept: after k attempts a failed call re-enters its buffer after backoff · multiplier^(k−1), capped."""
    policy = everything.network.stations[1].retry
    assert policy is not None
    retried = 0
    for trace in _all(everything):
        for before, hop in zip(trace.hops, trace.hops[1:], strict=False):
            if hop.backoff is None:
                continue
            retried += 1
            assert hop.station == "q" and before.result in ("error", "timeout", "rejected")
            assert hop.arrived == pytest.approx(before.ended + hop.backoff, abs=1e-9)
            if hop.attempt is not None:
                assert 2 <= hop.attempt <= policy.max_attempts
                assert hop.backoff == pytest.approx(policy.delay(hop.attempt - 1), rel=1e-9)
    assert retried > 20


def test_a_traces_outcome_matches_its_timeline(everything: TracedSimulation) -> None:
    policy = everything.network.stations[1].retry
    assert policy is not None
    kept = everything.traces()
    for source, categories in kept.kept.items():
        for category, numbers in categories.items():
            for n in numbers:
                trace = kept.traces[n]
                assert trace.source == source
                if category in ("error", "failed", "dropped"):
                    assert trace.outcome == category
                if category == "recovered":
                    assert trace.outcome == "completed" and trace.met_error
                    assert any(h.result != "ok" for h in trace.hops)
    by_outcome: dict[str, list[Trace]] = {}
    for trace in kept.traces.values():
        by_outcome.setdefault(trace.outcome, []).append(trace)
        if trace.outcome == "completed":
            assert trace.hops[-1].result == "ok"
        if trace.met_error:
            assert any(h.result in ("error", "timeout", "rejected") for h in trace.hops)
    for trace in by_outcome["failed"]:
        assert trace.reason == "out of retries"
        failed = [h for h in trace.hops if h.result != "ok"]
        assert max(h.attempt or 0 for h in failed) == policy.max_attempts
    for trace in by_outcome["dropped"]:
        assert trace.reason in ("rejected", "unsettled", "unfinished")
        if trace.reason == "unsettled":  # left without its gateway or ledger step
            assert trace.hops[-1].result == "ok"
            assert not {"g", "l"} <= {h.station for h in trace.hops if h.result == "ok"}
    for trace in by_outcome["error"]:
        assert trace.reason in ("failed call", "gave up", "rejected", "unfinished")
        if trace.reason == "gave up":
            assert trace.accept == 0.5  # the caller's deadline


def test_traces_are_deterministic() -> None:
    a, _ = _streamed(EVERYTHING, 3, trace=TraceCaps())
    b, _ = _streamed(EVERYTHING, 3, trace=TraceCaps())
    assert isinstance(a, TracedSimulation) and isinstance(b, TracedSimulation)
    assert _dump(a.traces().to_dict()) == _dump(b.traces().to_dict())


def test_memory_stays_bounded_on_a_long_run() -> None:
    """Concept: kept traces ≤ the caps, and the tracer follows only the requests in the network (≤ in flight)."""
    spec = copy.deepcopy(EVERYTHING)
    spec["duration"] = 900.0
    spec["sources"][0]["profile"] = [[0, 40], [300, 40], [330, 120], [400, 120], [430, 40], [900, 40]]
    caps = TraceCaps(slowest=5, slow_accept=5, per_outcome=4, recovered=3, sample=6, hops=6)
    sim, results = _streamed(spec, 2, trace=caps)
    assert isinstance(sim, TracedSimulation)
    assert sum(src["arrivals"] for src in results["sources"]) > 60_000
    tracer = sim.tracer
    assert not tracer.live  # everything finished or was closed at the horizon
    assert 0 < tracer.peak_live <= tracer.peak_outstanding < 2_000
    traces = sim.traces()
    assert len(traces.traces) == tracer.retained <= caps.total * len(spec["sources"])
    for source, categories in traces.kept.items():
        assert set(categories) == set(CATEGORIES)
        assert len(categories["slowest"]) <= caps.slowest and len(categories["sample"]) == caps.sample
        assert len(categories["failed"]) <= caps.per_outcome and len(categories["recovered"]) <= caps.recovered
        assert traces.seen[source]["sample"] == next(s["arrivals"] for s in results["sources"] if s["name"] == source)
    assert all(len(t.hops) <= caps.hops for t in traces.traces.values())
    assert any(t.hops_dropped for t in traces.traces.values())  # retries made some lives longer than the cap
    assert len(json.dumps(traces.to_dict())) < 60_000
