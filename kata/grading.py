"""Grading: a kata's scenarios evaluated on a design's simulation results, over several seeds.

A scenario passes only if it passes on every seed, and the grade shows the worst seed's value. Every verdict is
written from one seed's numbers, names that seed, says which part and which figure are responsible, and gives one
next thing to try that uses only parameters that part has. The words for what flows ("payments", "status reads")
and the parts' names come from the kata, so a new kata never reads another kata's nouns.

Works on plain data (`Results.to_dict()` per seed, the compiled design, the palette) so it can grade a run that
was saved long ago, in a web request, a worker or the `grade` command alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kata.compiler import CompiledDesign
from kata.design import Design, Node
from kata.format import count_of, duration, join_and, percent, scenarios_phrase
from kata.palette import Palette, ScenarioSpec, TrafficSpec

# Seconds of simulated time over which a part's peak utilization is taken (the error curve's window is 5 s;
# a slightly longer one keeps a single noisy second from being called "the peak").
PEAK_WINDOW_STEPS = 10
LOWER_IS_BETTER = {"le", "lt", "eq"}
# Scenarios whose holding is a condition of the cost scenario.
SERVICE_METRICS = ("accept_p99_ms", "dropped", "error_rate_pct")

UNITS = {
    "accept_p99_ms": "ms",
    "settle_p99_ms": "ms",
    "dropped": "",
    "error_rate_pct": "%",
    "recovery": "%",
    "peak_cost": "$/h",
    "peak_utilization_pct": "%",
}


@dataclass(frozen=True)
class Verdict:
    """One scenario on one seed."""

    value: float
    passed: bool
    explanation: str
    next_step: str


@dataclass(frozen=True)
class ScenarioResult:
    id: int
    title: str
    metric: str
    comparator: str
    passed: bool
    value: float
    threshold: float
    unit: str
    explanation: str
    next_step: str
    worst_seed: int
    values: list[float] = field(default_factory=list)
    values_by_seed: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Grade:
    kata: str
    seeds: list[int]
    scenarios: list[ScenarioResult]

    @property
    def passed(self) -> int:
        return sum(1 for s in self.scenarios if s.passed)

    @property
    def total(self) -> int:
        return len(self.scenarios)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kata": self.kata,
            "passed": self.passed,
            "total": self.total,
            "seeds": list(self.seeds),
            "scenarios": [asdict(s) for s in self.scenarios],
        }


def _compare(value: float, comparator: str, threshold: float) -> bool:
    return {
        "le": value <= threshold,
        "lt": value < threshold,
        "ge": value >= threshold,
        "gt": value > threshold,
        "eq": abs(value - threshold) < 1e-9,
    }[comparator]


def _knobs(node: Node, *names: str) -> str:
    """The learner-editable parameters of `node` among `names`, in words ("instances or cores")."""
    present = [p.name for p in node.part.parameters if p.learner_editable and p.name in names]
    if not present:
        return "its size"
    return present[0] if len(present) == 1 else ", ".join(present[:-1]) + " or " + present[-1]


class _Seed:
    """The facts of one seed's results that verdicts are written from."""

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
        self.peak = self._peak_utilization(results.get("time_series", []))

    def _peak_utilization(self, series: Sequence[dict[str, Any]]) -> dict[str, float]:
        peaks: dict[str, float] = {}
        if not series:
            for name, station in self.stations.items():
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
        frontier, seen = list(self.design.predecessors(node_id)), set()
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            seen.add(current)
            if self.design.node(current).part.role == "queue":
                return current
            frontier.extend(self.design.predecessors(current))
        return None

    def retries(self, queue: str | None) -> bool:
        return queue is not None and "retry" in self.specs.get(queue, {})

    def step_labels(self, node_id: str | None, step: int) -> str:
        traffic = self.traffic(node_id)
        if traffic is None or step >= len(traffic.complete_through):
            return "the end of its path"
        keys = traffic.complete_through[step]
        labels = [n.label for n in self.design.nodes if n.part.key in keys]
        if not labels:
            labels = [p.name for k in keys if (p := self.palette.part(k)) is not None]
        return " or ".join(labels)

    def drain_rate(self, queue: str) -> float | None:
        """Hand-offs per second of `queue` while it held a backlog after the spike: what settlement can drain."""
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


