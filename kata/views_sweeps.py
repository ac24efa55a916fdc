"""What-if sweeps: the form (from the learner's current draft), a sweep's page with its progress (an htmx partial
that asks again while it runs), its figures, and cancelling it. A sweep is its learner's alone."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kata import selectors, sweeps
from kata.design import DesignError
from kata.forms import SweepForm
from kata.models import Sweep
from kata.runs.submit import sweep_submit
from kata.views import _get_kata, palette_for


def _get_sweep_for_user(request: HttpRequest, sweep_id: int) -> Sweep:
    sweep = selectors.sweep_get_for_learner(learner=request.user, sweep_id=sweep_id)
    if sweep is None:
        raise Http404("No such sweep.")
    return sweep


@login_required
@require_http_methods(["GET", "POST"])
def sweep_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Pick a part's parameter of the current draft and a grid; start the sweep."""
    kata = _get_kata(slug, request.user)
    palette = palette_for(kata, request.user)
    draft = selectors.draft_get(learner=request.user, kata=kata)
    # The design as the workspace last saved it; an unreadable draft is not swapped for the starter design.
    document: Any = selectors.starter_design(palette=palette) if draft is None else draft.design
    if draft is not None and draft.problems:
        document = None
    try:
        choices = sweeps.sweep_choices(palette=palette, document=document) if document is not None else []
    except DesignError:
        choices = []
    options = [(c.key, f"{c.label} (now {c.current:g}; {c.minimum:g}–{c.maximum:g} in steps of {c.step:g})")
               for c in choices]
    picked = next((c for c in choices if c.key == request.GET.get("choice")), choices[0] if choices else None)
    initial: dict[str, Any] = {}
    if picked is not None:
        initial = {"choice": picked.key, "start": picked.minimum, "step": picked.step,
                   "stop": min(picked.maximum, picked.minimum + picked.step * (sweeps.MAX_POINTS // 2 + 1))}
    form = SweepForm(request.POST or None, initial=initial, choices=options)
    status = 200
    error = ""
    if request.method == "POST":
        if form.is_valid():
            try:
                sweep = sweeps.sweep_start(learner=request.user, kata=kata, document=document,
                                           choice_key=form.cleaned_data["choice"], start=form.cleaned_data["start"],
                                           stop=form.cleaned_data["stop"], step=form.cleaned_data["step"],
                                           as_author=selectors.can_author(request.user))
            except sweeps.SweepRefused as exc:
                error = str(exc)
            else:
                transaction.on_commit(lambda: sweep_submit(
                    sweep_id=sweep.pk, execute=lambda: sweeps.sweep_execute(sweep.pk, parallel=True)))
                return redirect("sweep_detail", sweep_id=sweep.pk)
        status = 400
    return render(request, "kata/sweep_new.html", {
        "kata": kata, "form": form, "error": error, "has_design": bool(choices), "max_points": sweeps.MAX_POINTS,
        "choices": choices, "sweeps": selectors.sweep_list_for_learner(learner=request.user, kata=kata),
    }, status=status)


def _context(sweep: Sweep) -> dict[str, Any]:
    palette = sweeps.sweep_palette(sweep)
    choice_label = sweep.parameter
    node_label = sweep.node
    part = next((n.get("part") for n in sweep.design.get("nodes", []) if n.get("id") == sweep.node), None)
    spec = palette.part(part).parameter(sweep.parameter) if part and palette.part(part) else None
    if spec is not None:
        choice_label = spec.label
        node_label = palette.part(part).name if part == sweep.node else f"{palette.part(part).name} ({sweep.node})"
    label = f"{node_label} · {choice_label}"
    points = sweep.points or []
    return {"sweep": sweep, "kata": sweep.kata, "label": label, "points": points, "done": len(points),
            "active": sweep.status in Sweep.ACTIVE_STATUSES, "cheapest": sweeps.cheapest_passing(points),
            "figures": sweeps.sweep_figures(points, parameter_label=label, budget=palette.budget_per_hour,
                                            values=sweep.values) if sweep.status not in Sweep.ACTIVE_STATUSES
            else {}}


@login_required
@require_GET
def sweep_detail(request: HttpRequest, sweep_id: int) -> HttpResponse:
    sweep = _get_sweep_for_user(request, sweep_id)
    template = "kata/partials/sweep_progress.html" if request.htmx else "kata/sweep.html"
    return render(request, template, _context(sweep))


@login_required
@require_POST
def sweep_cancel(request: HttpRequest, sweep_id: int) -> HttpResponse:
    sweep = _get_sweep_for_user(request, sweep_id)
    sweeps.sweep_cancel(sweep=sweep)
    return redirect("sweep_detail", sweep_id=sweep.pk)
