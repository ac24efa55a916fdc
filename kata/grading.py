"""Grading: a kata's scenarios evaluated on a design's simulation results, over several seeds.

A scenario passes only if it passes on every seed, and the grade shows the worst seed's value. Every verdict says
which part and which metric are responsible, and one next thing to try.

Works on plain data (`Results.to_dict()` per seed, the compiled design, the palette) so it can grade a run that
was saved long ago, in a web request, a worker or the `grade` command alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kata.compiler import CompiledDesign
from kata.design import Design
from kata.palette import Palette, ScenarioSpec

# Seconds of simulated time over which a part's peak utilization is taken (the error curve's window is 5 s;
# a slightly longer one keeps a single noisy second from being called "the peak").
PEAK_WINDOW_STEPS = 10
LOWER_IS_BETTER = {"le", "lt", "eq"}
# Scenarios whose holding is a condition of the cost scenario.
SERVICE_METRICS = ("accept_p99_ms", "dropped", "error_rate_pct")

UNITS = {
    "accept_p99_ms": "ms",
    "settle_p99_ms": "ms",
    "dropped": "payments",
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


def _pct(x: float) -> str:
    if x == 0:
        return "0 %"
    return f"{x:.2f} %" if x < 10 else f"{x:.0f} %"


class _Seed:
    """The facts of one seed's results that verdicts are written from."""

    def __init__(self, results: dict[str, Any], compiled: CompiledDesign, design: Design, palette: Palette) -> None:
        self.results = results
        self.compiled = compiled
        self.design = design
        self.palette = palette
        self.stations = {s["name"]: s for s in results["stations"]}
        self.sources = {s["name"]: s for s in results["sources"]}
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

    def source_label(self, node_id: str | None) -> str:
        return self.design.node(node_id).label if node_id else "the source"

    def source_node(self, part_key: str | None) -> str | None:
        for node_id, key in self.compiled.sources.items():
            if part_key is None or key == part_key:
                return node_id
        return None

    def sync_path(self, source_node: str) -> list[str]:
        """Stations a request from this source passes before it is acknowledged (stops at acknowledging queues)."""
        seen: list[str] = []
        frontier = list(self.design.successors(source_node))
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            node = self.design.node(current)
            if node.part.role == "queue" and node.param("acknowledges", 1):
                continue
            seen.append(current)
            frontier.extend(self.design.successors(current))
        return seen

    def reachable(self, source_node: str) -> list[str]:
        seen: list[str] = []
        frontier = list(self.design.successors(source_node))
        while frontier:
            current = frontier.pop(0)
            if current not in seen:
                seen.append(current)
                frontier.extend(self.design.successors(current))
        return seen

    def hottest(self, stations: Sequence[str]) -> tuple[str, float] | None:
        candidates = [(name, self.peak.get(name, 0.0)) for name in stations if name in self.stations]
        return max(candidates, key=lambda item: item[1]) if candidates else None

    def worst_errors(self, stations: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
        candidates = [(name, self.stations[name]) for name in stations if name in self.stations]
        candidates = [c for c in candidates if c[1]["errors"] + c[1]["rejected"] > 0]
        return max(candidates, key=lambda c: c[1]["errors"] + c[1]["rejected"]) if candidates else None

    def externals(self) -> list[str]:
        return [info.id for info in self.compiled.stations.values() if info.role == "external"]


def _station_failure_rate(station: dict[str, Any]) -> float:
    calls = max(1, station["arrivals"])
    return 100 * (station["errors"] + station["rejected"]) / calls


def _accept_p99(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    p99 = (source.get("accept", {}).get("p99") or 0.0) * 1000
    passed = _compare(p99, scenario.comparator, threshold)
    path = seed.sync_path(node) if node else []
    waits = sorted(
        ((name, (seed.stations[name]["sojourn"].get("p99") or 0.0) * 1000) for name in path if name in seed.stations),
        key=lambda item: -item[1],
    )
    external = next((name for name in path if name in seed.externals()), None)
    slowest = waits[0] if waits else None
    if passed:
        detail = f"p99 accept latency {p99:.0f} ms is within {threshold:g} ms"
        if slowest:
            detail += f"; the slowest part the caller waits for is {seed.label(slowest[0])} (p99 {slowest[1]:.0f} ms)"
        return Verdict(p99, True, detail + ".", "Keep the synchronous path this short as you change the rest.")
    if external:
        return Verdict(
            p99, False,
            f"p99 accept latency {p99:.0f} ms > {threshold:g} ms: the checkout waits for {seed.label(external)} "
            f"(p99 {(seed.stations[external]['sojourn'].get('p99') or 0) * 1000:.0f} ms) on its synchronous path.",
            f"Put an acknowledging queue in front of {seed.label(external)} so the checkout is answered before settlement.",
        )
    hot = seed.hottest(path)
    if hot and hot[1] >= 0.8:
        return Verdict(
            p99, False,
            f"p99 accept latency {p99:.0f} ms > {threshold:g} ms: {seed.label(hot[0])} peaked at {hot[1] * 100:.0f} % "
            f"utilization, so requests queue in front of it.",
            f"Add instances to {seed.label(hot[0])} until its peak stays under 80 %.",
        )
    culprit = f"{seed.label(slowest[0])} (p99 {slowest[1]:.0f} ms)" if slowest else "the path"
    return Verdict(
        p99, False,
        f"p99 accept latency {p99:.0f} ms > {threshold:g} ms; the slowest part the caller waits for is {culprit}.",
        "Move work behind an acknowledging queue, or remove hops from the synchronous path.",
    )


def _dropped(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    outcomes = source.get("outcomes", {})
    failed, dropped, unfinished = outcomes.get("failed", 0), outcomes.get("dropped", 0), source.get("unfinished", 0)
    lost = failed + dropped
    passed = _compare(lost, scenario.comparator, threshold)
    reachable = seed.reachable(node) if node else []
    buffers = [name for name in reachable if seed.stations.get(name, {}).get("kind") == "buffer"]
    if passed:
        settled = outcomes.get("completed", 0)
        return Verdict(lost, True, f"All {settled:,} acknowledged payments were settled; none dropped or failed.",
                       "Nothing to fix here: keep the queue's capacity and retries as they are.")
    parts = []
    full = [(name, seed.stations[name]) for name in buffers if seed.stations[name]["rejected"] > 0]
    if full:
        name, station = max(full, key=lambda item: item[1]["rejected"])
        capacity = next((s.get("capacity") for s in seed.compiled.spec["stations"] if s["name"] == name), None)
        parts.append(f"{seed.label(name)} was full {station['rejected']:,} times (capacity {capacity:,}, "
                     f"deepest {station['max_queue']:,} waiting)")
        next_step = (f"Raise {seed.label(name)}'s capacity well above the spike's backlog "
                     f"(it reached {station['max_queue']:,}), or drain it faster without pushing the gateway past 80 %.")
    elif failed:
        worst = seed.worst_errors([n for n in reachable if n not in buffers])
        retrying = [n for n in buffers if "retry" in next(s for s in seed.compiled.spec["stations"] if s["name"] == n)]
        culprit = f" ({seed.label(worst[0])} failed {worst[1]['errors']:,} calls)" if worst else ""
        parts.append(f"{failed:,} failed after acknowledgement{culprit}")
        if retrying:
            next_step = "Retries ran out: keep the gateway under 80 % so fewer calls fail, or allow more attempts."
        else:
            next_step = "Let the queue in front of the gateway retry failed calls (max_attempts 3 or more, with backoff)."
    else:
        next_step = "Add consumers to the queue so the backlog drains before the drain window ends."
    if unfinished:
        parts.append(f"{unfinished:,} were still waiting when the drain window ended")
    if failed and full:
        parts.append(f"{failed:,} failed after acknowledgement")
    return Verdict(lost, False, f"{lost:,} acknowledged payments were lost: " + "; ".join(parts) + ".", next_step)


def _error_rate(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    arrivals = max(1, source.get("arrivals", 0))
    outcomes = source.get("outcomes", {})
    bad = outcomes.get("error", 0) + outcomes.get("failed", 0)
    rate = 100 * bad / arrivals
    passed = _compare(rate, scenario.comparator, threshold)
    reachable = seed.reachable(node) if node else []
    worst = seed.worst_errors(reachable)
    if worst is None:
        return Verdict(rate, passed, f"No part on the path failed a call: error rate {_pct(rate)}.",
                       "Nothing to fix here.")
    name, station = worst
    peak = seed.peak.get(name, 0.0)
    cause = (f"{seed.label(name)} at {peak * 100:.0f} % peak utilization → {_pct(_station_failure_rate(station))} of its calls "
             f"failed ({station['errors'] + station['rejected']:,})")
    verdict = f"Error rate {_pct(rate)} ({bad:,} of {arrivals:,} requests from {seed.source_label(node)})"
    if passed:
        return Verdict(rate, True, f"{verdict} is under {threshold:g} %. Largest source of errors: {cause}.",
                       "Keep every part on the payment path under 80 % as you tune the rest.")
    if peak > 0.8 and name in seed.externals() and name in (seed.sync_path(node) if node else []):
        step = (f"Move {seed.label(name)} behind an acknowledging queue: the spike then waits in the queue, and the "
                f"workers draining it decide how busy {seed.label(name)} gets.")
    elif peak > 0.8 and name in seed.externals():
        callers = [p for p in seed.design.predecessors(name)]
        caller = seed.label(callers[0]) if callers else "its callers"
        step = (f"Cap the total concurrency of {caller} (instances × concurrency) so {seed.label(name)} stays under 80 %: "
                f"its callers are the only thing that can hold it there.")
    elif peak > 0.8:
        step = f"Add instances to {seed.label(name)} until its peak utilization stays under 80 %."
    else:
        step = "Errors compound hop by hop: take parts off the synchronous path, and retry calls that can fail."
    return Verdict(rate, False, f"{verdict} ≥ {threshold:g} %: {cause}.", step)


def _recovery(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    externals = seed.externals()
    if not externals:
        return Verdict(100.0, True, "This design calls no external part, so there is nothing to recover.", "")
    specs = {s["name"]: s for s in seed.compiled.spec["stations"]}
    findings = []
    for external in externals:
        callers = seed.design.predecessors(external)
        feeding = []
        for caller in callers:
            if specs.get(caller, {}).get("kind") == "buffer":
                feeding.append(caller)
            else:
                feeding += [q for q in seed.design.predecessors(caller) if specs.get(q, {}).get("kind") == "buffer"]
        retrying = [q for q in feeding if "retry" in specs[q]]
        station = seed.stations.get(external, {})
        errors = station.get("errors", 0) + station.get("rejected", 0)
        # Handled by the recovery buffer: sent back for another attempt, or out of the bounded attempts it allows
        # (how many run out is the error-rate scenario's business; here what matters is that none went unhandled).
        recovered, exhausted = station.get("recovered", 0), station.get("exhausted", 0)
        findings.append((external, callers, feeding, retrying, errors, (recovered, exhausted)))
    worst = None
    for external, callers, feeding, retrying, errors, handled in findings:
        label = seed.label(external)
        if not feeding:
            names = ", ".join(seed.label(c) for c in callers) or "nothing"
            worst = Verdict(
                0.0, False,
                f"{label} is called by {names}, which no queue feeds: a failed call has nowhere to go back to"
                f" ({errors:,} calls failed).",
                f"Put a queue with retries in front of the workers that call {label}, and let only those workers call it.",
            )
            break
        if not retrying:
            worst = Verdict(
                0.0, False,
                f"{seed.label(feeding[0])} feeds the callers of {label} but does not retry: "
                f"{errors:,} failed gateway calls were surfaced, none retried.",
                f"Set {seed.label(feeding[0])}'s max_attempts to 3 or more, with a backoff.",
            )
            break
        sent_back, ran_out = handled
        share = 100.0 if errors == 0 else 100 * (sent_back + ran_out) / errors
        passed = _compare(share, scenario.comparator, threshold)
        detail = f"{seed.label(retrying[0])} sits in front of {label}'s callers and retries with backoff; "
        if not errors:
            detail += f"{label} failed no call in this run."
        else:
            detail += f"{sent_back + ran_out:,} of {errors:,} failed calls were handled by it ({_pct(share)})"
            detail += f", {ran_out:,} of them on their last attempt." if ran_out else ", every one retried."
        verdict = Verdict(share, passed, detail,
                          "Nothing to fix here." if passed else
                          f"Make every caller of {label} take its work from {seed.label(retrying[0])}.")
        if worst is None or verdict.value < worst.value:
            worst = verdict
    assert worst is not None
    return worst


def _peak_cost(seed: _Seed, scenario: ScenarioSpec, threshold: float, service_ok: dict[int, bool]) -> Verdict:
    cost = float(seed.results.get("cost_per_hour_peak", seed.compiled.cost_per_hour))
    within = cost <= threshold + 1e-9
    failing = [order for order, ok in service_ok.items() if not ok]
    priciest = max(seed.compiled.stations.values(), key=lambda s: s.cost_per_hour)
    if within and not failing:
        return Verdict(cost, True, f"Peak cost ${cost:.2f}/h is within the ${threshold:.2f}/h budget while scenarios 1–3 hold.",
                       "Nothing to fix here.")
    if not within:
        behind_queue = any(seed.design.node(p).part.role == "queue" for p in seed.design.predecessors(priciest.id))
        step = (f"Size {priciest.label} for the normal rate, not the peak, and let the queue in front of it absorb the spike."
                if behind_queue else
                f"Use fewer instances of {priciest.label}: size it to carry its load at under 80 %, or take load off it.")
        return Verdict(
            cost, False,
            f"Peak cost ${cost:.2f}/h > budget ${threshold:.2f}/h: {priciest.label} alone costs ${priciest.cost_per_hour:.2f}/h.",
            step,
        )
    listed = ", ".join(str(o) for o in failing)
    return Verdict(
        cost, False,
        f"Peak cost ${cost:.2f}/h is within the ${threshold:.2f}/h budget, but scenario {listed} does not hold, "
        "so the budget is met only by giving up service.",
        f"Make scenario {failing[0]} pass first, then check the cost again.",
    )


def _settle_p99(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    summary = source.get("settle") if source.get("settle", {}).get("count") else source.get("sojourn", {})
    p99 = (summary.get("p99") or 0.0) * 1000
    passed = _compare(p99, scenario.comparator, threshold)
    hot = seed.hottest(seed.reachable(node) if node else [])
    cause = f"; busiest part: {seed.label(hot[0])} at {hot[1] * 100:.0f} % peak utilization" if hot else ""
    step = "Nothing to fix here." if passed else (
        f"Add instances to {seed.label(hot[0])} or take load off it." if hot else "Shorten the path.")
    sign = "≤" if passed else ">"
    return Verdict(p99, passed, f"p99 latency {p99:.0f} ms {sign} {threshold:g} ms{cause}.", step)


def _peak_utilization(seed: _Seed, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    hot = seed.hottest(seed.reachable(node) if node else list(seed.stations))
    if hot is None:
        return Verdict(0.0, True, "No part carries load.", "")
    value = 100 * hot[1]
    passed = _compare(value, scenario.comparator, threshold)
    text = f"{seed.label(hot[0])} is the busiest part at {value:.0f} % peak utilization"
    step = "Nothing to fix here." if passed else f"Add instances to {seed.label(hot[0])} or put a cache in front of it."
    return Verdict(value, passed, text + ("." if passed else f", above {threshold:g} %."), step)


_EVALUATORS: dict[str, Callable[[_Seed, ScenarioSpec, float], Verdict]] = {
    "accept_p99_ms": _accept_p99,
    "dropped": _dropped,
    "error_rate_pct": _error_rate,
    "recovery": _recovery,
    "settle_p99_ms": _settle_p99,
    "peak_utilization_pct": _peak_utilization,
}


def _threshold(scenario: ScenarioSpec, palette: Palette) -> float:
    if scenario.metric == "peak_cost" and scenario.threshold is None:
        return palette.budget_per_hour
    return float(scenario.threshold if scenario.threshold is not None else 0.0)


def grade(
    *, palette: Palette, design: Design, compiled: CompiledDesign, results_by_seed: dict[int, dict[str, Any]]
) -> Grade:
    """Grade one design from its results on each seed."""
    seeds = sorted(results_by_seed)
    facts = {s: _Seed(results_by_seed[s], compiled, design, palette) for s in seeds}
    scenarios = sorted(palette.scenarios, key=lambda s: s.order)
    verdicts: dict[int, dict[int, Verdict]] = {}
    for scenario in scenarios:
        if scenario.metric == "peak_cost":
            continue
        evaluate = _EVALUATORS[scenario.metric]
        verdicts[scenario.order] = {s: evaluate(facts[s], scenario, _threshold(scenario, palette)) for s in seeds}
    for scenario in scenarios:
        if scenario.metric != "peak_cost":
            continue
        service = [sc.order for sc in scenarios if sc.metric in SERVICE_METRICS]
        verdicts[scenario.order] = {
            s: _peak_cost(facts[s], scenario, _threshold(scenario, palette),
                          {order: verdicts[order][s].passed for order in service})
            for s in seeds
        }
    results = []
    for scenario in scenarios:
        per_seed = verdicts[scenario.order]
        lower_better = scenario.comparator in LOWER_IS_BETTER
        # The worst seed: a failing one first, then the one furthest on the wrong side.
        worst_seed = max(seeds, key=lambda s: (not per_seed[s].passed,
                                               per_seed[s].value if lower_better else -per_seed[s].value))
        worst = per_seed[worst_seed]
        results.append(
            ScenarioResult(
                id=scenario.order, title=scenario.title, metric=scenario.metric, comparator=scenario.comparator,
                passed=all(v.passed for v in per_seed.values()), value=round(worst.value, 4),
                threshold=_threshold(scenario, palette), unit=UNITS.get(scenario.metric, ""),
                explanation=worst.explanation, next_step=worst.next_step, worst_seed=worst_seed,
                values=[round(per_seed[s].value, 4) for s in seeds],
            )
        )
    return Grade(kata=palette.slug, seeds=seeds, scenarios=results)
