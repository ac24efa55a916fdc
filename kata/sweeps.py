"""What-if sweeps: one learner-editable parameter of one part over a grid of values, each point simulated on the
kata's grading seeds and scored against its scenarios. Saved, never graded: a sweep makes no attempt and no run.

A sweep is validated whole before it is saved (the part and parameter exist and the learner may edit it, the grid
lies within the parameter's range and on its steps, at most MAX_POINTS points, and every point's design is valid),
then executed in the background where runs execute (a thread of the web server, its seeds in the warm pool; a Celery
task in production mode), one point after another, saving each point as it ends ("point 3 of 8"). Cancelling stops
it at the next seed.

`cheapest_passing` and `sweep_figures` are pure functions of the saved points.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from kata.charts import COLORS, LINE
from kata.design import DesignError, design_validate
from kata.grading import UNITS
from kata.models import Kata, KataVersion, Sweep
from kata.palette import Palette
from kata.runs.seeds import design_grade
from kata.versions import palette_live, palette_of_version, version_live

log = logging.getLogger(__name__)

MAX_POINTS = 12  # a sweep's grid: 12 points × the grading seeds is what one learner may ask of the pool at once
MIN_POINTS = 2
SWEEPS_PER_HOUR = 6
STALE_AFTER = timedelta(minutes=30)


class SweepRefused(ValueError):
    """A sweep that cannot start, with the reason in the learner's words."""


class SweepCancelled(Exception):
    pass


@dataclass(frozen=True)
class SweepChoice:
    """A parameter a sweep may move: a part of the design and one of its learner-editable parameters."""

    node: str
    node_label: str
    parameter: str
    parameter_label: str
    minimum: float
    maximum: float
    step: float
    current: float

    @property
    def key(self) -> str:
        return f"{self.node}:{self.parameter}"

    @property
    def label(self) -> str:
        return f"{self.node_label} · {self.parameter_label}"


def _palette(kata: Kata, *, as_author: bool) -> tuple[Palette, KataVersion | None]:
    if as_author:
        return Palette.from_kata(kata), None
    return palette_live(kata), version_live(kata)


def sweep_palette(sweep: Sweep) -> Palette:
    return palette_of_version(sweep.version) if sweep.version_id else Palette.from_kata(sweep.kata)


def sweep_choices(*, palette: Palette, document: Any) -> list[SweepChoice]:
    """Every learner-editable parameter of every part of a valid design (DesignError for an invalid one)."""
    design = design_validate(document, palette)
    choices = []
    for node in design.nodes:
        for spec in node.part.parameters:
            if spec.learner_editable and spec.maximum > spec.minimum:
                choices.append(SweepChoice(node.id, node.label, spec.name, spec.label, spec.minimum, spec.maximum,
                                           spec.step or 1.0, node.param(spec.name, spec.default)))
    return choices


def sweep_grid(choice: SweepChoice, *, start: float, stop: float, step: float) -> list[float]:
    """start, start + step, … up to stop: within the parameter's range, on its steps, MIN_POINTS to MAX_POINTS."""
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        if not math.isfinite(value):
            raise SweepRefused(f"The {name} must be a number.")
    if not choice.minimum <= start < stop <= choice.maximum:
        raise SweepRefused(f"Sweep {choice.parameter_label.lower()} from a lower to a higher value within "
                           f"{choice.minimum:g}–{choice.maximum:g}.")
    if step <= 0 or not _on_grid(step, choice.step):
        raise SweepRefused(f"The step must be a positive multiple of {choice.step:g}.")
    if not _on_grid(start - choice.minimum, choice.step):
        raise SweepRefused(f"{choice.parameter_label} takes steps of {choice.step:g} from {choice.minimum:g}.")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count < MIN_POINTS:
        raise SweepRefused("A sweep needs at least two points: widen the range or shorten the step.")
    if count > MAX_POINTS:
        raise SweepRefused(f"That is {count} points; a sweep has at most {MAX_POINTS}: widen the step.")
    values = [round(start + i * step, 9) for i in range(count)]
    return [int(v) if float(v).is_integer() else v for v in values]  # a count reads "2", not "2.0"


