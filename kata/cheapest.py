"""The cheapest passing design near a given one: a search over the parameters that cost money.

Cost comes from instances and cores; every other parameter (slots, capacities, attempts, a TTL) is free but decides
whether a design passes. The search starts from a design that passes every scenario on the grading seeds and walks
downhill: at each step it tries every one-step cut of a priced parameter (a part's cores or instances, and a
worker's cores with its slots kept within what the cores hold, or spread over one instance fewer), most money saved
first, grading each on the seeds, and keeps the first that still passes. It stops when no cut passes. A cut that
failed once is not tried again from a cheaper design (cutting more elsewhere seldom makes it pass). That finds a
local minimum, not a proof of the global one; the kata's budget is judged against it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kata.compiler import compile_document
from kata.design import DesignError, design_validate
from kata.palette import Palette
from kata.runs.seeds import design_grade

PRICED = ("instances", "cores")


@dataclass(frozen=True)
class Step:
    """One graded candidate of the search, for progress lines."""

    number: int
    change: str
    cost: float
    passed: bool
    failed: tuple[int, ...]


@dataclass
class CheapestResult:
    start_cost: float
    cost: float
    document: dict[str, Any]
    evaluations: int
    steps: list[Step] = field(default_factory=list)


class SearchError(ValueError):
    """The search cannot start: the design is invalid or does not pass."""


def _cost(document: dict[str, Any], palette: Palette) -> float | None:
    try:
        return compile_document(document, palette).cost_per_hour
    except DesignError:
        return None


def _params(document: dict[str, Any], node_id: str) -> dict[str, Any]:
    node = next(n for n in document["nodes"] if n["id"] == node_id)
    return node.setdefault("params", {})


def _candidates(document: dict[str, Any], palette: Palette) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every one-step cut of a priced parameter, with the free parameters it forces kept valid."""
    design = design_validate(document, palette)
    for node in design.nodes:
        part = node.part
        for name in PRICED:
            spec = part.parameter(name)
            if spec is None or not spec.learner_editable:
                continue
            value = node.params[name]
            lower = value - spec.step
            if lower < spec.minimum - 1e-9:
                continue
            candidate = copy.deepcopy(document)
            params = _params(candidate, node.id)
            params.update({k: v for k, v in node.params.items() if k not in params})
            params[name] = lower
            change = f"{node.label}: {name} {value:g} → {lower:g}"
            per_core = part.concurrency_per_core
            if part.has_cores and part.parameter("concurrency") is not None:
                slots = node.params["instances"] * node.params["concurrency"]
                if name == "instances" and lower >= 1:
                    # Keep the part's slots: spread them over the instances left, if their cores allow it.
                    concurrency = math.ceil(slots / lower)
                    if per_core:
                        params["cores"] = max(params["cores"], math.ceil(concurrency / per_core))
                    params["concurrency"] = concurrency
                    change += f" (concurrency {params['concurrency']:g}, cores {params['cores']:g})"
                if per_core and params["concurrency"] > params["cores"] * per_core:
                    params["concurrency"] = params["cores"] * per_core
                    change += f" (concurrency {params['concurrency']:g})"
            yield f"{node.id}.{name}={lower:g}", change, candidate


def cheapest_search(
    *, palette: Palette, document: dict[str, Any], seeds: Sequence[int],
    progress: Callable[[Step], None] | None = None, max_evaluations: int = 200, parallel: bool = True,
) -> CheapestResult:
    """Walk down from `document` (which must pass on `seeds`) to the cheapest design one-step cuts reach."""
    try:
        start_cost = compile_document(document, palette).cost_per_hour
    except DesignError as exc:
        raise SearchError(f"invalid design: {exc}") from exc
    first = design_grade(palette=palette, document=document, seeds=seeds, parallel=parallel).grade
    if first.passed != first.total:
        failing = ", ".join(str(s.id) for s in first.scenarios if not s.passed)
        raise SearchError(f"the starting design does not pass (scenarios {failing} fail on seeds "
                          f"{', '.join(map(str, seeds))}); start from one that passes")
    result = CheapestResult(start_cost=start_cost, cost=start_cost, document=copy.deepcopy(document), evaluations=1)
    refused: set[str] = set()  # cuts already graded and failing ("workers.cores=7")
    while result.evaluations < max_evaluations:
        options = []
        for key, change, candidate in _candidates(result.document, palette):
            cost = _cost(candidate, palette)
            if cost is not None and cost < result.cost - 1e-9 and key not in refused:
                options.append((cost, change, candidate, key))
        options.sort(key=lambda o: o[0])
        accepted = False
        for cost, change, candidate, key in options:
            if result.evaluations >= max_evaluations:
                break
            grade = design_grade(palette=palette, document=candidate, seeds=seeds, parallel=parallel).grade
            result.evaluations += 1
            passed = grade.passed == grade.total
            step = Step(result.evaluations, change, cost, passed, tuple(s.id for s in grade.scenarios if not s.passed))
            result.steps.append(step)
            if progress is not None:
                progress(step)
            if passed:
                result.document, result.cost, accepted = candidate, cost, True
                break
            refused.add(key)
        if not accepted:
            break
    return result
