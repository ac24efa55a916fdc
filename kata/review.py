"""Graders' review: every learner's attempts, filtered, exported, replayed, commented on and re-graded."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kata import authoring, insights, selectors, services
from kata.design import DesignError, design_validate
from kata.forms import (AuthorDesignForm, FeedbackDeleteForm, FeedbackEditForm, FeedbackForm, OverrideForm,
                        ReviewFilterForm)
from kata.models import Attempt, Kata, Run
from kata.palette import Palette
from kata.versions import palette_for_attempt

PAGE_SIZE = 25


def _kata_or_404(slug: str) -> Kata:
    """Any kata, published or not, for the instructors' and graders' pages."""
    kata = selectors.kata_get_by_slug(slug=slug)
    if kata is None:
        raise Http404("No such kata.")
    return kata


@login_required
@require_GET
def kata_insights_page(request: HttpRequest, slug: str) -> HttpResponse:
    """What learners do on one kata: for its instructors and graders."""
    if not insights.can_see_insights(request.user):
        raise PermissionDenied("Only instructors and graders see what learners do.")
    kata = _kata_or_404(slug)
    stats = insights.kata_insights(kata=kata)
    figures = {"pass_rate": insights.pass_rate_figure(stats)} if stats.scenarios else {}
    return render(request, "kata/insights.html", {"kata": kata, "stats": stats, "figures": figures,
                                                  "can_review": selectors.can_review(request.user)})


def _get_run_for_replay(request: HttpRequest, run_id: int) -> Run:
    """A run a grader may replay (any), or its own learner; someone else's id answers 404."""
    run = selectors.run_get_for_learner(learner=request.user, run_id=run_id)
    if run is None and selectors.can_review(request.user):
        run = Run.objects.select_related("attempt__kata", "attempt__learner").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


@login_required
@require_GET
def run_replay(request: HttpRequest, run_id: int) -> HttpResponse:
    """Scrub or play through a saved run's frames, with the diagram coloured and the charts drawn as they were."""
    run = _get_run_for_replay(request, run_id)
    figures = selectors.run_figures(run=run)
    for figure in figures.values():  # drawn by the page, step by step, from the saved points
        for trace in figure["data"]:
            trace["x"], trace["y"] = [], []
    replay = selectors.run_replay_source(run=run)
    return render(request, "kata/replay.html", {
        "run": run, "attempt": run.attempt, "kata": run.attempt.kata, "figures": figures, "replay": replay,
        "reviewing": selectors.can_review(request.user),
        "palette_data": palette_for_attempt(run.attempt).editor_parts(),
    })


@login_required
@require_GET
def run_replay_points(request: HttpRequest, run_id: int) -> JsonResponse:
    """The points a replay plays: every saved frame's, or the downsampled series once frames were pruned."""
    run = _get_run_for_replay(request, run_id)
    replay = selectors.run_replay_source(run=run)
    return JsonResponse({"source": replay["source"], "seed": replay["seed"],
                         "points": selectors.run_replay_points(run=run, source=replay["source"])})


@login_required
@require_POST
def author_design_save(request: HttpRequest, slug: str) -> HttpResponse:
    """An instructor saves the workspace's design as the kata's reference, or as a design that must fail."""
    if not selectors.can_author(request.user):
        raise PermissionDenied("Only instructors save a kata's designs.")
    kata = _kata_or_404(slug)
    palette = Palette.from_kata(kata)
    form = AuthorDesignForm(request.POST, scenarios=[(s.order, f"{s.order}. {s.title}") for s in palette.scenarios])
    problems: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        document = data["design"]
        if document is None:  # no script on the page: the design is the one autosaved
            stored = selectors.draft_get(learner=request.user, kata=kata)
            document = stored.design if stored is not None and not stored.problems else None
        try:
            design = design_validate(document, palette).to_document()
        except DesignError as exc:
            problems = [str(p) for p in exc.problems]
        else:
            if data["action"] == "reference":
                authoring.kata_reference_save(kata=kata, design=design)
                messages.success(request, f"Saved as the reference design of “{kata.title}”: not live until "
                                          "“Save, check and publish” passes in the admin.")
            else:
                row = authoring.must_fail_save(kata=kata, title=data["title"], design=design,
                                               fails=data["fails"], why=data["why"])
                messages.success(request, f"Saved “{row.title}” as a design that must fail scenario"
                                          f"{'s' if len(row.fails) > 1 else ''} {', '.join(map(str, row.fails))}.")
            return redirect("workspace", slug=kata.slug)
    return render(request, "kata/author_not_saved.html", {"kata": kata, "form": form, "problems": problems},
                  status=400)


