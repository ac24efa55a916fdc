"""Observation: per-step snapshots, the final `Results` and the CLI's flat metrics, read from a `Simulation`'s
stations and sources (nothing here runs on the hot path)."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

import numpy as np

from ..results import (
    LogHistogram,
    Results,
    Snapshot,
    SourceResult,
    SourceSnapshot,
    StationResult,
    StationSnapshot,
    summarize,
)
from .arrivals import SourceStats
from .overload import unstable
from .stations import Node

if TYPE_CHECKING:  # the simulation imports this module
    from .core import Simulation

__all__ = ["Observer", "duration_progress", "p3"]


def duration_progress(now: float, traffic_end: float, horizon: float) -> float:
    """Most of a run is its traffic; the drain usually ends early, so it gets the last 5 % of the bar."""
    if now <= traffic_end:
        return 0.95 * now / traffic_end if traffic_end > 0 else 0.95
    drain = horizon - traffic_end
    return min(1.0, 0.95 + 0.05 * ((now - traffic_end) / drain if drain > 0 else 1.0))


class Observer:
    """What a run's snapshots have seen so far: the series, the latency histograms and the read positions."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.series: list[dict[str, Any]] = []
        self.accept_hist = LogHistogram()
        self.settle_hist = LogHistogram()
        # (accept, settle) samples already read, per stats object: each source's own, then its windows'
        self.groups = [[main, *sim.window_stats[j]] for j, main in enumerate(sim.stats)]
        self.read_upto = [[(0, 0) for _ in group] for group in self.groups]
        self.flat = [st for group in self.groups for st in group]
        self.snapshot_at = 0.0

    def _station_snapshot(self, node: Node, now: float, dt: float) -> StationSnapshot:
        area = node.area_at(now)
        a0, c0, e0, r0 = node.at_last_snapshot
        node.at_last_snapshot = (area, node.completions, node.errors, node.rejected)
        util = None
        if not node.spec.infinite and dt > 0:
            util = (area - a0) / (node.servers * dt)
        return StationSnapshot(node.name, util, node.queued, node.busy,
                               (node.completions - c0) / dt if dt > 0 else 0.0, node.errors - e0, node.rejected - r0)

    def _new_latencies(self) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The accept and settle latencies recorded since the previous snapshot, sorted: all sources' together,
        then each source's own."""
        acc_step = array("d")
        set_step = array("d")
        parts = []
        for j, group in enumerate(self.groups):
            acc_j = array("d")
            set_j = array("d")
            for k, st in enumerate(group):
                pa, ps = self.read_upto[j][k]
                acc_j += st.accept[pa:]
                set_j += st.settle[ps:]
                self.read_upto[j][k] = (len(st.accept), len(st.settle))
            acc_step += acc_j
            set_step += set_j
            parts.append((acc_j, set_j))
        # Sorted once by numpy (a step's few hundred values): the step percentiles read it, and the histogram's
        # bucket search is quicker on sorted values.
        acc_sorted = np.sort(np.frombuffer(acc_step, dtype=float))
        set_sorted = np.sort(np.frombuffer(set_step, dtype=float))
        if len(parts) == 1:
            return acc_sorted, set_sorted, [(acc_sorted, set_sorted)]
        return acc_sorted, set_sorted, [(_sorted(a), _sorted(b)) for a, b in parts]

    def snapshot(self, now: float) -> Snapshot:
        """The step ending at `now` (also kept in the series the results carry)."""
        sim = self.sim
        dt = now - self.snapshot_at
        self.snapshot_at = now
        stations = tuple(self._station_snapshot(node, now, dt) for node in sim.nodes)
        acc_sorted, set_sorted, per_source = self._new_latencies()
        self.accept_hist.add(acc_sorted)
        self.settle_hist.add(set_sorted)
        flat = self.flat
        counts = [st.counts() for st in flat]
        outcomes = counts[0] if len(counts) == 1 else {k: sum(c[k] for c in counts) for k in counts[0]}
        arrivals = sum(st.arrivals for st in flat)
        sources = []
        acc_p3 = set_p3 = None
        k = 0
        for group, (acc_j, set_j) in zip(self.groups, per_source, strict=True):
            met = arrived = 0
            for st in group:
                c = counts[k]
                k += 1
                met += c["error"] + c["failed"] + st.met_error_ok
                arrived += st.arrivals
            acc_p3, set_p3 = p3(acc_j.tolist()), p3(set_j.tolist())
            sources.append(SourceSnapshot(group[0].name, arrived, acc_p3, set_p3, met))
        if len(sources) > 1:
            acc_p3 = set_p3 = None  # the sources' together: read from the merged sample below
        if sim.mode == "duration":
            progress = 1.0 if sim.done else duration_progress(now, sim.network.traffic_end, sim.horizon)
        else:
            progress = 1.0 if sim.done else min(1.0, (sim.n_arrived - sim.outstanding) / float(sim.limit))
        snap = Snapshot(
            t=now,
            progress=progress,
            stations=stations,
            accept_step=acc_p3 if acc_p3 is not None else p3(acc_sorted.tolist()),
            settle_step=set_p3 if set_p3 is not None else p3(set_sorted.tolist()),
            accept_so_far=_three(self.accept_hist.quantiles((0.5, 0.95, 0.99))),
            settle_so_far=_three(self.settle_hist.quantiles((0.5, 0.95, 0.99))),
            arrivals=arrivals,
            outcomes=outcomes,
            error_rate=(outcomes["error"] + outcomes["failed"]) / arrivals if arrivals else None,
            cost_per_hour=sim.cost_per_hour,
            cost_so_far=sim.cost_per_hour * now / 3600.0,
            sources=tuple(sources),
        )
        self.series.append(snap.to_dict())
        return snap

    def results(self, end: float) -> Results:
        """The full, deterministic `Results` of a finished run that ended at `end`."""
        sim = self.sim
        names = [node.name for node in sim.nodes]
        windows = [name for name, _, _ in sim.network.windows]
        sources = tuple(source_result(group[0].name, group, names,
                                      {w: source_result(group[0].name, [st], names) for w, st in zip(windows, group[1:],
                                                                                                     strict=True)})
                        for group in self.groups)
        overall = sources[0] if len(sources) == 1 else source_result("all", sim.all_stats, names)
        return Results(
            mode=sim.mode,
            seed=sim.seed,
            end_time=end,
            warmup=sim.warmup,
            stations=tuple(station_result(node, end, None if node.spec.infinite else sim.meter.utilization_peak(k),
                                          unstable(sim.meter, k, node.spec))
                           for k, node in enumerate(sim.nodes)),
            sources=sources,
            overall=overall,
            cost_per_hour_peak=sim.cost_per_hour,
            cost_total=sim.cost_per_hour * end / 3600.0,
            time_series=tuple(self.series),
            incidents=tuple(inc.to_dict() for inc in sim.network.incidents),
        )


