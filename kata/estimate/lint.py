"""The estimate's warnings: what the grade will fail, said before the run, in the kata's words."""

from __future__ import annotations

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


def estimate_warnings(model: NetworkModel, estimate: Estimate, parts: dict[str, PartEstimate], source: Source,
                      traffic: TrafficSpec, index: dict[str, int], visits: list[float]) -> list[str]:
    """What the grade will fail for `source`'s requests, each warning naming the part and the figure."""
    design, palette = model.design, model.palette
    names = model.names
    who, many = estimate.source_label, traffic.noun_many
    warnings: list[str] = []
    sync = design.sync_path(source.name)
    reachable = design.reachable(source.name)

    # Requests that can leave without completing their path: counted as dropped.
    for station, by_step in model.leaks(source).items():
        share = sum(by_step)
        if share <= 1e-9:
            continue
        step = next(k for k, amount in enumerate(by_step) if amount > 0)
        missing = " or ".join(n.label for n in design.nodes if n.part.key in traffic.complete_through[step]) \
            or " or ".join(p.name for k in traffic.complete_through[step] if (p := palette.part(k)) is not None)
        warnings.append(f"About {percent(100 * share)} of {many} from {who} would leave through "
                        f"{parts[names[station]].label} without reaching {missing}: each one is lost.")

    # Accept latency: what the caller waits for.
    externals = [n for n in design.of_role("external") if n.id in reachable]
    for node in externals:
        if node.id in sync:
            warnings.append(f"{node.label} is on the synchronous path: {who} waits for it on every one of its {many}.")
    p99 = estimate.accept_p99_ms_peak
    if estimate.accept_capped and estimate.deadline_ms is not None:
        warnings.append(f"At the peak about {percent(estimate.late_pct_peak)} of {many} would wait past {who}'s "
                        f"{duration(estimate.deadline_ms / 1000)} deadline and be given up as errors.")
    elif p99 is not None and estimate.accept_limit_ms is not None and p99 > estimate.accept_limit_ms:
        warnings.append(f"p99 accept latency at the peak would be about {duration(p99 / 1000)}, over the "
                        f"{duration(estimate.accept_limit_ms / 1000)} target.")
    for name in sync:
        part = parts[name]
        if part.role == "queue" and part.backlog_per_second > 0:
            warnings.append(f"{part.label} does not acknowledge, and at the peak its consumers fall behind by "
                            f"{part.backlog_per_second:,.0f}/s: {who} waits on a backlog that grows without bound.")

    # Recovery next to an external part (scenario 4's story).
    for node in externals:
        callers = design.predecessors(node.id)
        fed = [q for c in callers for q in ([c] if design.node(c).part.role == "queue" else design.predecessors(c))
               if design.node(q).part.role == "queue"]
        if not fed:
            warnings.append(f"No buffer in front of {node.label}: a failed call has nowhere to go back to.")
        elif not any(design.node(q).param("max_attempts", 1) > 1 for q in fed):
            warnings.append(f"{join_and(sorted({design.node(q).label for q in fed}))} in front of {node.label} "
                            f"does not retry (max_attempts is 1).")

    # Headroom: scenario 3 fails when a part on the path runs above its error threshold over 10 s at the peak.
    for name in reachable:
        part = parts.get(name)
        if part is None or part.role == "queue" or part.utilization_window_peak <= part.threshold:
            continue
        node = design.node(name)
        busy, limit = percent(100 * part.utilization_window_peak), percent(100 * part.threshold)
        queue_fed = model.population[index[name]] is not None
        if node.part.fixed_servers and queue_fed:
            callers = [design.node(c) for c in design.predecessors(name)]
            slots = sum(parts[c.id].slots or 0 for c in callers if c.id in parts)
            warnings.append(f"The slots of {join_and([c.label for c in callers])} ({slots}) would push {part.label} to "
                            f"{busy} at the peak, above its {limit} error threshold: expect its errors to climb, "
                            f"retried or not.")
        elif node.part.fixed_servers:
            warnings.append(f"The peak traffic would push {part.label} to {busy}, above its {limit} error "
                            f"threshold: expect its errors to climb.")
        else:
            warnings.append(f"{part.label} would run at {busy} at the peak, above its {limit} error threshold: "
                            f"raise its {_knobs(node)}.")
    for name in reachable:
        part = parts.get(name)
        if part is not None and part.refused_pct_peak / 100 > _NOTICEABLE:
            warnings.append(f"{part.label} would refuse about {percent(part.refused_pct_peak)} of its requests at the "
                            f"peak: all {part.slots} of its slots (instances × concurrency) are taken.")
    if estimate.error_limit_pct is not None and estimate.error_pct >= estimate.error_limit_pct:
        worst = max((p for p in parts.values() if p.id in reachable), key=lambda p: p.error_pct_peak * visits[index[p.id]],
                    default=None)
        if estimate.late_pct_peak >= (worst.error_pct_peak * visits[index[worst.id]] if worst else 0.0):
            cause = f"; most of them given up at the {duration((estimate.deadline_ms or 0) / 1000)} deadline"
        else:
            cause = f"; the most from {worst.label} ({percent(worst.error_pct_peak)} of its calls)" if worst else ""
        warnings.append(f"About {percent(estimate.error_pct)} of {many} would meet an error at the peak, at or above "
                        f"the {estimate.error_limit_pct:g} % limit{cause}.")

    # Settlement: can the queues' consumers keep up with the normal rate, and drain the spike in time?
    recovery_end = model.network.traffic_end + model.network.drain
    for name in reachable:
        part = parts[name]
        q = index[name]
        if part.role != "queue" or part.settle_per_second is None or name in sync:
            continue
        share = visits[q]
        consumers = join_and([design.node(c).label for c in design.successors(name)])
        normal_rate = share * traffic.base_rate
        if part.settle_per_second < normal_rate * (1 - 1e-6):
            warnings.append(f"{consumers} can get at most {part.settle_per_second:,.0f}/s through from {part.label}, below "
                            f"the normal {normal_rate:,.0f} {many}/s: its backlog never catches up.")
            continue
        largest, when, left = fluid_backlog(source.rate_at, share, part.settle_per_second, recovery_end)
        capacity = model.stations[q].capacity
        if capacity is not None and largest + model.stations[q].servers > capacity:
            warnings.append(f"{part.label} would overflow: the spike leaves a backlog of about {largest:,.0f} "
                            f"{many}, more than its capacity of {capacity:,}.")
        if left > 0.5:
            net = part.settle_per_second - normal_rate
            warnings.append(f"The spike leaves about {largest:,.0f} {many} in {part.label}; draining them at "
                            f"{net:,.0f}/s beside the normal traffic takes {duration(largest / net) if net > 0 else 'forever'}, "
                            f"longer than the {duration(recovery_end - when)} left before the run ends.")
    return warnings


def cost_warnings(estimate: Estimate) -> list[str]:
    if not estimate.over_budget:
        return []
    known = (f"; the cheapest passing design found costs ${estimate.cheapest_cost_per_hour:.2f}/h"
             if estimate.cheapest_cost_per_hour else "")
    return [f"Cost ${estimate.cost_per_hour:.2f}/h is over the ${estimate.budget_per_hour:.2f}/h budget{known}."]
