"""The estimate's warnings: what the grade will fail, said before the run, in the kata's words."""

from __future__ import annotations

from dataclasses import dataclass

from kata.design import Node
from kata.estimate.network import NetworkModel, fluid_backlog
from kata.estimate.records import Estimate, PartEstimate
from kata.format import duration, join_and, percent
from kata.palette import TrafficSpec
from simulator.model import Source

_NOTICEABLE = 0.001  # a share of requests worth a warning (0.1 %)


def _knobs(node: Node) -> str:
    names = [p.name for p in node.part.parameters if p.learner_editable and p.name in ("instances", "cores")]
    return " or ".join(names) if names else "its size"


@dataclass
class _Context:
    """What every warning about one source's requests reads."""

    model: NetworkModel
    estimate: Estimate
    parts: dict[str, PartEstimate]
    source: Source
    traffic: TrafficSpec
    index: dict[str, int]
    visits: list[float]

    def __post_init__(self) -> None:
        self.design = self.model.design
        self.who, self.many = self.estimate.source_label, self.traffic.noun_many
        self.sync = self.design.sync_path(self.source.name)
        self.reachable = self.design.reachable(self.source.name)
        self.externals = [n for n in self.design.of_role("external") if n.id in self.reachable]


def _leak_warnings(c: _Context) -> list[str]:
    """Requests that can leave without completing their path: counted as lost."""
    warnings = []
    for station, by_step in c.model.leaks(c.source).items():
        if sum(by_step) <= 1e-9:
            continue
        step = next(k for k, amount in enumerate(by_step) if amount > 0)
        missing = c.design.step_labels(c.traffic.complete_through[step], c.model.palette)
        warnings.append(f"About {percent(100 * sum(by_step))} of {c.many} from {c.who} would leave through "
                        f"{c.parts[c.model.names[station]].label} without reaching {missing}: each one is lost.")
    return warnings


def _accept_warnings(c: _Context) -> list[str]:
    """Accept latency: what the caller waits for."""
    estimate = c.estimate
    warnings = [f"{node.label} is on the synchronous path: {c.who} waits for it on every one of its {c.many}."
                for node in c.externals if node.id in c.sync]
    p99 = estimate.accept_p99_ms_peak
    if estimate.accept_capped and estimate.deadline_ms is not None:
        warnings.append(f"At the peak about {percent(estimate.late_pct_peak)} of {c.many} would wait past {c.who}'s "
                        f"{duration(estimate.deadline_ms / 1000)} deadline and be given up as errors.")
    elif p99 is not None and estimate.accept_limit_ms is not None and p99 > estimate.accept_limit_ms:
        warnings.append(f"p99 accept latency at the peak would be about {duration(p99 / 1000)}, over the "
                        f"{duration(estimate.accept_limit_ms / 1000)} target.")
    for name in c.sync:
        part = c.parts[name]
        if part.role == "queue" and part.backlog_per_second > 0:
            warnings.append(f"{part.label} does not acknowledge, and at the peak its consumers fall behind by "
                            f"{part.backlog_per_second:,.0f}/s: {c.who} waits on a backlog that grows without bound.")
    return warnings


def _recovery_warnings(c: _Context) -> list[str]:
    """Recovery next to an external part: a retrying queue in front of its callers."""
    design, warnings = c.design, []
    for node in c.externals:
        callers = design.predecessors(node.id)
        fed = [q for caller in callers
               for q in ([caller] if design.node(caller).part.role == "queue" else design.predecessors(caller))
               if design.node(q).part.role == "queue"]
        if not fed:
            warnings.append(f"No buffer in front of {node.label}: a failed call has nowhere to go back to.")
        elif not any(design.node(q).param("max_attempts", 1) > 1 for q in fed):
            warnings.append(f"{join_and(sorted({design.node(q).label for q in fed}))} in front of {node.label} "
                            f"does not retry (max_attempts is 1).")
    return warnings


def _headroom_warning(c: _Context, name: str, part: PartEstimate) -> str:
    node = c.design.node(name)
    busy, limit = percent(100 * part.utilization_window_peak), percent(100 * part.threshold)
    queue_fed = c.model.population[c.index[name]] is not None
    if node.part.fixed_servers and queue_fed:
        callers = [c.design.node(caller) for caller in c.design.predecessors(name)]
        slots = sum(c.parts[caller.id].slots or 0 for caller in callers if caller.id in c.parts)
        return (f"The slots of {join_and([caller.label for caller in callers])} ({slots}) would push {part.label} "
                f"to {busy} at the peak, above its {limit} error threshold: expect its errors to climb, retried or "
                f"not.")
    if node.part.fixed_servers:
        return (f"The peak traffic would push {part.label} to {busy}, above its {limit} error threshold: expect its "
                f"errors to climb.")
    return f"{part.label} would run at {busy} at the peak, above its {limit} error threshold: raise its {_knobs(node)}."


