"""The instant estimate: what queueing theory says about a design before any run, and what looks wrong.

Rates flow through the design at the normal and at the peak traffic of every source. A queue with consumers passes
on at most what its consumers can drain (consumers ÷ the time each holds a message), which is how a settlement tier
caps the load on a gateway. Each part is then an M/M/c queue at its rate (Erlang C for the expected wait), the error
budget compounds hop by hop along the synchronous path, and cost is instances × unit cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kata.compiler import compile_design
from kata.design import Design, Node
from kata.palette import Palette, PartSpec
from simulator.analytic import UnstableError, mmc

HEADROOM = 0.8


@dataclass(frozen=True)
class PartEstimate:
    id: str
    label: str
    role: str
    servers: int
    rate_normal: float
    rate_peak: float
    utilization_normal: float
    utilization_peak: float
    wait_ms_peak: float | None  # None when the part is overloaded (no steady state)
    error_pct_peak: float
    cost_per_hour: float
    backlog_per_second: float = 0.0  # a queue: how fast it fills at the peak

    @property
    def level(self) -> str:
        if self.role == "queue":
            return "filling" if self.backlog_per_second > 0 else "ok"
        if self.utilization_peak >= 1:
            return "overloaded"
        return "hot" if self.utilization_peak > HEADROOM else "ok"


@dataclass(frozen=True)
class Estimate:
    parts: list[PartEstimate]
    accept_ms_normal: float | None
    accept_ms_peak: float | None
    error_pct: float
    cost_per_hour: float
    budget_per_hour: float
    warnings: list[str] = field(default_factory=list)

    @property
    def over_budget(self) -> bool:
        return self.cost_per_hour > self.budget_per_hour + 1e-9


def _service_seconds(part: PartSpec) -> float:
    mean = part.service_mean_ms / 1000
    if part.service_distribution == "jitter":
        mean += (part.jitter_mean_ms or 0) / 1000
    return mean


def _error_at(part: PartSpec, utilization: float) -> float:
    if part.error_threshold is None or utilization <= part.error_threshold:
        return part.base_error
    excess = (min(utilization, 1.0) - part.error_threshold) / max(1e-9, 1 - part.error_threshold)
    return part.base_error + (part.error_max - part.base_error) * excess ** part.error_power


def _hold_seconds(design: Design, node_id: str, memo: dict[str, float]) -> float:
    """Expected time a request spends from entering `node_id` until it leaves the network or enters a queue."""
    if node_id in memo:
        return memo[node_id]
    node = design.node(node_id)
    own = _service_seconds(node.part)
    targets = design.successors(node_id)
    forward = 1.0 - node.param("hit_ratio", 0.0) if node.part.role == "cache" else 1.0
    downstream = 0.0
    for target in targets:
        if design.node(target).part.role != "queue":
            downstream += forward / len(targets) * _hold_seconds(design, target, memo)
    memo[node_id] = own + downstream
    return memo[node_id]


def _flows(design: Design, palette: Palette, servers: dict[str, int], peak: bool) -> dict[str, float]:
    rates = {n.id: 0.0 for n in design.nodes}
    hold: dict[str, float] = {}
    for node in design.topological():
        if node.part.role == "source":
            traffic = palette.traffic_for(node.part.key)
            if traffic is not None:
                rates[node.id] = (traffic.spike_rate or traffic.base_rate) if peak else traffic.base_rate
            outflow = rates[node.id]
        elif node.part.role == "queue":
            # What the consumers can drain: consumers ÷ how long each holds a message.
            held = sum(_hold_seconds(design, t, hold) for t in design.successors(node.id)) / max(1, len(design.successors(node.id)))
            capacity = servers[node.id] / held if held > 0 else math.inf
            outflow = min(rates[node.id], capacity)
        else:
            outflow = rates[node.id] * (1.0 - node.param("hit_ratio", 0.0) if node.part.role == "cache" else 1.0)
        targets = design.successors(node.id)
        for target in targets:
            rates[target] += outflow / len(targets)
    return rates


def _sync_path(design: Design, start: str) -> list[Node]:
    """Parts a request passes before it is answered: up to (not into) the first acknowledging queue."""
    path, frontier, seen = [], list(design.successors(start)), set()
    while frontier:
        current = frontier.pop(0)
        if current in seen:
            continue
        seen.add(current)
        node = design.node(current)
        if node.part.role == "queue" and node.param("acknowledges", 1):
            continue
        path.append(node)
        frontier += design.successors(current)
    return path


def design_estimate(design: Design, palette: Palette) -> Estimate:
    compiled = compile_design(design, palette)
    servers = {info.id: int(info.servers or 0) for info in compiled.stations.values()}
    normal = _flows(design, palette, servers, peak=False)
    peak = _flows(design, palette, servers, peak=True)
    parts: list[PartEstimate] = []
    by_id: dict[str, PartEstimate] = {}
    for node in design.topological():
        if node.part.role == "source":
            continue
        c = max(1, servers[node.id])
        service = _service_seconds(node.part)
        if node.part.role == "queue":
            # A queue's "utilization" is how busy its consumers are; its own work is negligible.
            held = sum(_hold_seconds(design, t, {}) for t in design.successors(node.id)) / max(1, len(design.successors(node.id)))
            service = held
        u_normal, u_peak = normal[node.id] * service / c, peak[node.id] * service / c
        backlog = 0.0
        if node.part.role == "queue":
            backlog = max(0.0, peak[node.id] - sum(peak[t] for t in design.successors(node.id)))
            u_normal, u_peak = min(1.0, u_normal), min(1.0, u_peak)
        wait: float | None
        try:
            wait = mmc(peak[node.id], service, c).Wq * 1000 if peak[node.id] > 0 and service > 0 else 0.0
        except UnstableError:
            wait = None
        estimate = PartEstimate(
            id=node.id, label=node.label, role=node.part.role, servers=c, rate_normal=normal[node.id],
            rate_peak=peak[node.id], utilization_normal=u_normal, utilization_peak=u_peak, wait_ms_peak=wait,
            error_pct_peak=100 * _error_at(node.part, u_peak), cost_per_hour=compiled.stations[node.id].cost_per_hour, backlog_per_second=backlog,
        )
        parts.append(estimate)
        by_id[node.id] = estimate

    entry = next((n for n in design.nodes if n.part.role == "source" and n.part.required), None) \
        or next((n for n in design.nodes if n.part.role == "source"), None)
    accept_normal = accept_peak = None
    error_pct = 0.0
    warnings: list[str] = []
    if entry is not None:
        path = _sync_path(design, entry.id)
        def latency(rates: dict[str, float]) -> float | None:
            total = 0.0
            for node in path:
                c, s = max(1, servers[node.id]), _service_seconds(node.part)
                try:
                    total += (mmc(rates[node.id], s, c).Wq if rates[node.id] > 0 and s > 0 else 0.0) + s
                except UnstableError:
                    return None
            return total * 1000
        accept_normal, accept_peak = latency(normal), latency(peak)
        # Compound error along everything a payment passes: 1 − Π(1 − pᵢ) (retries are not counted here).
        survive = 1.0
        reach = [design.node(n) for n in _reachable(design, entry.id)]
        for node in reach:
            if node.id in by_id:
                survive *= 1 - by_id[node.id].error_pct_peak / 100
        error_pct = 100 * (1 - survive)
        warnings += _lint(design, palette, entry, path, by_id, servers, peak)
    cost = compiled.cost_per_hour
    if cost > palette.budget_per_hour + 1e-9:
        warnings.append(f"Cost ${cost:.2f}/h is over the ${palette.budget_per_hour:.2f}/h budget.")
    return Estimate(parts=parts, accept_ms_normal=accept_normal, accept_ms_peak=accept_peak, error_pct=error_pct,
                    cost_per_hour=cost, budget_per_hour=palette.budget_per_hour, warnings=warnings)


def _reachable(design: Design, start: str) -> list[str]:
    seen: list[str] = []
    frontier = list(design.successors(start))
    while frontier:
        current = frontier.pop(0)
        if current not in seen:
            seen.append(current)
            frontier += design.successors(current)
    return seen


def _lint(design: Design, palette: Palette, entry: Node, path: list[Node], parts: dict[str, PartEstimate], servers: dict[str, int],
          peak: dict[str, float]) -> list[str]:
    warnings = []
    externals = [n for n in design.nodes if n.part.role == "external"]
    for external in externals:
        label = external.label
        if any(n.id == external.id for n in path):
            warnings.append(f"{label} is on the synchronous path: the checkout waits for it.")
        callers = design.predecessors(external.id)
        fed = [q for c in callers for q in ([c] if design.node(c).part.role == "queue" else design.predecessors(c))
               if design.node(q).part.role == "queue"]
        if not fed:
            warnings.append(f"No buffer in front of {label}: a failed call has nowhere to go back to.")
        elif not any(design.node(q).param("max_attempts", 1) > 1 for q in fed):
            warnings.append(f"The queue in front of {label} does not retry (max_attempts is 1).")
        estimate = parts.get(external.id)
        if estimate and estimate.utilization_peak > HEADROOM:
            who = "The settlement tier" if fed else "The peak traffic"
            warnings.append(f"{who} would push {label} to {estimate.utilization_peak * 100:.0f} % at the peak, "
                            f"above {HEADROOM * 100:.0f} %: expect its errors to climb.")
    traffic = palette.traffic_for(entry.part.key)
    spike_seconds = (traffic.hold_seconds + traffic.ramp_seconds) if traffic and traffic.spike_rate else 0
    for node in design.nodes:
        estimate = parts.get(node.id)
        if estimate is None or node.part.role == "external":
            continue
        if node.part.role == "queue":
            inflow, drained = peak[node.id], sum(peak[t] for t in design.successors(node.id))
            backlog = max(0.0, inflow - drained) * spike_seconds
            capacity = int(node.param("capacity", 0))
            if backlog > capacity:
                warnings.append(f"{node.label} would overflow: the spike leaves a backlog of about {backlog:,.0f} "
                                f"messages, more than its capacity of {capacity:,}.")
        elif estimate.utilization_peak > HEADROOM:
            warnings.append(f"{node.label} would run at {estimate.utilization_peak * 100:.0f} % at the peak: add instances.")
    return warnings
