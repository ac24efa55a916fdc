"""The brief's placeholders: thresholds, rules and the budget written into an instructor's text come from the
scenarios themselves, so the brief cannot disagree with what is graded.

    {threshold:1}  scenario 1's threshold with its unit          → "300 ms"
    {rule:1}       scenario 1's rule                             → "p99 accept latency ≤ 300 ms"
    {budget}       the kata's budget                             → "$2.50/h"
    {scenarios}    every scenario's title and rule, in order     → "1. Fast acknowledgement: p99 … ≤ 300 ms; 2. …"
"""

from __future__ import annotations

import re

from kata.palette import Palette, ScenarioSpec

PLACEHOLDER = re.compile(r"\{(threshold|rule):(\d+)\}|\{(budget|scenarios)\}")
# Anything in braces that looks like a placeholder but is none of them (a typo the instructor must hear about).
_LOOKALIKE = re.compile(r"\{[a-z_]+(?::[^{}\s]*)?\}")

_UNITS = {"accept_p99_ms": " ms", "settle_p99_ms": " ms", "error_rate_pct": " %", "recovery": " %",
          "peak_utilization_pct": " %", "dropped": ""}


def threshold_text(spec: ScenarioSpec, budget_per_hour: float) -> str:
    if spec.metric == "peak_cost" or spec.threshold is None:
        return f"${(budget_per_hour if spec.threshold is None else spec.threshold):.2f}/h"
    return f"{spec.threshold:g}{_UNITS.get(spec.metric, '')}"


def rule_text(spec: ScenarioSpec, budget_per_hour: float) -> str:
    return spec.rule(budget_per_hour).removeprefix("passes when ")


def brief_render(text: str, palette: Palette) -> str:
    """The text with its placeholders filled from the palette's scenarios (an unknown one is left as written)."""
    scenarios = {s.order: s for s in palette.scenarios}
    budget = palette.budget_per_hour

    def fill(match: re.Match[str]) -> str:
        kind, number, whole = match.group(1), match.group(2), match.group(3)
        if whole == "budget":
            return f"${budget:.2f}/h"
        if whole == "scenarios":
            return "; ".join(f"{s.order}. {s.title}: {rule_text(s, budget)}" for s in sorted(scenarios.values(),
                                                                                               key=lambda s: s.order))
        spec = scenarios.get(int(number))
        if spec is None:
            return match.group(0)
        return threshold_text(spec, budget) if kind == "threshold" else rule_text(spec, budget)

    return PLACEHOLDER.sub(fill, text)


BRIEF_FIELDS = ("summary", "overview", "context", "constraints_operational", "constraints_product",
                "learning_outcomes", "hints")


def brief_problems(text: str, scenario_orders: set[int] | None = None) -> list[str]:
    """What is wrong with a text's placeholders: unknown ones, and (given the kata's scenarios) scenarios that do
    not exist."""
    problems = []
    for match in PLACEHOLDER.finditer(text):
        if scenario_orders is not None and match.group(2) and int(match.group(2)) not in scenario_orders:
            problems.append(f"{match.group(0)} names scenario {match.group(2)}, which the kata does not have")
    known = {m.group(0) for m in PLACEHOLDER.finditer(text)}
    for match in _LOOKALIKE.finditer(text):
        if match.group(0) not in known:
            problems.append(f"{match.group(0)} is not a placeholder (use {{threshold:N}}, {{rule:N}}, {{budget}} or "
                            "{scenarios})")
    return problems
