"""Frozen output records: per-step `Snapshot`s for streaming and the full `Results` of a run.

Every record has `to_dict()` returning plain JSON-able values (floats, ints, strings, None for "undefined", never NaN),
so `json.dumps(results.to_dict(), sort_keys=True)` is byte-identical for the same spec and seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LatencySummary", "StationSnapshot", "SourceSnapshot", "Snapshot", "StationResult", "SourceResult",
           "Results", "LogHistogram", "summarize", "OUTCOMES"]

OUTCOMES = ("completed", "settled", "error", "failed", "dropped")
"""Outcome counters. "settled" counts the acknowledged subset of "completed"; the other four are disjoint."""


def _fields(obj: Any) -> dict[str, Any]:
    """Shallow field dict with nested records converted (dataclasses.asdict deep-copies, which is slow)."""
    out = {}
    for name in obj.__slots__:
        v = getattr(obj, name)
        out[name] = v.to_dict() if hasattr(v, "to_dict") else v
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """count, mean and percentiles (numpy.quantile, linear) of a latency sample, in seconds; None when empty."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return _clean(_fields(self))


def summarize(sample: Sequence[float] | np.ndarray) -> LatencySummary:
    """Summarize a sample exactly (mean, p50/p95/p99 by numpy.quantile linear, max)."""
    if len(sample) == 0:
        return LatencySummary(0, None, None, None, None, None)
    arr = np.asarray(sample, dtype=float)
    p50, p95, p99 = np.quantile(arr, [0.5, 0.95, 0.99]).tolist()
    return LatencySummary(int(arr.size), float(arr.mean()), p50, p95, p99, float(arr.max()))


def _bucket_mids(lo: float, per_e: float, size: int) -> list[float]:
    """The value a `LogHistogram` reports per bucket: 0 for bucket 0, else the bucket's geometric middle."""
    return [0.0] + [lo * math.exp((b - 0.5) / per_e) for b in range(1, size)]


