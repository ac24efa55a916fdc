"""Grading: a kata's scenarios evaluated on a design's simulation results, over several seeds.

A scenario passes only if it passes on every seed, and the grade shows the worst seed's value. Every verdict is
written from one seed's numbers, names that seed, says which part and which figure are responsible, and gives one
next thing to try that uses only parameters that part has. The words for what flows (a traffic source's nouns)
and the parts' names come from the kata, so a new kata never reads another kata's nouns.

Works on plain data (`Results.to_dict()` per seed, the compiled design, the palette) so it can grade a run that
was saved long ago, in a web request, a worker or the `grade` command alike.

    facts.py    one seed's results read against the design (`SeedFacts`), `Verdict`
    latency.py  accept latency, completion latency, peak utilization
    lost.py     acknowledged requests lost, cause by cause
    errors.py   the error rate, and recovery next to an external part
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kata.compiler import CompiledDesign
from kata.design import Design
from kata.format import scenarios_phrase
from kata.grading.errors import error_rate, recovery
from kata.grading.facts import PEAK_WINDOW_STEPS, SeedFacts, Verdict, knobs
from kata.grading.interval import METHOD, seed_interval
from kata.grading.latency import accept_p99, peak_utilization, settle_p99
from kata.grading.lost import dropped
from kata.palette import Palette, ScenarioSpec

__all__ = ["PEAK_WINDOW_STEPS", "Grade", "ScenarioResult", "SeedFacts", "Verdict", "grade", "scenario_threshold"]

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
    # The mean over the grading seeds and its confidence interval [mean, low, high] (`interval.METHOD`); None with
    # one seed. The verdict is the worst seed's: the interval says how much the seeds agree.
    interval: list[float] | None = None
    interval_method: str = ""


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


def peak_cost(seed: SeedFacts, scenario: ScenarioSpec, threshold: float, service_ok: dict[int, bool]) -> Verdict:
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
        parameters = knobs(node, "instances", "cores", "concurrency")
        step = (f"Size {priciest.label} to drain the backlog after the spike rather than for the peak: lower its "
                f"{parameters}, and let the queue in front of it absorb the spike."
                if behind_queue else
                f"Lower {priciest.label}'s {parameters}: size it to carry its load at under 80 %, no more.")
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


EVALUATORS: dict[str, Callable[[SeedFacts, ScenarioSpec, float], Verdict]] = {
    "accept_p99_ms": accept_p99,
    "dropped": dropped,
    "error_rate_pct": error_rate,
    "recovery": recovery,
    "settle_p99_ms": settle_p99,
    "peak_utilization_pct": peak_utilization,
}


def scenario_threshold(scenario: ScenarioSpec, palette: Palette) -> float:
    if scenario.metric == "peak_cost" and scenario.threshold is None:
        return palette.budget_per_hour
    return float(scenario.threshold if scenario.threshold is not None else 0.0)


def _worst_seed(seeds: Sequence[int], per_seed: dict[int, Verdict], lower_better: bool) -> int:
    """A failing seed first, then the one furthest on the wrong side (the lowest seed on a tie)."""
    return max(seeds, key=lambda s: (not per_seed[s].passed, per_seed[s].value if lower_better else -per_seed[s].value,
                                     -s))


def _verdicts(scenarios: list[ScenarioSpec], facts: dict[int, SeedFacts],
              palette: Palette) -> dict[int, dict[int, Verdict]]:
    """Every scenario's verdict on every seed; the cost scenario's last, as it asks whether service held."""
    seeds = sorted(facts)
    verdicts: dict[int, dict[int, Verdict]] = {}
    for scenario in scenarios:
        if scenario.metric != "peak_cost":
            evaluate = EVALUATORS[scenario.metric]
            verdicts[scenario.order] = {s: evaluate(facts[s], scenario, scenario_threshold(scenario, palette))
                                        for s in seeds}
    service = [sc.order for sc in scenarios if sc.metric in SERVICE_METRICS and not sc.practice]
    for scenario in scenarios:
        if scenario.metric == "peak_cost":
            verdicts[scenario.order] = {
                s: peak_cost(facts[s], scenario, scenario_threshold(scenario, palette),
                             {order: verdicts[order][s].passed for order in service})
                for s in seeds
            }
    return verdicts


def _overload_note(seed: SeedFacts, scenario: ScenarioSpec) -> str:
    """A failing scenario's overloaded parts on its traffic's way (the simulator's `unstable` figures), or ""."""
    node = seed.source_node(scenario.source)
    among = seed.reachable(node) if node else list(seed.stations)
    words = seed.overloads(among)
    return (" " + "; ".join(words) + ".") if words else ""


def _result(scenario: ScenarioSpec, seeds: list[int], per_seed: dict[int, Verdict], palette: Palette,
            facts: dict[int, SeedFacts]) -> ScenarioResult:
    worst_seed = _worst_seed(seeds, per_seed, scenario.comparator in LOWER_IS_BETTER)
    worst = per_seed[worst_seed]
    which = f"Seed {worst_seed}" + (f", the worst of {len(seeds)}" if len(seeds) > 1 else "")
    passed = all(v.passed for v in per_seed.values())
    note = "" if passed else _overload_note(facts[worst_seed], scenario)
    interval = seed_interval([per_seed[s].value for s in seeds])
    return ScenarioResult(
        id=scenario.order, title=scenario.title, metric=scenario.metric, comparator=scenario.comparator,
        passed=passed, value=round(worst.value, 4),
        threshold=scenario_threshold(scenario, palette), unit=UNITS.get(scenario.metric, ""),
        explanation=f"{which}: {worst.explanation}{note}", next_step=worst.next_step, worst_seed=worst_seed,
        values=[round(per_seed[s].value, 4) for s in seeds],
        values_by_seed={str(s): round(per_seed[s].value, 4) for s in seeds},
        interval=[round(x, 4) for x in interval] if interval is not None else None,
        interval_method=METHOD if interval is not None else "",
    )


def grade(
    *, palette: Palette, design: Design, compiled: CompiledDesign, results_by_seed: dict[int, dict[str, Any]],
    practice: int | None = None,
) -> Grade:
    """Grade one design from its results on each seed: the graded scenarios, and the practice scenario `practice`
    when a what-if run tries it (practice scenarios are never part of a graded run's grade)."""
    seeds = sorted(results_by_seed)
    facts = {s: SeedFacts(s, results_by_seed[s], compiled, design, palette) for s in seeds}
    scenarios = sorted((s for s in palette.scenarios if not s.practice or s.order == practice), key=lambda s: s.order)
    verdicts = _verdicts(scenarios, facts, palette)
    results = [_result(scenario, seeds, verdicts[scenario.order], palette, facts) for scenario in scenarios]
    return Grade(kata=palette.slug, seeds=seeds, scenarios=results)