def _error_warnings(c: _Context) -> list[str]:
    """Headroom (the error scenario fails when a part on the path runs above its error threshold over 10 s at the
    peak), refusals at full slots, and the error rate against its limit."""
    warnings = []
    for name in c.reachable:
        part = c.parts.get(name)
        if part is not None and part.role != "queue" and part.utilization_window_peak > part.threshold:
            warnings.append(_headroom_warning(c, name, part))
    for name in c.reachable:
        part = c.parts.get(name)
        if part is not None and part.refused_pct_peak / 100 > _NOTICEABLE:
            warnings.append(f"{part.label} would refuse about {percent(part.refused_pct_peak)} of its requests at the "
                            f"peak: all {part.slots} of its slots (instances × concurrency) are taken.")
    estimate = c.estimate
    if estimate.error_limit_pct is not None and estimate.error_pct >= estimate.error_limit_pct:
        worst = max((p for p in c.parts.values() if p.id in c.reachable),
                    key=lambda p: p.error_pct_peak * c.visits[c.index[p.id]], default=None)
        if estimate.late_pct_peak >= (worst.error_pct_peak * c.visits[c.index[worst.id]] if worst else 0.0):
            cause = f"; most of them given up at the {duration((estimate.deadline_ms or 0) / 1000)} deadline"
        else:
            cause = f"; the most from {worst.label} ({percent(worst.error_pct_peak)} of its calls)" if worst else ""
        warnings.append(f"About {percent(estimate.error_pct)} of {c.many} would meet an error at the peak, at or "
                        f"above the {estimate.error_limit_pct:g} % limit{cause}.")
    return warnings


def _overload_warnings(c: _Context) -> list[str]:
    """A part the peak would overload (offered work at or above its capacity: what the simulator reports as
    unstable), and a part with a slowdown run above the utilization where it slows down: bistable, as a backlog
    there slows its service, which keeps the backlog (a metastable collapse that can outlast the spike)."""
    warnings = []
    for name in c.reachable:
        part = c.parts.get(name)
        if part is None or part.role == "queue":
            continue
        # Behind a queue the consumers' slots bound what is in flight: the backlog builds in the queue instead.
        queue_fed = c.model.population[c.index[name]] is not None
        if part.offered_load_peak > 1.0 + 1e-6 and part.rate_peak > 0 and not queue_fed:
            capacity = part.rate_peak / part.offered_load_peak
            warnings.append(f"{part.label} would be overloaded at the peak: offered {part.offered_load_peak:.1f}× "
                            f"its capacity ({part.rate_peak:,.0f}/s against {capacity:,.0f}/s), so its queue grows "
                            f"for as long as the peak lasts.")
        threshold = part.slowdown_threshold
        if threshold is not None and part.utilization_window_peak > threshold:
            warnings.append(
                f"{part.label} would run at {percent(100 * part.utilization_window_peak)} at the peak, above the "
                f"{percent(100 * threshold)} where it slows down (up to ×{part.slowdown_factor:g}): a backlog there "
                f"slows it, and a slower {part.label} keeps the backlog, so it can collapse and stay collapsed "
                f"after the peak (metastable).")
    return warnings


def _settlement_warnings(c: _Context) -> list[str]:
    """Can the queues' consumers keep up with the normal rate, and drain the spike in time?"""
    warnings = []
    recovery_end = c.model.network.traffic_end + c.model.network.drain
    for name in c.reachable:
        part = c.parts[name]
        q = c.index[name]
        if part.role != "queue" or part.settle_per_second is None or name in c.sync:
            continue
        share = c.visits[q]
        consumers = join_and([c.design.node(s).label for s in c.design.successors(name)])
        normal_rate = share * c.traffic.base_rate
        if part.settle_per_second < normal_rate * (1 - 1e-6):
            warnings.append(f"{consumers} can get at most {part.settle_per_second:,.0f}/s through from {part.label}, "
                            f"below the normal {normal_rate:,.0f} {c.many}/s: its backlog never catches up.")
            continue
        largest, when, left = fluid_backlog(c.source.rate_at, share, part.settle_per_second, recovery_end)
        capacity = c.model.stations[q].capacity
        if capacity is not None and largest + c.model.stations[q].servers > capacity:
            warnings.append(f"{part.label} would overflow: the spike leaves a backlog of about {largest:,.0f} "
                            f"{c.many}, more than its capacity of {capacity:,}.")
        if left > 0.5:
            net = part.settle_per_second - normal_rate
            takes = duration(largest / net) if net > 0 else "forever"
            warnings.append(f"The spike leaves about {largest:,.0f} {c.many} in {part.label}; draining them at "
                            f"{net:,.0f}/s beside the normal traffic takes {takes}, longer than the "
                            f"{duration(recovery_end - when)} left before the run ends.")
    return warnings


def estimate_warnings(model: NetworkModel, estimate: Estimate, parts: dict[str, PartEstimate], source: Source,
                      traffic: TrafficSpec, index: dict[str, int], visits: list[float]) -> list[str]:
    """What the grade will fail for `source`'s requests, each warning naming the part and the figure."""
    context = _Context(model, estimate, parts, source, traffic, index, visits)
    return (_leak_warnings(context) + _accept_warnings(context) + _recovery_warnings(context)
            + _error_warnings(context) + _overload_warnings(context) + _settlement_warnings(context))


def cost_warnings(estimate: Estimate) -> list[str]:
    if not estimate.over_budget:
        return []
    known = (f"; the cheapest passing design found costs ${estimate.cheapest_cost_per_hour:.2f}/h"
             if estimate.cheapest_cost_per_hour else "")
    return [f"Cost ${estimate.cost_per_hour:.2f}/h is over the ${estimate.budget_per_hour:.2f}/h budget{known}."]
