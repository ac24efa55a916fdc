"""The facts of one seed's results that verdicts are written from, and the small words they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kata.compiler import CompiledDesign
from kata.design import Design, Node
from kata.format import overload
from kata.palette import Palette, TrafficSpec

# Seconds of simulated time over which a part's peak utilization is taken (the error curve's window is 5 s;
# a slightly longer one keeps a single noisy second from being called "the peak").
PEAK_WINDOW_STEPS = 10


@dataclass(frozen=True)
class Verdict:
    """One scenario on one seed."""

    value: float
    passed: bool
    explanation: str
    next_step: str


def compare(value: float, comparator: str, threshold: float) -> bool:
    return {
        "le": value <= threshold,
        "lt": value < threshold,
        "ge": value >= threshold,
        "gt": value > threshold,
        "eq": abs(value - threshold) < 1e-9,
    }[comparator]


def knobs(node: Node, *names: str) -> str:
    """The learner-editable parameters of `node` among `names`, in words ("instances or cores")."""
    present = [p.name for p in node.part.parameters if p.learner_editable and p.name in names]
    if not present:
        return "its size"
    return present[0] if len(present) == 1 else ", ".join(present[:-1]) + " or " + present[-1]


def peak_utilization(series: Sequence[dict[str, Any]], stations: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each station's busiest PEAK_WINDOW_STEPS of the series (its own peak figure without a series)."""
    peaks: dict[str, float] = {}
    if not series:
        for name, station in stations.items():
            peaks[name] = station.get("utilization_peak") or station.get("utilization") or 0.0
        return peaks
    names = [s["name"] for s in series[0]["stations"]]
    for column, name in enumerate(names):
        values = [row["stations"][column].get("utilization") or 0.0 for row in series]
        window = max(1, min(PEAK_WINDOW_STEPS, len(values)))
        running = sum(values[:window])
        best = running
        for i in range(window, len(values)):
            running += values[i] - values[i - window]
            best = max(best, running)
        peaks[name] = best / window
    return peaks


class SeedFacts:
    """One seed's results read against the design and the kata: stations, sources, peaks, labels and nouns."""

    def __init__(self, seed: int, results: dict[str, Any], compiled: CompiledDesign, design: Design,
                 palette: Palette) -> None:
        self.seed = seed
        self.results = results
        self.compiled = compiled
        self.design = design
        self.palette = palette
        self.stations = {s["name"]: s for s in results["stations"]}
        self.sources = {s["name"]: s for s in results["sources"]}
        self.specs = {s["name"]: s for s in compiled.spec["stations"]}
        self.peak = peak_utilization(results.get("time_series", []), self.stations)

    def label(self, station: str) -> str:
        info = self.compiled.stations.get(station)
        return info.label if info else station

    def source_node(self, part_key: str | None) -> str | None:
        for node_id, key in self.compiled.sources.items():
            if part_key is None or key == part_key:
                return node_id
        return None

    def traffic(self, node_id: str | None) -> TrafficSpec | None:
        key = self.compiled.sources.get(node_id or "")
        return self.palette.traffic_for(key) if key else None

    def nouns(self, node_id: str | None, count: float) -> str:
        traffic = self.traffic(node_id)
        if traffic is None:
            return "request" if count == 1 else "requests"
        return traffic.nouns(count)

    def source_label(self, node_id: str | None) -> str:
        return self.design.node(node_id).label if node_id else "the source"

    def reachable(self, node_id: str | None) -> list[str]:
        return self.design.reachable(node_id) if node_id else []

    def hottest(self, stations: Sequence[str]) -> tuple[str, float] | None:
        candidates = [(name, self.peak.get(name, 0.0)) for name in stations
                      if name in self.stations and self.specs.get(name, {}).get("kind") != "buffer"]
        return max(candidates, key=lambda item: item[1]) if candidates else None

    def failed_calls(self, name: str) -> int:
        station = self.stations.get(name, {})
        return int(station.get("errors", 0) + station.get("rejected", 0))

    def externals(self, among: Sequence[str] | None = None) -> list[str]:
        names = [info.id for info in self.compiled.stations.values() if info.role == "external"]
        return [n for n in names if among is None or n in among]

    def holding_queue(self, node_id: str) -> str | None:
        """The queue whose consumer slot a request holds while it visits `node_id` (its nearest queue upstream)."""
        return self.design.nearest_upstream(node_id, "queue")

    def retries(self, queue: str | None) -> bool:
        return queue is not None and "retry" in self.specs.get(queue, {})

    def step_labels(self, node_id: str | None, step: int) -> str:
        traffic = self.traffic(node_id)
        if traffic is None or step >= len(traffic.complete_through):
            return "the end of its path"
        return self.design.step_labels(traffic.complete_through[step], self.palette)

    def cool_clause(self, among: Sequence[str]) -> str:
        """", while <the external parts among `among`> stay(s) under 80 %" in the kata's labels, or ""."""
        externals = self.externals(among)
        if not externals:
            return ""
        verb = "stays" if len(externals) == 1 else "stay"
        return f", while {' and '.join(self.label(x) for x in externals)} {verb} under 80 %"

    def overloads(self, among: Sequence[str]) -> list[str]:
        """The simulator's overload figures (`unstable`) of the parts among `among`, in words, in path order."""
        return [overload(self.label(name), self.stations[name]["unstable"]) for name in among
                if self.stations.get(name, {}).get("unstable")]

    def drain_rate(self, queue: str) -> float | None:
        """Hand-offs per second of `queue` while it held a backlog after the spike: what its consumers drain."""
        series = self.results.get("time_series", [])
        if not series:
            return None
        names = [s["name"] for s in series[0]["stations"]]
        if queue not in names:
            return None
        column = names.index(queue)
        rows = [row["stations"][column] for row in series[len(series) // 2:]]
        busy = [r["throughput"] for r in rows if r.get("queue", 0) > 0]
        return sum(busy) / len(busy) if busy else None