def _require_reviewer(request: HttpRequest) -> None:
    if not selectors.can_review(request.user):
        raise PermissionDenied("Only graders review attempts.")


@login_required
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request)
    katas = list(Kata.objects.order_by("title").values_list("slug", "title"))
    form = ReviewFilterForm(request.GET or None, katas=katas)
    filters: dict[str, Any] = {}
    if form.is_bound:
        if not form.is_valid():
            return render(request, "kata/review_list.html", {"form": form, "page": None, "katas": katas}, status=400)
        filters = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
    rows = selectors.review_rows(reviewer=request.user, **filters)
    if request.GET.get("format") == "csv":
        return _csv(rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "kata/review_list.html", {"form": form, "page": page, "query": query.urlencode(),
                                                     "katas": katas})


# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|..., @SUM(...)).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that no spreadsheet runs: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


_CSV_HEADER = ["attempt", "kata", "learner", "saved", "run status", "passed", "total", "failed scenarios",
               "needs review", "reviewed at", "reviewed by", "feedback", "overrides"]


def _csv_row(row: dict[str, Any]) -> list[Any]:
    attempt, run = row["attempt"], row["run"]
    grade = selectors.grade_effective(run=run) if run and run.grade else None
    failed = [str(s["id"]) for s in grade["scenarios"] if not s["passed"]] if grade else []
    feedback = " | ".join(f"{f.grader.get_username()}: {f.text}" for f in attempt.feedback.select_related("grader"))
    overrides = " | ".join(
        f"scenario {o.scenario_id} {'pass' if o.from_passed else 'fail'} → {'pass' if o.to_passed else 'fail'} "
        f"by {o.grader.get_username()}: {o.reason}" for o in (run.overrides.select_related("grader") if run else []))
    return [
        attempt.pk, attempt.kata.slug, attempt.learner.username, attempt.created_at.isoformat(),
        run.status if run else "", run.passed if run else "", run.total if run else "", " ".join(failed),
        "yes" if row["needs_review"] else "no", attempt.reviewed_at.isoformat() if attempt.reviewed_at else "",
        attempt.reviewed_by.get_username() if attempt.reviewed_by else "", feedback, overrides,
    ]


