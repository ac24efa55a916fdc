"""The engine shares its environment with plain SimPy: processes, timeouts and the events they wait on run in time
order with the engine's own events, see the right clock, and change nothing in the engine's results."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from simulator import Simulation, build_network
from simulator.bench import TANDEM, clearpay_spec
from simulator.engine import Clock


def dump(res: Any) -> str:
    return json.dumps(res.to_dict(), sort_keys=True)


def _watchers(sim: Simulation, log: list[tuple[str, float, int]]) -> None:
    """A process that sleeps to chosen times, and one that waits on an event the first succeeds at 12.5 s."""
    env = sim.env
    signal = env.event()

    def sleeper() -> Generator[simpy.Event, Any, None]:
        for delay in (0.25, 2.0, 10.25, 7.5):
            yield env.timeout(delay)
            log.append(("tick", env.now, sim.n_arrived))
            if env.now == 12.5:
                signal.succeed("go")

    def waiter() -> Generator[simpy.Event, Any, None]:
        value = yield signal
        log.append((f"woken:{value}", env.now, sim.n_arrived))

    env.process(sleeper())
    env.process(waiter())


ENGINES = pytest.mark.parametrize("engine", ["pure", "fast"])


@ENGINES
def test_a_plain_simpy_process_interleaves_with_the_engine_and_changes_nothing(engine: str) -> None:
    spec = clearpay_spec(duration=30.0, status=True)
    alone = Simulation(build_network(spec), seed=11, engine=engine)
    alone_snaps = [(s.t, s.arrivals) for s in alone.stream(step=0.5)]
    shared = Simulation(build_network(spec), seed=11, engine=engine)
    log: list[tuple[str, float, int]] = []
    _watchers(shared, log)
    shared_snaps = [(s.t, s.arrivals) for s in shared.stream(step=0.5)]
    assert [(name, t) for name, t, _ in log] == [("tick", 0.25), ("tick", 2.25), ("tick", 12.5), ("woken:go", 12.5),
                                               ("tick", 20.0)]
    arrivals_at = dict(alone_snaps)
    for name, t, arrived in log:
        # the engine has run exactly its events before t: between the arrivals of the snapshots around t
        before = arrivals_at[(int(t * 2)) / 2] if t >= 0.5 else 0
        after = arrivals_at[(int(t * 2) + 1) / 2]
        assert before <= arrived <= after, (name, t)
    assert shared_snaps == alone_snaps
    assert dump(shared.results()) == dump(alone.results())


@ENGINES
def test_engine_entries_and_simpy_events_at_one_time_run_in_the_order_they_were_scheduled(engine: str) -> None:
    """One FIFO order at equal times (the shared event counter), with SimPy's URGENT events (a process's start)
    first, as on a plain environment; on the pure engine's `Clock` and on the compiled engine's."""
    clock = Simulation(build_network(TANDEM), requests=1, engine=engine).env  # not started: an empty calendar
    assert isinstance(clock, Clock) and type(clock).__name__ == ("Clock" if engine == "pure" else "FastClock")
    order: list[str] = []

    def engine(name: str, now: float) -> None:
        order.append(f"{name}@{now:g}")

    def proc() -> Generator[simpy.Event, Any, None]:
        order.append(f"start@{clock.now:g}")
        yield clock.timeout(2.0)
        order.append(f"timeout@{clock.now:g}")

    clock.at(2.0, engine, "a")
    clock.process(proc())  # starts at 0 (URGENT); when it runs, schedules its timeout for 2.0, after "a" and "b"
    clock.at(2.0, engine, "b")
    clock.at(0.0, engine, "zero")
    clock.advance(1.0)
    assert order == ["start@0", "zero@0"] and clock.now == 1.0
    clock.at(2.0, engine, "c")
    clock.advance(3.0)
    assert order[2:] == ["a@2", "b@2", "timeout@2", "c@2"] and clock.now == 3.0 and clock.peek() == float("inf")


@ENGINES
def test_simpy_run_until_drives_the_engine_and_requests_mode_ends_with_the_engine(engine: str) -> None:
    net = build_network(TANDEM)
    alone = Simulation(net, seed=3, requests=5_000, warmup=100, engine=engine)
    expected = alone.metrics()
    shared = Simulation(net, seed=3, requests=5_000, warmup=100, engine=engine)
    ticks: list[float] = []

    def forever() -> Generator[simpy.Event, Any, None]:
        while True:  # a process that never ends: the run still ends with its last request
            yield shared.env.timeout(1.0)
            ticks.append(shared.env.now)

    shared.env.process(forever())
    shared.run_to_end()
    assert shared.done and ticks[:3] == [1.0, 2.0, 3.0]
    assert shared.metrics() == expected
    assert dump(shared.results()) == dump(alone.results())
    shared.env.run(until=shared.env.now + 5.0)  # SimPy's own loop goes on after the engine's end
    end = shared.results().end_time
    assert ticks[-1] == int(end) + 5.0 and shared.env.now == end + 5.0
    assert dump(shared.results()) == dump(alone.results()), "the run's results keep the end of the run"


@ENGINES
def test_simpy_s_own_run_loop_processes_engine_events(engine: str) -> None:
    sim = Simulation(build_network(clearpay_spec(duration=20.0)), seed=2, engine=engine)
    sim.stream(step=1.0)  # not started yet: starting is the first step's job
    list(zip(range(1), sim.stream(step=1.0), strict=False))
    arrived = sim.n_arrived
    sim.env.run(until=5.0)
    assert sim.env.now == 5.0 and sim.n_arrived > arrived > 0
    assert sim.env.peek() >= 5.0  # as on a plain environment, run(until) leaves its stop event queued