def _on_grid(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-6


def _with(document: dict[str, Any], node: str, parameter: str, value: float) -> dict[str, Any]:
    moved = copy.deepcopy(document)
    target = next(n for n in moved["nodes"] if n["id"] == node)
    target.setdefault("params", {})[parameter] = int(value) if float(value).is_integer() else value
    return moved


def sweep_start(*, learner: AbstractBaseUser, kata: Kata, document: Any, choice_key: str, start: float, stop: float,
                step: float, as_author: bool = False) -> Sweep:
    """Validate a sweep of the design `document` and save it queued (the caller submits it)."""
    palette, version = _palette(kata, as_author=as_author)
    try:
        choices = {c.key: c for c in sweep_choices(palette=palette, document=document)}
    except DesignError:
        raise SweepRefused("The design has problems to fix before it can be swept: fix them in the workspace.") \
            from None
    choice = choices.get(choice_key)
    if choice is None:
        raise SweepRefused("Pick a part's parameter that you may change.")
    values = sweep_grid(choice, start=start, stop=stop, step=step)
    design = design_validate(document, palette)
    for value in values:
        try:
            design_validate(_with(design.to_document(), choice.node, choice.parameter, value), palette)
        except DesignError as exc:
            raise SweepRefused(f"At {choice.parameter_label.lower()} {value:g} the design is not valid: "
                               f"{exc.problems[0].message}") from None
    mine = Sweep.objects.filter(learner=learner)
    # A sweep takes a minute or two: one still active after STALE_AFTER lost its executor (a server restart).
    mine.filter(status__in=Sweep.ACTIVE_STATUSES, created_at__lt=timezone.now() - STALE_AFTER).update(
        status=Sweep.Status.FAILED, error_message="The sweep stopped before it ended (its server restarted).",
        finished_at=timezone.now())
    if mine.filter(status__in=Sweep.ACTIVE_STATUSES).exists():
        raise SweepRefused("You already have a sweep going: wait for it, or cancel it.")
    if mine.filter(created_at__gte=timezone.now() - timedelta(hours=1)).count() >= SWEEPS_PER_HOUR:
        raise SweepRefused(f"You have started {SWEEPS_PER_HOUR} sweeps in the last hour, the most one learner may.")
    return Sweep.objects.create(learner=learner, kata=kata, version=version, design=design.to_document(),
                                node=choice.node, parameter=choice.parameter, values=values,
                                seeds=list(range(1, palette.grading_seeds + 1)))


def sweep_cancel(*, sweep: Sweep) -> bool:
    """Stop an active sweep (its executor notices at its next seed); the points done stay."""
    return bool(Sweep.objects.filter(pk=sweep.pk, status__in=Sweep.ACTIVE_STATUSES).update(
        status=Sweep.Status.CANCELLED, finished_at=timezone.now()))


def _still_running(sweep_id: int) -> bool:
    return Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.RUNNING).exists()


def sweep_execute(sweep_id: int, *, parallel: bool = True) -> None:
    """Simulate every point of a queued sweep, saving each as it ends; safe to call twice (the second does nothing)."""
    if not Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.QUEUED).update(status=Sweep.Status.RUNNING):
        return
    sweep = Sweep.objects.select_related("kata", "version").get(pk=sweep_id)
    palette = sweep_palette(sweep)
    points: list[dict[str, Any]] = []

    def still_wanted(*_: int) -> None:
        if not _still_running(sweep_id):
            raise SweepCancelled()

    try:
        for value in sweep.values:
            still_wanted()
            graded = design_grade(palette=palette, document=_with(sweep.design, sweep.node, sweep.parameter, value),
                                  seeds=sweep.seeds, parallel=parallel, done=still_wanted)
            points.append(_point(value, graded.compiled.cost_per_hour, graded.grade.to_dict()))
            if not Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.RUNNING).update(points=points):
                return  # cancelled meanwhile: the points saved before stay
    except SweepCancelled:
        return
    except Exception as exc:  # a sweep that breaks says so, and keeps the points it has
        log.exception("sweep %s failed", sweep_id)
        Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.RUNNING).update(
            status=Sweep.Status.FAILED, error_message=f"The sweep failed: {exc}", finished_at=timezone.now())
        return
    Sweep.objects.filter(pk=sweep_id, status=Sweep.Status.RUNNING).update(
        status=Sweep.Status.SUCCEEDED, finished_at=timezone.now())


def _point(value: float, cost: float, grade: dict[str, Any]) -> dict[str, Any]:
    scenarios = [{"id": s["id"], "title": s["title"], "metric": s["metric"], "value": s["value"],
                  "threshold": s["threshold"], "comparator": s["comparator"], "passed": s["passed"], "unit": s["unit"]}
                 for s in grade["scenarios"]]
    return {"value": value, "cost": round(cost, 4), "passed": all(s["passed"] for s in scenarios),
            "scenarios": scenarios}