def _accept_p99(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    p99_s = source.get("accept", {}).get("p99") or 0.0
    p99 = p99_s * 1000
    passed = _compare(p99, scenario.comparator, threshold)
    path = seed.design.sync_path(node) if node else []
    waits = sorted(
        ((name, seed.stations[name]["sojourn"].get("p99") or 0.0) for name in path if name in seed.stations),
        key=lambda item: -item[1],
    )
    external = next((name for name in path if name in seed.externals()), None)
    slowest = waits[0] if waits else None
    limit = duration(threshold / 1000)
    gave_up = source.get("timeouts", 0)
    traffic = seed.traffic(node)
    timeouts = ""
    if gave_up and traffic and traffic.deadline_ms:
        timeouts = (f"; {count_of(gave_up, seed.nouns(node, 1), seed.nouns(node, 2))} gave up after "
                    f"{duration(traffic.deadline_ms / 1000)} without an answer")
    if passed:
        detail = f"p99 accept latency {duration(p99_s)} is within {limit}"
        if slowest:
            detail += f"; the slowest part the caller waits for is {seed.label(slowest[0])} (p99 {duration(slowest[1])})"
        return Verdict(p99, True, detail + ".", "Keep the synchronous path this short as you change the rest.")
    blocking = next((name for name in path if seed.design.node(name).part.role == "queue"), None)
    if external and blocking:
        return Verdict(
            p99, False,
            f"p99 accept latency {duration(p99_s)} > {limit}: {seed.label(blocking)} does not acknowledge, so the "
            f"caller waits through it for {seed.label(external)} (p99 {duration(seed.stations[external]['sojourn'].get('p99') or 0)})"
            f"{timeouts}.",
            f"Set {seed.label(blocking)}'s acknowledges to 1, so the caller is answered once the write is done.",
        )
    if external:
        return Verdict(
            p99, False,
            f"p99 accept latency {duration(p99_s)} > {limit}: the caller waits for {seed.label(external)} "
            f"(p99 {duration(seed.stations[external]['sojourn'].get('p99') or 0)}) on its synchronous path{timeouts}.",
            f"Put an acknowledging queue in front of {seed.label(external)}, so the caller is answered once the "
            f"request is written and the rest happens behind the queue.",
        )
    hot = seed.hottest(path)
    if hot and hot[1] >= 0.8:
        hot_node = seed.design.node(hot[0])
        return Verdict(
            p99, False,
            f"p99 accept latency {duration(p99_s)} > {limit}: {seed.label(hot[0])} peaked at {percent(hot[1] * 100)} "
            f"busy, so requests queue in front of it{timeouts}.",
            f"Raise {seed.label(hot[0])}'s {_knobs(hot_node, 'instances', 'cores', 'concurrency')} until its peak "
            f"stays under 80 %.",
        )
    culprit = f"{seed.label(slowest[0])} (p99 {duration(slowest[1])})" if slowest else "the path"
    return Verdict(
        p99, False,
        f"p99 accept latency {duration(p99_s)} > {limit}; the slowest part the caller waits for is {culprit}{timeouts}.",
        "Move work behind an acknowledging queue, or remove hops from the synchronous path.",
    )


def _dropped(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    outcomes = source.get("outcomes", {})
    failed, dropped = outcomes.get("failed", 0), outcomes.get("dropped", 0)
    lost = failed + dropped
    passed = _compare(lost, scenario.comparator, threshold)
    one, many = seed.nouns(node, 1), seed.nouns(node, 2)
    if passed:
        return Verdict(lost, True, f"All {outcomes.get('completed', 0):,} acknowledged {many} were completed; none was lost.",
                       "Nothing to fix here.")
    reachable = seed.design.reachable(node) if node else []
    causes: list[tuple[int, str, str]] = []  # (how many, what happened, what to try)

    # Left the design without completing the path (a cache, a split, another exit).
    for station, by_step in source.get("leaks", {}).items():
        for step, count in enumerate(by_step):
            if not count:
                continue
            missing = seed.step_labels(node, step)
            causes.append((count, f"{count_of(count, one, many)} left through {seed.label(station)} without reaching "
                                  f"{missing}",
                           f"Make every path from {seed.source_label(node)} pass {missing}: remove the connection "
                           f"that lets {many} leave through {seed.label(station)}."))
    # Rejected by a full queue after the acknowledgement.
    for name in reachable:
        station = seed.stations.get(name, {})
        if station.get("kind") == "buffer" and station.get("rejected", 0) > 0:
            capacity = seed.specs.get(name, {}).get("capacity")
            causes.append((station["rejected"],
                           f"{seed.label(name)} was full {station['rejected']:,} times (capacity {capacity:,}; "
                           f"{station['max_queue']:,} waiting at the deepest)",
                           f"Raise {seed.label(name)}'s capacity above the spike's backlog (it reached "
                           f"{station['max_queue']:,}), or drain it faster while the gateway stays under 80 %."))
    # Failed for good after acknowledgement: blamed on the part whose call failed; where the queue holding them
    # does not retry, one cause for that queue, its parts listed.
    unretried: dict[str | None, list[tuple[str, int]]] = {}
    for name in reachable:
        station = seed.stations.get(name, {})
        if not station.get("lost"):
            continue
        queue = seed.holding_queue(name)
        count = station["lost"]
        if not seed.retries(queue):
            unretried.setdefault(queue, []).append((name, count))
            continue
        if seed.retries(queue):
            attempts = seed.specs[queue]["retry"]["max_attempts"]  # type: ignore[index]
            what = (f"{count_of(count, one, many)} failed at {seed.label(name)} after all {attempts} attempts "
                    f"that {seed.label(queue or '')} allows")
            if seed.peak.get(name, 0.0) > 0.8:
                step = (f"{seed.label(name)} peaked at {percent(seed.peak[name] * 100)} busy: keep it under 80 % so "
                        f"fewer calls fail; more attempts would only hide the errors.")
            else:
                step = f"Raise {seed.label(queue or '')}'s max_attempts, with a backoff."
        causes.append((count, what, step))
    for queue, where in unretried.items():
        total = sum(c for _, c in where)
        at = join_and([f"{c:,} at {seed.label(n)}" for n, c in sorted(where, key=lambda w: -w[1])])
        holder = f"{seed.label(queue)}, which holds them, does not retry" if queue else "no queue holds them"
        what = f"{count_of(total, one, many)} failed after acknowledgement ({at}): {holder}"
        step = (f"Let {seed.label(queue)} retry failed calls: set its max_attempts to 3 or more, with a backoff."
                if queue else f"Put a retrying queue in front of the parts that call {seed.label(where[0][0])}.")
        causes.append((total, what, step))
    # Still unsettled when the run ended.
    unfinished = source.get("unfinished_acked", 0)
    if unfinished:
        queues = [n for n in reachable if seed.stations.get(n, {}).get("kind") == "buffer"]
        deepest = max(queues, key=lambda n: seed.stations[n]["max_queue"], default=None)
        traffic = seed.traffic(node)
        rate = seed.drain_rate(deepest) if deepest else None
        what = f"{count_of(unfinished, one, many)} were still waiting when the run ended"
        step = "Drain the backlog faster, while the gateway stays under 80 %."
        if deepest and rate is not None and traffic is not None:
            what += (f": {seed.label(deepest)}'s consumers took about {rate:,.0f}/s, against {traffic.base_rate:g}/s of "
                     f"normal traffic after the spike")
            if rate < traffic.base_rate * 1.05:
                what += ", so the backlog never shrinks"
            consumers = [seed.design.node(c) for c in seed.design.successors(deepest)]
            saturated = [x for x in seed.externals(reachable) if seed.peak.get(x, 0.0) > 0.8]
            if saturated:
                what += (f", because {seed.label(saturated[0])} ran at {percent(seed.peak[saturated[0]] * 100)} busy, "
                         f"where its failures and slowdown cut what it settles")
                step = (f"Lower the slots of {seed.label(consumers[0].id) if consumers else 'its callers'} so "
                        f"{seed.label(saturated[0])} stays under 80 %: a saturated gateway settles less, not more.")
            elif consumers:
                step = (f"Give {seed.label(consumers[0].id)} more slots "
                        f"({_knobs(consumers[0], 'instances', 'cores', 'concurrency')}) "
                        f"so {seed.label(deepest)} drains before the run ends, while the gateway stays under 80 %.")
        causes.append((unfinished, what, step))
    causes.sort(key=lambda c: -c[0])
    text = f"{count_of(lost, 'acknowledged ' + one, 'acknowledged ' + many)} {'was' if lost == 1 else 'were'} lost"
    if causes:
        text += ": " + "; ".join(c[1] for c in causes)
    next_step = causes[0][2] if causes else "Check where requests leave the design."
    return Verdict(lost, False, text + ".", next_step)


def _error_rate(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    arrivals = max(1, source.get("arrivals", 0))
    met = source.get("met_error", 0)
    rate = 100 * met / arrivals
    below = _compare(rate, scenario.comparator, threshold)
    reachable = seed.design.reachable(node) if node else []
    one, many = seed.nouns(node, 1), seed.nouns(node, 2)
    hot = [(name, seed.peak.get(name, 0.0)) for name in reachable
           if name in seed.stations and seed.design.node(name).part.error_threshold is not None
           and seed.peak.get(name, 0.0) > (seed.design.node(name).part.error_threshold or 1.0)]
    hot.sort(key=lambda item: -item[1])
    over = bool(scenario.require_headroom and hot)
    passed = below and not over
    # A full queue loses payments (scenario 2's business); here only failed calls and failed writes count.
    calls = {name: (seed.stations[name]["errors"] if seed.specs.get(name, {}).get("kind") == "buffer"
                    else seed.failed_calls(name)) for name in reachable if name in seed.stations}
    culprits = sorted(((name, n) for name, n in calls.items() if n > 0), key=lambda item: -item[1])
    headline = f"Error rate {percent(rate)}: {met:,} of {arrivals:,} {many} met an error"
    timeouts = source.get("timeouts", 0)
    extras = []
    if timeouts:
        extras.append(f"{count_of(timeouts, one, many)} timed out")
    recovered = met - source.get("outcomes", {}).get("error", 0) - source.get("outcomes", {}).get("failed", 0)
    if recovered > 0:
        extras.append(f"{recovered:,} of them recovered by a retry, which still counts")
    if extras:
        headline += f" ({'; '.join(extras)})"
    if culprits:
        name, calls = culprits[0]
        station = seed.stations[name]
        share = 100 * calls / max(1, station["arrivals"])
        busy = ("" if seed.specs.get(name, {}).get("kind") == "buffer"
                else f", at {percent(seed.peak.get(name, 0.0) * 100)} peak utilization")
        cause = f"the most failed calls were at {seed.label(name)}: {calls:,} ({percent(share)} of its calls{busy})"
        if station.get("kind") != "buffer" and station.get("rejected", 0) > station.get("errors", 0):
            cause += (f"; {station['rejected']:,} of them refused because all its "
                      f"{seed.specs.get(name, {}).get('capacity', 0):,} slots were taken")
    else:
        cause = "no part on the path failed a call"
    if passed:
        return Verdict(rate, True, f"{headline}, under the {threshold:g} % limit; {cause}.",
                       "Keep every part on the path under 80 % as you tune the rest.")
    sentences = [headline + (f", at or above the {threshold:g} % limit." if not below else f", under the {threshold:g} % limit, but")]
    if over:
        sentences.append(join_and([f"{seed.label(n)} ran at {percent(u * 100)} busy at the peak, above its "
                                   f"{percent((seed.design.node(n).part.error_threshold or 0) * 100)} error threshold "
                                   f"({seed.failed_calls(n):,} failed calls)" for n, u in hot]) + ".")
    if not over or culprits[0][0] != hot[0][0]:
        sentences.append(cause[0].upper() + cause[1:] + ".")
    text = " ".join(sentences)
    target = hot[0][0] if hot else (culprits[0][0] if culprits else None)
    sync = seed.design.sync_path(node) if node else []
    refused = target is not None and seed.stations[target].get("rejected", 0) > seed.stations[target].get("errors", 0) \
        and seed.specs.get(target, {}).get("kind") != "buffer"
    if timeouts > met / 2:
        blocking = next((n for n in sync if seed.design.node(n).part.role == "queue"), None)
        step = (f"Most of these {many} gave up waiting: set {seed.label(blocking)}'s acknowledges to 1, so the caller "
                f"is answered once the write is done." if blocking else
                f"Most of these {many} gave up waiting: answer the caller before the slow part, at an acknowledging "
                f"queue in front of it.")
    elif refused and target is not None:
        step = (f"Give {seed.label(target)} more slots ({_knobs(seed.design.node(target), 'instances', 'cores', 'concurrency')}): "
                f"a request that finds every slot taken is refused, an error.")
    elif target is None:
        step = "Errors compound hop by hop: take parts off the path."
    elif target in seed.externals():
        if target in sync:
            step = (f"Move {seed.label(target)} behind an acknowledging queue: the spike then waits in the queue, "
                    f"and the slots of the workers draining it decide how busy {seed.label(target)} gets.")
        else:
            callers = [seed.design.node(c) for c in seed.design.predecessors(target)]
            slots = sum(seed.compiled.stations[c.id].slots or 0 for c in callers if c.id in seed.compiled.stations)
            names = join_and([c.label for c in callers]) or "its callers"
            step = (f"Lower the slots of {names} (instances × concurrency, {slots} now) so {seed.label(target)} "
                    f"stays under 80 % at the peak: its callers are the only thing that holds it there, and "
                    f"retries can't undo a failed call.")
    elif seed.peak.get(target, 0.0) > 0.8:
        step = (f"Raise {seed.label(target)}'s {_knobs(seed.design.node(target), 'instances', 'cores')} until its "
                f"peak stays under 80 %.")
    else:
        step = "Errors compound hop by hop: every part on the path takes a share of the budget; take hops off it."
    return Verdict(rate, False, text, step)


def _recovery(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    externals = seed.externals(seed.design.reachable(node) if node else None)
    if not externals:
        return Verdict(0.0, False, "Nothing on the path calls an external part, so nothing is recovered next to one.",
                       "Connect the external part the kata is about.")
    worst: Verdict | None = None
    for external in externals:
        label = seed.label(external)
        callers = seed.design.predecessors(external)
        unqueued = [c for c in callers
                    if not seed.design.predecessors(c)
                    or any(seed.design.node(p).part.role != "queue" for p in seed.design.predecessors(c))]
        errors = seed.failed_calls(external)
        station = seed.stations.get(external, {})
        verdict: Verdict
        if unqueued:
            names = join_and([seed.label(c) for c in unqueued])
            verdict = Verdict(
                0.0, False,
                f"{label} is called by {names}, which {'takes' if len(unqueued) == 1 else 'take'} requests straight "
                f"from a part that is not a queue: a failed call has nowhere to go back to ({errors:,} failed calls).",
                f"Put a queue with retries directly in front of the workers that call {label}, and let only them "
                f"call it.")
        else:
            feeding = sorted({p for c in callers for p in seed.design.predecessors(c)})
            silent = [q for q in feeding if not seed.retries(q)]
            if silent:
                others = [q for q in seed.design.reachable(node) if seed.retries(q)] if node else []
                aside = (f"; the retry on {join_and([seed.label(q) for q in others])} never sees a failure of "
                         f"{label}, because the callers of {label} take their work from {seed.label(silent[0])}"
                         if others else "")
                verdict = Verdict(
                    0.0, False,
                    f"{seed.label(silent[0])} feeds the callers of {label} but does not retry: {errors:,} failed "
                    f"calls of {label} surfaced, none went back for another attempt{aside}.",
                    f"Set {seed.label(silent[0])}'s max_attempts to 3 or more, with a backoff.")
            else:
                sent_back, ran_out = station.get("recovered", 0), station.get("exhausted", 0)
                share = 100.0 if errors == 0 else 100 * sent_back / errors
                passed = _compare(share, scenario.comparator, threshold)
                queues = join_and([seed.label(q) for q in feeding])
                detail = f"{queues} feeds the callers of {label} and retries with backoff; "
                if not errors:
                    detail += f"{label} failed no call in this run."
                else:
                    detail += f"{sent_back:,} of {errors:,} failed calls went back to it for another attempt ({percent(share)})"
                    detail += f", {ran_out:,} ran out of attempts." if ran_out else "."
                step = "Nothing to fix here." if passed else (
                    f"{label} failed too often for the attempts allowed: keep it under 80 % busy, then raise "
                    f"max_attempts on {queues}.")
                verdict = Verdict(share, passed, detail, step)
        if worst is None or verdict.value < worst.value:
            worst = verdict
    assert worst is not None
    return worst


def _peak_cost(seed: _Seed, scenario: ScenarioSpec, threshold: float, service_ok: dict[int, bool]) -> Verdict:
    cost = float(seed.results.get("cost_per_hour_peak", seed.compiled.cost_per_hour))
    within = cost <= threshold + 1e-9
    failing = [order for order, ok in service_ok.items() if not ok]
    priciest = max(seed.compiled.stations.values(), key=lambda s: s.cost_per_hour)
    cheapest = seed.palette.cheapest_cost_per_hour
    known = f"; the cheapest passing design found costs ${cheapest:.2f}/h" if cheapest else ""
    if within and not failing:
        return Verdict(cost, True, f"Peak cost ${cost:.2f}/h is within the ${threshold:.2f}/h budget{known}, while "
                                   f"{scenarios_phrase(list(service_ok))} hold.", "Nothing to fix here.")
    if not within:
        node = seed.design.node(priciest.id)
        behind_queue = any(seed.design.node(p).part.role == "queue" for p in seed.design.predecessors(priciest.id))
        knobs = _knobs(node, "instances", "cores", "concurrency")
        step = (f"Size {priciest.label} to drain the backlog after the spike rather than for the peak: lower its "
                f"{knobs}, and let the queue in front of it absorb the spike."
                if behind_queue else
                f"Lower {priciest.label}'s {knobs}: size it to carry its load at under 80 %, no more.")
        return Verdict(
            cost, False,
            f"Peak cost ${cost:.2f}/h > budget ${threshold:.2f}/h{known}: {priciest.label} alone costs "
            f"${priciest.cost_per_hour:.2f}/h.", step)
    return Verdict(
        cost, False,
        f"Peak cost ${cost:.2f}/h is within the ${threshold:.2f}/h budget, but {scenarios_phrase(failing)} "
        f"{'does' if len(failing) == 1 else 'do'} not hold, so the budget is met only by giving up service.",
        f"Make scenario {failing[0]} pass first, then check the cost again.",
    )


def _settle_p99(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    summary = source.get("settle") if source.get("settle", {}).get("count") else source.get("sojourn", {})
    p99_s = summary.get("p99") or 0.0
    p99 = p99_s * 1000
    passed = _compare(p99, scenario.comparator, threshold)
    hot = seed.hottest(seed.design.reachable(node) if node else [])
    cause = f"; busiest part: {seed.label(hot[0])} at {percent(hot[1] * 100)} peak utilization" if hot else ""
    step = "Nothing to fix here." if passed else (
        f"Raise {seed.label(hot[0])}'s {_knobs(seed.design.node(hot[0]), 'instances', 'cores')} or take load off it."
        if hot else "Shorten the path.")
    sign = "≤" if passed else ">"
    return Verdict(p99, passed, f"p99 latency {duration(p99_s)} {sign} {duration(threshold / 1000)}{cause}.", step)


def _peak_utilization(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    hot = seed.hottest(seed.design.reachable(node) if node else list(seed.stations))
    if hot is None:
        return Verdict(0.0, True, "No part carries load.", "")
    value = 100 * hot[1]
    passed = _compare(value, scenario.comparator, threshold)
    text = f"{seed.label(hot[0])} is the busiest part at {percent(value)} peak utilization"
    knobs = _knobs(seed.design.node(hot[0]), "instances", "cores")
    step = "Nothing to fix here." if passed else f"Raise {seed.label(hot[0])}'s {knobs}, or put a cache in front of it."
    return Verdict(value, passed, text + ("." if passed else f", above {percent(threshold)}."), step)


_EVALUATORS: dict[str, Callable[[_Seed, ScenarioSpec, float], Verdict]] = {
    "accept_p99_ms": _accept_p99,
    "dropped": _dropped,
    "error_rate_pct": _error_rate,
    "recovery": _recovery,
    "settle_p99_ms": _settle_p99,
    "peak_utilization_pct": _peak_utilization,
}


def scenario_threshold(scenario: ScenarioSpec, palette: Palette) -> float:
    if scenario.metric == "peak_cost" and scenario.threshold is None:
        return palette.budget_per_hour
    return float(scenario.threshold if scenario.threshold is not None else 0.0)


def _worst_seed(seeds: Sequence[int], per_seed: dict[int, Verdict], lower_better: bool) -> int:
    """A failing seed first, then the one furthest on the wrong side (the lowest seed on a tie)."""
    return max(seeds, key=lambda s: (not per_seed[s].passed, per_seed[s].value if lower_better else -per_seed[s].value,
                                     -s))


def grade(
    *, palette: Palette, design: Design, compiled: CompiledDesign, results_by_seed: dict[int, dict[str, Any]]
) -> Grade:
    """Grade one design from its results on each seed."""
    seeds = sorted(results_by_seed)
    facts = {s: _Seed(s, results_by_seed[s], compiled, design, palette) for s in seeds}
    scenarios = sorted(palette.scenarios, key=lambda s: s.order)
    verdicts: dict[int, dict[int, Verdict]] = {}
    for scenario in scenarios:
        if scenario.metric == "peak_cost":
            continue
        evaluate = _EVALUATORS[scenario.metric]
        verdicts[scenario.order] = {s: evaluate(facts[s], scenario, scenario_threshold(scenario, palette))
                                    for s in seeds}
    for scenario in scenarios:
        if scenario.metric != "peak_cost":
            continue
        service = [sc.order for sc in scenarios if sc.metric in SERVICE_METRICS]
        verdicts[scenario.order] = {
            s: _peak_cost(facts[s], scenario, scenario_threshold(scenario, palette),
                          {order: verdicts[order][s].passed for order in service})
            for s in seeds
        }
    results = []
    for scenario in scenarios:
        per_seed = verdicts[scenario.order]
        worst_seed = _worst_seed(seeds, per_seed, scenario.comparator in LOWER_IS_BETTER)
        worst = per_seed[worst_seed]
        which = f"Seed {worst_seed}" + (f", the worst of {len(seeds)}" if len(seeds) > 1 else "")
        results.append(
            ScenarioResult(
                id=scenario.order, title=scenario.title, metric=scenario.metric, comparator=scenario.comparator,
                passed=all(v.passed for v in per_seed.values()), value=round(worst.value, 4),
                threshold=scenario_threshold(scenario, palette), unit=UNITS.get(scenario.metric, ""),
                explanation=f"{which}: {worst.explanation}", next_step=worst.next_step, worst_seed=worst_seed,
                values=[round(per_seed[s].value, 4) for s in seeds],
                values_by_seed={str(s): round(per_seed[s].value, 4) for s in seeds},
            )
        )
    return Grade(kata=palette.slug, seeds=seeds, scenarios=results)
