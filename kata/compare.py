"""Comparing two attempts: what changed in the design, how the metrics moved, and the charts overlaid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kata import selectors
from kata.models import Attempt, Run


@dataclass(frozen=True)
class DesignChange:
    kind: str  # "added", "removed", "changed", "connected", "disconnected"
    subject: str
    detail: str = ""


@dataclass(frozen=True)
class MetricDelta:
    title: str
    unit: str
    left: float | None
    right: float | None
    left_passed: bool | None
    right_passed: bool | None

    @property
    def delta(self) -> float | None:
        if self.left is None or self.right is None:
            return None
        return round(self.right - self.left, 4)


@dataclass(frozen=True)
class Comparison:
    left: Attempt
    right: Attempt
    left_run: Run | None
    right_run: Run | None
    changes: list[DesignChange]
    metrics: list[MetricDelta]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)


def design_diff(left: dict[str, Any], right: dict[str, Any]) -> list[DesignChange]:
    before = {n["id"]: n for n in left.get("nodes", [])}
    after = {n["id"]: n for n in right.get("nodes", [])}
    changes = [DesignChange("removed", node_id, before[node_id]["part"]) for node_id in before if node_id not in after]
    changes += [DesignChange("added", node_id, after[node_id]["part"]) for node_id in after if node_id not in before]
    for node_id in before.keys() & after.keys():
        old, new = before[node_id].get("params", {}), after[node_id].get("params", {})
        moved = [f"{key} {old.get(key, '—'):g} → {new.get(key, '—'):g}" for key in sorted(old.keys() | new.keys())
                 if old.get(key) != new.get(key)
                 and isinstance(old.get(key, 0), (int, float)) and isinstance(new.get(key, 0), (int, float))]
        if moved:
            changes.append(DesignChange("changed", node_id, ", ".join(moved)))
    edges = lambda d: {(e["source"], e["target"]) for e in d.get("edges", [])}  # noqa: E731
    changes += [DesignChange("disconnected", f"{s} → {t}") for s, t in sorted(edges(left) - edges(right))]
    changes += [DesignChange("connected", f"{s} → {t}") for s, t in sorted(edges(right) - edges(left))]
    return sorted(changes, key=lambda c: (c.subject, c.kind)) if changes else []


def _metrics(left_run: Run | None, right_run: Run | None) -> list[MetricDelta]:
    def by_id(run: Run | None) -> dict[int, dict[str, Any]]:
        return {s["id"]: s for s in ((run.grade or {}).get("scenarios", []) if run else [])}

    lefts, rights = by_id(left_run), by_id(right_run)
    rows = []
    for scenario_id in sorted(lefts.keys() | rights.keys()):
        a, b = lefts.get(scenario_id, {}), rights.get(scenario_id, {})
        rows.append(MetricDelta(
            title=f"{scenario_id}. {(a or b).get('title', '')}", unit=(a or b).get("unit", ""),
            left=a.get("value"), right=b.get("value"), left_passed=a.get("passed"), right_passed=b.get("passed"),
        ))
    return rows


def attempts_compare(*, left: Attempt, right: Attempt, budget: float) -> Comparison:
    # The graded runs: a what-if run measures another traffic or an incident, so it is never compared as a grade.
    left_run = left.runs.filter(status=Run.Status.SUCCEEDED, what_if__isnull=True).order_by("-created_at").first()
    right_run = right.runs.filter(status=Run.Status.SUCCEEDED, what_if__isnull=True).order_by("-created_at").first()
    figures: dict[str, dict[str, Any]] = {}
    if left_run and right_run:
        a = selectors.run_figures(run=left_run)
        b = selectors.run_figures(run=right_run)
        for key in ("accept", "errors", "cost", "utilization"):
            overlay = a[key]
            wanted = overlay["data"] if key != "accept" else overlay["data"][2:]
            for trace in wanted:
                trace["name"] = f"A · {trace['name']}"
            partner = b[key]["data"] if key != "accept" else b[key]["data"][2:]
            for trace in partner:
                trace["name"] = f"B · {trace['name']}"
                trace["line"] = {**trace["line"], "dash": "dot"}
            overlay["data"] = list(wanted) + list(partner)
            figures[key] = overlay
    return Comparison(left=left, right=right, left_run=left_run, right_run=right_run,
                      changes=design_diff(left.design, right.design), metrics=_metrics(left_run, right_run),
                      figures=figures)