# ---------------------------------------------------------------------------------------------- pure reads
def cheapest_passing(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The point that passes every scenario at the lowest cost (the lower value on a tie), or None."""
    passing = [p for p in points if p["passed"]]
    return min(passing, key=lambda p: (p["cost"], p["value"])) if passing else None


def _band(comparator: str, threshold: float) -> tuple[float | None, float | None]:
    """The pass band of a scenario as (low, high), None for open."""
    if comparator in ("le", "lt"):
        return None, threshold
    if comparator in ("ge", "gt"):
        return threshold, None
    return threshold, threshold


def sweep_figures(points: list[dict[str, Any]], *, parameter_label: str, budget: float | None = None,
                  values: list[float] | None = None) -> dict[str, dict[str, Any]]:
    """One figure per scenario: its value (worst seed) at each point, passing points green and failing red, the pass
    band shaded, the design's cost on a second axis, the cheapest passing point marked."""
    if not points:
        return {}
    xs = [p["value"] for p in points]
    cheapest = cheapest_passing(points)
    span = values or xs
    pad = (max(span) - min(span)) * 0.06 or 0.5
    figures: dict[str, dict[str, Any]] = {}
    for k, scenario in enumerate(points[0]["scenarios"]):
        ys = [next(s for s in p["scenarios"] if s["id"] == scenario["id"]) for p in points]
        unit = scenario["unit"] or UNITS.get(scenario["metric"], "")
        low, high = _band(scenario["comparator"], scenario["threshold"])
        top = max([s["value"] for s in ys] + [scenario["threshold"]]) * 1.15 or 1.0
        shapes: list[dict[str, Any]] = [{
            "type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "layer": "below",
            "y0": low if low is not None else min(0.0, min(s["value"] for s in ys)), "y1": high if high is not None
            else top, "fillcolor": "rgba(26,127,55,0.10)", "line": {"width": 0}}, {
            "type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": scenario["threshold"],
            "y1": scenario["threshold"], "line": LINE}]
        annotations: list[dict[str, Any]] = [{
            "xref": "paper", "x": 0, "y": scenario["threshold"], "text": "pass band", "showarrow": False,
            "xanchor": "left", "yanchor": "bottom", "font": {"size": 10, "color": "#1a7f37"}}]
        if cheapest is not None:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": cheapest["value"],
                           "x1": cheapest["value"], "y0": 0, "y1": 1,
                           "line": {"color": "#1a7f37", "width": 2, "dash": "dot"}})
            annotations.append({"xref": "x", "yref": "paper", "x": cheapest["value"], "y": 1,
                                "text": f"cheapest passing: {cheapest['value']:g} (${cheapest['cost']:.2f}/h)",
                                "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                                "font": {"size": 11, "color": "#1a7f37"}})
        data = [
            {"type": "scatter", "mode": "lines+markers", "name": scenario["title"], "x": xs,
             "y": [s["value"] for s in ys], "line": {"color": COLORS[k % len(COLORS)], "width": 2},
             "marker": {"size": 10, "color": ["#1a7f37" if s["passed"] else "#cf222e" for s in ys],
                        "symbol": ["circle" if s["passed"] else "x" for s in ys]},
             "hovertemplate": f"{parameter_label} %{{x}}: %{{y}} {unit}<extra></extra>"},
            {"type": "scatter", "mode": "lines", "name": "cost ($/h)", "x": xs, "y": [p["cost"] for p in points],
             "yaxis": "y2", "line": {"color": "#6e7781", "width": 1.5, "dash": "dash"},
             "hovertemplate": "cost $%{y:.2f}/h<extra></extra>"},
        ]
        if budget is not None:
            data.append({"type": "scatter", "mode": "lines", "name": "budget", "x": [min(span), max(span)],
                         "y": [budget, budget], "yaxis": "y2", "line": {"color": "#bf8700", "width": 1, "dash": "dot"},
                         "hoverinfo": "skip"})
        figures[f"scenario-{scenario['id']}"] = {"data": data, "layout": {
            "title": {"text": f"{scenario['id']}. {scenario['title']}", "font": {"size": 14}},
            "height": 300, "margin": {"l": 56, "r": 56, "t": 40, "b": 84},
            "xaxis": {"title": {"text": parameter_label}, "range": [min(span) - pad, max(span) + pad]},
            "yaxis": {"title": {"text": unit}, "rangemode": "tozero"},
            "yaxis2": {"title": {"text": "$/h"}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                       "showgrid": False},
            "legend": {"orientation": "h", "x": 0, "y": -0.32, "yanchor": "top", "font": {"size": 10}},
            "shapes": shapes, "annotations": annotations,
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#fbfcfd",
        }}
    return figures