class LogHistogram:
    """Log-bucketed latency histogram: O(1) memory, percentiles within ~0.5 % relative error.

    Buckets are 1 % wide from 0.1 ms up; bucket 0 holds everything below 0.1 ms (reported as 0). Used for the
    "so far" percentiles of snapshots, where re-sorting everything each step would be quadratic.
    """

    LO = 1e-4
    PER_E = 100.0
    SIZE = 2400  # up to 1e-4 * e**24 ~ 2.6e6 s
    # Bucket b >= 1 holds [LO * e**((b-1)/PER_E), LO * e**(b/PER_E)); the last one is open-ended. A snapshot adds
    # a step's few hundred values, so the cost is numpy's per-call overhead: one searchsorted on the edges is
    # several calls fewer than computing log-buckets.
    EDGES = LO * np.exp(np.arange(SIZE - 1) / PER_E)
    MIDS = _bucket_mids(LO, PER_E, SIZE)

    def __init__(self) -> None:
        self.counts = np.zeros(self.SIZE, dtype=np.int64)
        self.total = 0

    def add(self, values: Sequence[float] | np.ndarray) -> None:
        """Add a batch of values."""
        if len(values) == 0:
            return
        np.add.at(self.counts, self.EDGES.searchsorted(values, side="right"), 1)
        self.total += len(values)

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Approximate quantiles (0..1): the geometric middle of the bucket holding each."""
        if self.total == 0:
            return [None for _ in qs]
        ranks = [max(1, math.ceil(q * self.total)) for q in qs]
        mids = self.MIDS
        return [mids[b] for b in self.counts.cumsum().searchsorted(ranks, side="left").tolist()]


@dataclass(frozen=True, slots=True)
class StationSnapshot:
    """One station during one step: utilization and throughput over the step, queue and in_flight now."""

    name: str
    utilization: float | None  # busy servers / servers averaged over the step; None for infinite servers
    queue: int  # waiting now
    in_flight: int  # in service now (for a buffer: consumer slots held)
    throughput: float  # completions per second in the step
    errors: int  # errored visits in the step
    rejected: int  # arrivals rejected (full) in the step

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (all values are finite by construction, so no cleaning pass: this runs every step)."""
        return {"name": self.name, "utilization": self.utilization, "queue": self.queue,
                "in_flight": self.in_flight, "throughput": self.throughput, "errors": self.errors,
                "rejected": self.rejected}


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    """One traffic source during one step: its own latencies over the step (p50, p95, p99 in seconds), and its
    arrivals and the requests that met an error so far (error + failed + those a retry recovered: what an error
    budget counts; requests still in the network are counted by `Results` only, at the end)."""

    name: str
    arrivals: int
    accept_step: tuple[float | None, float | None, float | None]
    settle_step: tuple[float | None, float | None, float | None]
    met_error: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return {"name": self.name, "arrivals": self.arrivals, "accept_step": list(self.accept_step),
                "settle_step": list(self.settle_step), "met_error": self.met_error}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """State after one step of simulated time; small enough to send several per second to a web page.

    Latency percentiles are (p50, p95, p99) in seconds, None before any sample: `*_step` exact over the step,
    `*_so_far` from a log histogram (~0.5 % relative error). `outcomes` are counts so far (see `OUTCOMES`).
    """

    t: float
    progress: float
    stations: tuple[StationSnapshot, ...]
    accept_step: tuple[float | None, float | None, float | None]
    settle_step: tuple[float | None, float | None, float | None]
    accept_so_far: tuple[float | None, float | None, float | None]
    settle_so_far: tuple[float | None, float | None, float | None]
    arrivals: int
    outcomes: dict[str, int]
    error_rate: float | None  # (error + failed) / arrivals so far
    cost_per_hour: float
    cost_so_far: float
    sources: tuple[SourceSnapshot, ...] = ()  # the same step per traffic source, never mixed

    def source(self, name: str) -> SourceSnapshot:
        """The step of the source called `name`."""
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stations as a list in network order); every number is finite or None."""
        d = {
            "t": self.t,
            "progress": self.progress,
            "stations": [s.to_dict() for s in self.stations],
            "accept_step": list(self.accept_step),
            "settle_step": list(self.settle_step),
            "accept_so_far": list(self.accept_so_far),
            "settle_so_far": list(self.settle_so_far),
            "arrivals": self.arrivals,
            "outcomes": dict(self.outcomes),
            "error_rate": self.error_rate,
            "cost_per_hour": self.cost_per_hour,
            "cost_so_far": self.cost_so_far,
            "sources": [s.to_dict() for s in self.sources],
        }
        return d


_OPTIONAL_COUNTS = ("abandoned", "budget_refused", "short_circuited", "breaker_opened", "dead_letters", "duplicates")
_OPTIONAL_SOURCE_COUNTS = ("dead_lettered", "duplicates")


@dataclass(frozen=True, slots=True)
class StationResult:
    """Per-station results. Counts include warm-up requests; wait/sojourn only requests past the warm-up."""

    name: str
    kind: str
    servers: int | None  # None = infinite
    arrivals: int
    admitted: int
    rejected: int
    completions: int
    errors: int
    recovered: int  # failed visits that a holding buffer's retry policy sent back for another attempt
    exhausted: int  # failed visits on the last attempt a holding buffer's retry policy allowed
    surfaced: int  # failed visits that ended their request as an error (before an acknowledgement)
    lost: int  # failed visits that ended their acknowledged request as failed (no retry left, or none allowed)
    error_rate: float | None  # (errors + rejected) / arrivals
    utilization: float | None  # busy-server time / (servers x simulated time); None for infinite servers
    utilization_peak: float | None  # busiest second of the run (the meter's grid, whatever the streaming step)
    mean_in_service: float  # time-average number in service (useful for infinite servers)
    max_queue: int
    wait: LatencySummary  # Wq: arrival at the station -> service start
    sojourn: LatencySummary  # W: arrival at the station -> completion
    # The resilience patterns' counters; left out of to_dict() when 0, so a spec without them keeps its figures.
    abandoned: int = 0  # requests whose caller's deadline set here passed (each also a failed visit here)
    budget_refused: int = 0  # a buffer's retries its retry budget refused (those messages were out of attempts)
    short_circuited: int = 0  # a buffer's calls its circuit breaker failed fast (each also a failed visit of it)
    breaker_opened: int = 0  # times its circuit breaker opened
    dead_letters: int = 0  # a buffer's messages kept in its dead-letter queue (out of attempts; not settled)
    duplicates: int = 0  # retries, without an idempotency key, of its calls that failed after the work
    # None, or {"window": [t0, t1], "offered": /s, "capacity": /s, "reason": ...}: offered load reached capacity over
    # a window, or the queue was still growing at the end (the rule: `simulator.engine.overload`)
    unstable: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        d = _fields(self)
        for key in _OPTIONAL_COUNTS:
            if not d[key]:
                del d[key]
        return _clean(d)


@dataclass(frozen=True, slots=True)
class SourceResult:
    """Per-source (or overall) end-to-end results for requests past the warm-up."""

    name: str
    arrivals: int
    outcomes: dict[str, int]
    unfinished: int  # still in the network at the horizon (already counted as dropped or error)
    accept: LatencySummary  # arrival -> acknowledgement (or successful exit on a synchronous path)
    settle: LatencySummary  # arrival -> completion, acknowledged requests
    sojourn: LatencySummary  # arrival -> successful exit, all completed requests
    retries: int
    error_rate: float | None  # (error + failed) / arrivals
    unfinished_acked: int = 0  # of those, acknowledged (counted as dropped)
    met_error: int = 0  # requests that met an error anywhere: error + failed + those a retry recovered
    timeouts: int = 0  # given up by their caller before an acknowledgement (counted in error)
    unsettled: int = 0  # left the network before completing the source's complete_through (counted in dropped)
    leaks: dict[str, list[int]] = field(default_factory=dict)  # unsettled by exit station, then by steps passed
    # Left out of to_dict() when 0, so a spec without the patterns keeps its figures:
    dead_lettered: int = 0  # ended in a buffer's dead-letter queue (counted in failed or error: not settled)
    duplicates: int = 0  # work done twice: retries, without an idempotency key, of calls that failed after the work
    # The same figures for the requests that arrived in each of the spec's named windows (only when it has some)
    windows: dict[str, SourceResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (`windows` only when the spec names some; the patterns' counts only when not 0)."""
        d = {k: v for k, v in _fields(self).items() if k != "windows"}
        for key in _OPTIONAL_SOURCE_COUNTS:
            if not d[key]:
                del d[key]
        out: dict[str, Any] = _clean(d)
        if self.windows:
            out["windows"] = {name: w.to_dict() for name, w in self.windows.items()}
        return out


