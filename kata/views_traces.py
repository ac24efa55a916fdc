"""A run's request traces: the lists on the run's page (an htmx partial), one trace's waterfall, and the link from a
failing scenario to one request that shows its failure. Readable by the run's learner and by graders."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kata import selectors, traces
from kata.design import Design
from kata.diagram import design_svg
from kata.models import Run, RunTraces
from kata.versions import palette_for_run


RECORDING_GIVEN_UP = timedelta(minutes=10)


def _get_run_for_viewer(request: HttpRequest, run_id: int) -> Run:
    run = selectors.run_get_visible(user=request.user, run_id=run_id)
    if run is None:
        raise Http404("No such run.")
    return run


def _nouns(run: Run) -> tuple[dict[str, str], traces.Nouns]:
    """The design's part labels, and a source's nouns for a count ("payments")."""
    palette = palette_for_run(run)
    design = Design.from_saved(run.attempt.design, palette)
    labels = {n.id: n.label for n in design.nodes}
    parts = {n.id: n.part.key for n in design.nodes}

    def nouns(source: str, count: int) -> str:
        traffic = palette.traffic_for(parts.get(source, ""))
        return traffic.nouns(count) if traffic is not None else ("request" if count == 1 else "requests")

    return labels, nouns


@login_required
@require_GET
def run_traces(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's trace lists (an htmx partial that asks again while they are being recorded)."""
    run = _get_run_for_viewer(request, run_id)
    record = selectors.run_traces_get(run=run)
    # A recording whose executor died (a server restart) would be asked for forever: after a while it is given up.
    stale = record is not None and record.status == RunTraces.Status.RECORDING and (
        timezone.now() - record.created_at > RECORDING_GIVEN_UP)
    context = {"run": run, "record": record, "lists": [], "stale": stale}
    if record is not None and record.status == RunTraces.Status.READY and record.seeds:
        _, nouns = _nouns(run)
        context["seed"] = record.seeds[0]
        context["lists"] = traces.trace_lists(record.data, record.seeds[0], run_id=run.pk, nouns=nouns)
    return render(request, "kata/partials/run_traces.html", context)


@login_required
@require_GET
def trace_detail(request: HttpRequest, run_id: int, seed: int, number: int) -> HttpResponse:
    """One request's life: its waterfall, its hops' parts picked out on the diagram, its hops in a table."""
    run = _get_run_for_viewer(request, run_id)
    record = selectors.run_traces_get(run=run)
    trace = traces.trace_get(record.data, seed, number) if record is not None else None
    if trace is None:
        raise Http404("No such trace.")
    labels, nouns = _nouns(run)
    hops = [{**hop, "label": labels.get(hop["station"], hop["station"]),
             "wait_ms": None if hop["started"] is None else 1000 * (hop["started"] - hop["arrived"]),
             "service_ms": None if hop["started"] is None or hop["ended"] is None else
             1000 * (hop["ended"] - hop["started"]), "at_ms": 1000 * (hop["arrived"] - trace["entered"])}
            for hop in trace["hops"]]
    return render(request, "kata/trace.html", {
        "run": run, "attempt": run.attempt, "kata": run.attempt.kata, "seed": seed, "trace": trace, "hops": hops,
        "noun": nouns(trace["source"], 1), "scenario": request.GET.get("scenario", ""),
        "diagram": design_svg(run.attempt.design, palette_for_run(run), marks=traces.trace_marks(trace)),
        "figures": {"waterfall": traces.waterfall_figure(trace, labels)},
        "reviewing": selectors.can_review(request.user),
    })


@login_required
@require_GET
def scenario_trace(request: HttpRequest, run_id: int, scenario_id: int) -> HttpResponse:
    """A failing scenario's "see one payment": its trace once recorded, else a page that says why not yet."""
    run = _get_run_for_viewer(request, run_id)
    scenario = next((s for s in (run.grade or {}).get("scenarios", []) if s.get("id") == scenario_id), None)
    if scenario is None:
        raise Http404("No such scenario.")
    record = selectors.run_traces_get(run=run)
    design = Design.from_saved(run.attempt.design, palette_for_run(run))
    externals = frozenset(n.id for n in design.nodes if n.part.role == "external")
    picked = traces.scenario_trace(record.data, scenario, externals) if record is not None else None
    if picked is not None:
        return redirect(f"{traces.trace_url(run.pk, *picked)}?scenario={scenario_id}")
    return render(request, "kata/trace_pending.html", {"run": run, "kata": run.attempt.kata, "record": record,
                                                       "scenario": scenario}, status=200)