def station_result(node: Node, end: float, utilization_peak: float | None,
                   overload: dict[str, Any] | None = None) -> StationResult:
    """A station's figures at the end of a run."""
    area = node.area_at(end)
    arrivals = node.arrivals
    breaker = getattr(node, "breaker", None)
    return StationResult(
        name=node.name,
        kind=node.spec.kind,
        servers=None if node.spec.infinite else int(node.servers),
        arrivals=arrivals,
        admitted=arrivals - node.rejected,
        rejected=node.rejected,
        completions=node.completions,
        errors=node.errors,
        recovered=node.recovered,
        exhausted=node.exhausted,
        surfaced=node.surfaced,
        lost=node.lost,
        error_rate=(node.errors + node.rejected) / arrivals if arrivals else None,
        utilization=None if node.spec.infinite or end <= 0 else area / (node.servers * end),
        utilization_peak=utilization_peak,
        mean_in_service=area / end if end > 0 else 0.0,
        max_queue=node.max_queue,
        wait=summarize(node.all_waits()),
        sojourn=summarize(node.sojourns),
        abandoned=getattr(node, "abandoned", 0),
        budget_refused=_refused(node),
        short_circuited=breaker.short_circuited if breaker is not None else 0,
        breaker_opened=breaker.opened if breaker is not None else 0,
        dead_letters=getattr(node, "dead_letters", 0),
        duplicates=getattr(node, "duplicates", 0),
        unstable=overload,
    )


def _refused(node: Node) -> int:
    gate = getattr(node, "gate", None)  # a buffer's, with jitter or a budget
    return 0 if gate is None else int(gate.refused)


def station_metrics(node: Node, qs: list[float], percentiles: tuple[float, ...], wait_over: tuple[float, ...],
                    span: float, busy: float) -> dict[str, float | None]:
    """A station's CLI metrics over the window [arrival #warmup, last arrival] of `span` seconds."""
    name = node.name
    wq = node.all_waits()
    w = np.asarray(node.sojourns, dtype=float)
    admitted = int(wq.size)
    reached = admitted + node.counted_rejected
    out: dict[str, float | None] = {}
    out[f"{name}.Wq_mean"] = float(wq.mean()) if admitted else None
    out[f"{name}.W_mean"] = float(w.mean()) if admitted else None
    wq_q = np.quantile(wq, qs).tolist() if admitted else [None] * len(qs)
    w_q = np.quantile(w, qs).tolist() if admitted else [None] * len(qs)
    for p, a, b in zip(percentiles, w_q, wq_q, strict=False):
        out[f"{name}.W_p{p:g}"] = a
        out[f"{name}.Wq_p{p:g}"] = b
    for T in wait_over:
        out[f"{name}.P_Wq_gt_{T:g}"] = float((wq > T).mean()) if admitted else None
    out[f"{name}.prob_wait"] = float((wq > 0).mean()) if admitted else None
    if not node.spec.infinite:
        out[f"{name}.utilization"] = busy / (node.servers * span) if span > 0 else None
    out[f"{name}.throughput"] = admitted / span if span > 0 else None
    out[f"{name}.arrival_rate"] = reached / span if span > 0 else None
    out[f"{name}.blocking_prob"] = node.counted_rejected / reached if reached else None
    spec = node.spec  # the patterns' counts, only for a station that has the pattern (the CLI's keys stay stable)
    if spec.deadline is not None:
        out[f"{name}.abandoned"] = getattr(node, "abandoned", 0)
    if spec.breaker is not None:
        breaker = getattr(node, "breaker", None)  # a buffer's (either engine's)
        out[f"{name}.short_circuited"] = breaker.short_circuited if breaker is not None else 0
    if spec.retry is not None and spec.retry.budget_ratio is not None:
        out[f"{name}.budget_refused"] = _refused(node)
    if spec.dead_letter is not None:
        out[f"{name}.dead_letters"] = getattr(node, "dead_letters", 0)
    if spec.errors_after_work:
        out[f"{name}.duplicates"] = getattr(node, "duplicates", 0)
    return out