@dataclass(frozen=True, slots=True)
class Results:
    """Full results of a run; `time_series` holds one `Snapshot.to_dict()` per streamed step (for replay)."""

    mode: str  # "requests" or "duration"
    seed: int
    end_time: float  # simulated time when the run ended
    warmup: int
    stations: tuple[StationResult, ...]
    sources: tuple[SourceResult, ...]
    overall: SourceResult
    cost_per_hour_peak: float
    cost_total: float
    time_series: tuple[dict[str, Any], ...] = field(default=())
    incidents: tuple[dict[str, Any], ...] = field(default=())  # the spec's incidents, for the charts' bands

    def station(self, name: str) -> StationResult:
        """The result of the station called `name`."""
        for st in self.stations:
            if st.name == name:
                return st
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; deterministic for a spec and seed.

        The time series is handed on as it is (its snapshots are plain and finite by construction, and cleaning a
        long run's thousands of them again cost as much as a fifth of the run): its dicts are the results' own."""
        out: dict[str, Any] = _clean({
            "mode": self.mode,
            "seed": self.seed,
            "end_time": self.end_time,
            "warmup": self.warmup,
            "stations": [s.to_dict() for s in self.stations],
            "sources": [s.to_dict() for s in self.sources],
            "overall": self.overall.to_dict(),
            "cost_per_hour_peak": self.cost_per_hour_peak,
            "cost_total": self.cost_total,
        })
        out["time_series"] = list(self.time_series)
        if self.incidents:  # absent without incidents: a run without them gives the results it always gave
            out["incidents"] = _clean(list(self.incidents))
        return out
