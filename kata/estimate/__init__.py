"""The instant estimate: what queueing theory says about a design before any run, told as the grade would tell it.

It works on the network the simulator would run (`compile_design` → `build_network`), so the routing (even splits,
a cache forwarding only its misses at the hit ratio its TTL gives), the servers (instances × cores), the slots
(instances × concurrency, beyond which a request is refused), the queue writes, error curves and slowdowns are the
simulator's own, and the formulas are `simulator.analytic`'s.

- Rates flow at the normal and at the peak rate of every source. A queue passes on at most what its consumers can
  drain: consumers ÷ the time each holds a message (everything up to the exit or the next queue), and never more
  than the busiest part behind it can serve. Behind queues at most that many requests are in flight, so a part
  there waits as an M/M/c/K with K = the consumers; elsewhere it is M/M/c (M/M/c/K at its slots). A slowdown
  stretches service at the utilization it causes (a fixed point).
- Accept latency (the accept_p99_ms scenario's statistic) is a distribution on a grid: every part on the synchronous
  path adds its wait (the exact M/M/c or M/M/c/K wait distribution) and its service time (the part's own
  distribution), a queue its write and, when it does not acknowledge, its wait for a consumer; caches and splits mix
  the routes. Mean and p99 come from it, capped at the caller's deadline like the simulator's time-outs.
- Errors use the error_rate_pct scenario's definition: a request that met an error anywhere on its way to
  completion, retried or not: 1 − (1 − late) × Π(1 − vᵢ·fᵢ) over every part it visits (vᵢ visits per request, fᵢ its
  failure probability at the peak: the error curve, a refusal at full slots, a failed queue write), late = past the
  deadline.
- Settlement: what the queue's consumers drain against the source's rate profile (a fluid backlog through the spike
  and the recovery window), and the share of requests that could leave without passing the source's
  `complete_through` steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kata.compiler import compile_design
from kata.design import Design
from kata.estimate.grid import Grid
from kata.estimate.lint import cost_warnings, estimate_warnings
from kata.estimate.network import Level, NetworkModel, fluid_backlog
from kata.estimate.records import HEADROOM, Estimate, PartEstimate
from kata.grading import PEAK_WINDOW_STEPS
from kata.palette import Palette, TrafficSpec
from kata.runs.pool import STEP_SECONDS
from simulator.model import ServiceTime, Source

__all__ = ["Estimate", "PartEstimate", "design_estimate"]

PEAK_WINDOW_SECONDS = PEAK_WINDOW_STEPS * STEP_SECONDS  # the error scenario judges a part's busiest 10 s


def _busiest_window(utilization: float, rate: float, service: ServiceTime, steady: bool) -> float:
    """The expected busiest 10 s of a Poisson-fed part held at `utilization`: the busy time of a window varies by
    u·√((1 + scv)/(λ·W)) (a compound Poisson sum), and the busiest of a ten-minute hold sits about 2.3 of those above
    the mean. A part behind a backlogged queue is held steady by its closed population: no allowance."""
    if steady or rate <= 0 or utilization <= 0:
        return utilization
    spread = utilization * math.sqrt((1 + service.scv) / (rate * PEAK_WINDOW_SECONDS))
    return min(1.0, utilization + 2.3 * spread)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _part_estimate(model: NetworkModel, normal: Level, peak: Level, i: int, source: Source | None,
                   visits: list[float]) -> PartEstimate:
    """Station i at the normal and the peak rate."""
    st, name = model.stations[i], model.names[i]
    info, node = model.compiled.stations[name], model.design.node(name)
    wait = peak.waits[i]
    backlog_rate = max(0.0, peak.inflow[i] - peak.drain[i]) if st.is_buffer else 0.0
    settle = None
    if st.is_buffer and math.isfinite(peak.drain[i]):
        # A failed attempt holds a consumer and comes back for another: only the successes drain the backlog.
        reach = model.downstream[i]
        success = math.prod(1 - min(1.0, reach[j]) * model.failure(peak, j) for j in range(i + 1, model.n))
        settle = peak.drain[i] * success
    steady = model.population[i] is not None and any(
        peak.inflow[q] > peak.drain[q] for q in model.downstream if model.downstream[q][i] > 0)
    largest = 0.0
    if settle is not None and source is not None:
        largest = fluid_backlog(source.rate_at, visits[i], settle, model.network.traffic_end)[0]
    return PartEstimate(
        id=name, label=info.label, role=info.role, servers=int(st.servers),
        rate_normal=normal.inflow[i], rate_peak=peak.inflow[i],
        utilization_normal=min(1.0, normal.utilization[i]), utilization_peak=min(1.0, peak.utilization[i]),
        utilization_window_peak=(min(1.0, peak.utilization[i]) if st.is_buffer else _busiest_window(
            min(1.0, peak.utilization[i]), peak.inflow[i], st.service, steady)),
        wait_ms_peak=None if wait is None else wait.Wq * 1000,
        error_pct_peak=100 * model.failure(peak, i), refused_pct_peak=100 * peak.refused[i],
        cost_per_hour=info.cost_per_hour, backlog_per_second=backlog_rate, slots=info.slots,
        threshold=node.part.error_threshold or HEADROOM, hit_ratio=info.hit_ratio,
        drain_per_second=peak.drain[i] if st.is_buffer and math.isfinite(peak.drain[i]) else None,
        settle_per_second=settle,
        backlog_max=largest,
        capacity=int(st.capacity) if st.is_buffer and st.capacity is not None else None,
        offered_load_peak=0.0 if st.is_buffer else peak.utilization[i],
        slowdown_threshold=st.slowdown.threshold if st.slowdown is not None else None,
        slowdown_factor=st.slowdown.factor if st.slowdown is not None else 1.0,
    )


@dataclass(frozen=True)
class _Answer:
    """Accept latency (mean and p99, normal and peak, in ms), the share late at the peak and the error rate."""

    mean: dict[bool, float | None]
    p99: dict[bool, float | None]
    late: float
    error_pct: float


def _accept_and_errors(model: NetworkModel, grid: Grid, levels: dict[bool, Level], source: Source | None,
                       visits: list[float]) -> _Answer:
    mean: dict[bool, float | None] = {False: None, True: None}
    p99: dict[bool, float | None] = {False: None, True: None}
    if source is None:
        return _Answer(mean, p99, 0.0, 0.0)
    deadline, late = source.deadline, 0.0
    for is_peak, level in levels.items():
        dist = model.accept(grid, level, source)
        late_share = grid.late(dist)
        if deadline is not None:
            mean[is_peak] = _ms(grid.mean_capped(dist))
            quantile = grid.quantile(dist, 0.99)
            p99[is_peak] = _ms(deadline if quantile is None else quantile)
        else:
            mean[is_peak] = None if late_share > 1e-3 else _ms(grid.mean_capped(dist))
            p99[is_peak] = _ms(grid.quantile(dist, 0.99))
        if is_peak:
            late = late_share if deadline is not None else 0.0
    survive = 1.0 - late
    for i in range(model.n):
        survive *= 1.0 - min(1.0, visits[i]) * model.failure(levels[True], i)
    return _Answer(mean, p99, late, 100 * (1.0 - survive))


def _external_rates(model: NetworkModel, traffic_of: dict[str, TrafficSpec | None], peak: bool) -> dict[int, float]:
    rates: dict[int, float] = {}
    for src in model.network.sources:
        traffic = traffic_of[src.name]
        rate = (src.peak_rate if peak else traffic.base_rate) if traffic else 0.0
        rates[src.entry] = rates.get(src.entry, 0.0) + rate
    return rates


def design_estimate(design: Design, palette: Palette) -> Estimate:
    compiled = compile_design(design, palette)
    model = NetworkModel(design, palette, compiled)
    sources = {src.name: src for src in model.network.sources}
    traffic_of = {name: palette.traffic_for(key) for name, key in compiled.sources.items()}
    normal = model.level(_external_rates(model, traffic_of, False))
    peak = model.level(_external_rates(model, traffic_of, True))

    graded = palette.graded_traffic
    entry_name = next((n for n, t in traffic_of.items() if graded is not None and t is graded), None) \
        or next(iter(sources), None)
    source = sources.get(entry_name or "")
    traffic: TrafficSpec | None = traffic_of.get(entry_name or "")
    scenarios = [s for s in palette.scenarios
                 if s.source in (None, traffic.part if traffic else None) and not s.practice]
    accept_limit = next((s.threshold for s in scenarios if s.metric == "accept_p99_ms"), None)
    error_limit = next((s.threshold for s in scenarios if s.metric == "error_rate_pct"), None)
    deadline = source.deadline if source is not None else None
    grid = Grid(deadline or (10 * accept_limit / 1000 if accept_limit else 30.0))

    visits = model.visits(source.entry) if source is not None else [0.0] * model.n
    parts = [_part_estimate(model, normal, peak, i, source, visits) for i in range(model.n)]
    answer = _accept_and_errors(model, grid, {False: normal, True: peak}, source, visits)
    estimate = Estimate(
        parts=parts, accept_ms_normal=answer.mean[False], accept_ms_peak=answer.mean[True], error_pct=answer.error_pct,
        cost_per_hour=compiled.cost_per_hour, budget_per_hour=palette.budget_per_hour,
        accept_p99_ms_peak=answer.p99[True], accept_p99_ms_normal=answer.p99[False],
        deadline_ms=_ms(deadline), late_pct_peak=100 * answer.late,
        source_label=design.node(entry_name).label if entry_name else "",
        noun_many=traffic.noun_many if traffic else "requests",
        cheapest_cost_per_hour=palette.cheapest_cost_per_hour, accept_limit_ms=accept_limit,
        error_limit_pct=error_limit,
        bypass_pct=100 * sum(sum(by_step) for by_step in model.leaks(source).values()) if source is not None else 0.0,
    )
    if source is not None and traffic is not None:
        index = {name: i for i, name in enumerate(model.names)}
        by_id = {p.id: p for p in parts}
        estimate.warnings.extend(estimate_warnings(model, estimate, by_id, source, traffic, index, visits))
    estimate.warnings.extend(cost_warnings(estimate))
    return estimate