def _csv(rows: list[dict[str, Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="attempts.csv"'
    writer = csv.writer(response)
    writer.writerow(_CSV_HEADER)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in _csv_row(row)])
    return response


def _get_attempt_for_reviewer(request: HttpRequest, attempt_id: int) -> Attempt:
    attempt = selectors.attempt_get_for_reviewer(reviewer=request.user, attempt_id=attempt_id)
    if attempt is None:
        raise Http404("No such attempt.")
    return attempt


class _Forms:
    """The forms of a grader's attempt page, bound to what was posted when they were."""

    def __init__(self, scenarios: list[dict[str, Any]]) -> None:
        self.scenarios = scenarios
        self.feedback = FeedbackForm()
        self.override = OverrideForm(scenarios=scenarios)
        self.feedback_edit: FeedbackEditForm | None = None
        self.error = ""


def _post_feedback(request: HttpRequest, attempt: Attempt, forms: _Forms) -> bool:
    forms.feedback = FeedbackForm(request.POST)
    if not forms.feedback.is_valid():
        return False
    services.feedback_add(grader=request.user, attempt=attempt, text=forms.feedback.cleaned_data["text"])
    return True


def _post_feedback_edit(request: HttpRequest, attempt: Attempt, forms: _Forms) -> bool:
    forms.feedback_edit = FeedbackEditForm(request.POST)
    if not forms.feedback_edit.is_valid():
        return False
    data = forms.feedback_edit.cleaned_data
    services.feedback_edit(grader=request.user, attempt=attempt, feedback_id=data["feedback_id"], text=data["text"])
    return True


def _post_feedback_delete(request: HttpRequest, attempt: Attempt, forms: _Forms) -> bool:
    form = FeedbackDeleteForm(request.POST)
    if not form.is_valid():
        forms.error = "Choose the feedback to delete."
        return False
    services.feedback_delete(grader=request.user, attempt=attempt, feedback_id=form.cleaned_data["feedback_id"])
    return True


def _post_reviewed(request: HttpRequest, attempt: Attempt, forms: _Forms) -> bool:
    services.attempt_mark_reviewed(grader=request.user, attempt=attempt, reviewed=request.POST.get("reviewed") != "0")
    return True


def _post_override(request: HttpRequest, attempt: Attempt, forms: _Forms, run: Any) -> bool:
    if run is None:
        forms.error = "This attempt has no run to override."
        return False
    if not request.user.has_perm("kata.override_grade"):
        raise PermissionDenied("You may not override grades.")
    forms.override = OverrideForm(request.POST, scenarios=forms.scenarios)
    if not forms.override.is_valid():
        return False
    try:
        services.grade_override(grader=request.user, run=run, **forms.override.cleaned_data)
    except services.OverrideRefused as exc:
        forms.override.add_error(None, str(exc))
        return False
    return True


_ACTIONS = {"feedback": _post_feedback, "feedback_edit": _post_feedback_edit, "feedback_delete": _post_feedback_delete,
            "reviewed": _post_reviewed}


@login_required
@require_http_methods(["GET", "POST"])
def review_attempt(request: HttpRequest, attempt_id: int) -> HttpResponse:
    _require_reviewer(request)
    attempt = _get_attempt_for_reviewer(request, attempt_id)
    run = selectors.attempt_latest_run(attempt=attempt)
    grade = selectors.grade_effective(run=run) if run and run.grade else None
    forms = _Forms((grade or {}).get("scenarios", []))
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "override":
                done = _post_override(request, attempt, forms, run)
            elif action in _ACTIONS:
                done = _ACTIONS[action](request, attempt, forms)
            else:
                forms.error, done = "Unknown action.", False
        except services.FeedbackRefused as exc:
            forms.error, done = str(exc), False
        if done:
            return redirect("review_attempt", attempt_id=attempt.pk)
        status = 400
    context = attempt_context(attempt, run, grade)
    context.update(feedback_form=forms.feedback, override_form=forms.override, feedback_edit_form=forms.feedback_edit,
                   review_error=forms.error, reviewing=True,
                   needs_review=selectors.attempt_needs_review(attempt=attempt, run=run),
                   feedback_changes=attempt.feedback_changes.select_related("grader"))
    return render(request, "kata/attempt.html", context, status=status)


def attempt_context(attempt: Attempt, run: Any, grade: dict[str, Any] | None) -> dict[str, Any]:
    """What the attempt page shows, to its learner and to a grader alike."""
    return {
        "attempt": attempt, "kata": attempt.kata, "run": run, "grade": grade,
        "figures": selectors.run_figures(run=run) if run and run.series else None,
        "runs": attempt.runs.order_by("-created_at"),
        "feedback": attempt.feedback.select_related("grader"),
        "overrides": run.overrides.select_related("grader") if run else [],
        "palette_data": palette_for_attempt(attempt).editor_parts(),
    }