def e2e_metrics(sim: Simulation, qs: list[float], percentiles: tuple[float, ...],
                span: float) -> dict[str, float | None]:
    """The end-to-end CLI metrics: sojourn in the network, and by exit station."""
    out: dict[str, float | None] = {}
    e2e = np.asarray(joined([st.sojourn for st in sim.all_stats]), dtype=float)
    out["e2e.W_mean"] = float(e2e.mean()) if e2e.size else None
    e2e_q = np.quantile(e2e, qs).tolist() if e2e.size else [None] * len(qs)
    for p, a in zip(percentiles, e2e_q, strict=False):
        out[f"e2e.W_p{p:g}"] = a
    out["e2e.throughput"] = int(e2e.size) / span if span > 0 else None
    for k, node in enumerate(sim.nodes):
        exits = joined([st.exits[k] for st in sim.all_stats])
        out[f"e2e.W_mean_exit_{node.name}"] = float(np.mean(exits)) if exits else None
        out[f"e2e.frac_exit_{node.name}"] = len(exits) / e2e.size if e2e.size else None
    return out


_EMPTY = np.zeros(0)


def _sorted(values: array[float]) -> np.ndarray:
    return np.sort(np.frombuffer(values, dtype=float)) if values else _EMPTY


def _three(xs: list[float | None]) -> tuple[float | None, float | None, float | None]:
    return (xs[0], xs[1], xs[2])


def p3(xs: list[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95, p99 of a sorted sample as numpy.quantile(linear) computes them; in pure Python, which is faster on
    a step's few hundred values."""
    if not xs:
        return (None, None, None)
    last = len(xs) - 1
    out = []
    for p in (0.5, 0.95, 0.99):  # a loop rather than a nested function: this runs twice per snapshot
        pos = p * last
        i = int(pos)
        out.append(xs[last] if i >= last else xs[i] + (xs[i + 1] - xs[i]) * (pos - i))
    return (out[0], out[1], out[2])


def joined(parts: list[array[float]]) -> array[float]:
    """One array of every part's samples (the part itself when there is one)."""
    if len(parts) == 1:
        return parts[0]
    out = array("d")
    for part in parts:
        out.extend(part)
    return out


def _leaks(stats: list[SourceStats], names: list[str]) -> dict[str, list[int]]:
    leaks: dict[str, list[int]] = {}
    for st in stats:
        for name_i, by_step in zip(names, st.leaks, strict=False):
            if any(by_step):
                row = leaks.setdefault(name_i, [0] * len(by_step))
                if len(row) < len(by_step):
                    row.extend([0] * (len(by_step) - len(row)))
                for k, count in enumerate(by_step):
                    row[k] += count
    return leaks


def source_result(name: str, stats: list[SourceStats], names: list[str],
                  windows: dict[str, SourceResult] | None = None) -> SourceResult:
    """The figures of one source, or of several together (a source's windows' figures beside them)."""
    arrivals = sum(st.arrivals for st in stats)
    counts = [st.counts() for st in stats]
    outcomes = {k: sum(c[k] for c in counts) for k in counts[0]}
    leaks = _leaks(stats, names)
    return SourceResult(
        name=name,
        arrivals=arrivals,
        outcomes=outcomes,
        unfinished=sum(st.unfinished for st in stats),
        unfinished_acked=sum(st.unfinished_acked for st in stats),
        accept=summarize(joined([st.accept for st in stats])),
        settle=summarize(joined([st.settle for st in stats])),
        sojourn=summarize(joined([st.sojourn for st in stats])),
        retries=sum(st.retries for st in stats),
        error_rate=(outcomes["error"] + outcomes["failed"]) / arrivals if arrivals else None,
        met_error=outcomes["error"] + outcomes["failed"] + sum(st.met_error_ok for st in stats),
        timeouts=sum(st.timeouts for st in stats),
        unsettled=sum(sum(row) for row in leaks.values()),
        leaks=leaks,
        dead_lettered=sum(st.dead_lettered for st in stats),
        duplicates=sum(st.duplicates for st in stats),
        windows=windows or {},
    )
