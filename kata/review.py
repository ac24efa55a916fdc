"""Graders' review: every learner's attempts, filtered, exported, replayed, commented on and re-graded."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from kata import selectors, services
from kata.forms import FeedbackForm, OverrideForm, ReviewFilterForm
from kata.models import Attempt, Kata
from kata.palette import Palette

PAGE_SIZE = 25


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
            return render(request, "kata/review_list.html", {"form": form, "page": None}, status=400)
        filters = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
    rows = selectors.review_rows(reviewer=request.user, **filters)
    if request.GET.get("format") == "csv":
        return _csv(rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "kata/review_list.html", {"form": form, "page": page, "query": query.urlencode()})


# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|..., @SUM(...)).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that no spreadsheet runs: text that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(rows: list[dict[str, Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="attempts.csv"'
    writer = csv.writer(response)
    writer.writerow(["attempt", "kata", "learner", "saved", "run status", "passed", "total", "failed scenarios"])
    for row in rows:
        attempt, run = row["attempt"], row["run"]
        failed = [str(s["id"]) for s in selectors.grade_effective(run=run)["scenarios"] if not s["passed"]] if run and run.grade else []
        writer.writerow([csv_cell(cell) for cell in (
            attempt.pk, attempt.kata.slug, attempt.learner.username, attempt.created_at.isoformat(),
            run.status if run else "", run.passed if run else "", run.total if run else "", " ".join(failed))])
    return response


def _get_attempt_for_reviewer(request: HttpRequest, attempt_id: int) -> Attempt:
    attempt = selectors.attempt_get_for_reviewer(reviewer=request.user, attempt_id=attempt_id)
    if attempt is None:
        raise Http404("No such attempt.")
    return attempt


@login_required
@require_http_methods(["GET", "POST"])
def review_attempt(request: HttpRequest, attempt_id: int) -> HttpResponse:
    _require_reviewer(request)
    attempt = _get_attempt_for_reviewer(request, attempt_id)
    run = selectors.attempt_latest_run(attempt=attempt)
    grade = selectors.grade_effective(run=run) if run and run.grade else None
    feedback_form = FeedbackForm()
    override_form = OverrideForm(scenarios=(grade or {}).get("scenarios", []))
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "feedback":
            feedback_form = FeedbackForm(request.POST)
            if feedback_form.is_valid():
                services.feedback_add(grader=request.user, attempt=attempt, text=feedback_form.cleaned_data["text"])
                return redirect("review_attempt", attempt_id=attempt.pk)
        elif action == "override" and run is not None:
            if not request.user.has_perm("kata.override_grade"):
                raise PermissionDenied("You may not override grades.")
            override_form = OverrideForm(request.POST, scenarios=(grade or {}).get("scenarios", []))
            if override_form.is_valid():
                try:
                    services.grade_override(grader=request.user, run=run, **override_form.cleaned_data)
                except services.OverrideRefused as exc:
                    override_form.add_error(None, str(exc))
                else:
                    return redirect("review_attempt", attempt_id=attempt.pk)
        else:
            feedback_form.add_error(None, "Unknown action.")
        status = 400
    context = attempt_context(attempt, run, grade)
    context.update(feedback_form=feedback_form, override_form=override_form, reviewing=True)
    return render(request, "kata/attempt.html", context, status=status)


def attempt_context(attempt: Attempt, run: Any, grade: dict[str, Any] | None) -> dict[str, Any]:
    """What the attempt page shows, to its learner and to a grader alike."""
    return {
        "attempt": attempt, "kata": attempt.kata, "run": run, "grade": grade,
        "figures": selectors.run_figures(run=run) if run and run.series else None,
        "runs": attempt.runs.order_by("-created_at"),
        "feedback": attempt.feedback.select_related("grader"),
        "overrides": run.overrides.select_related("grader") if run else [],
        "palette_data": Palette.from_kata(attempt.kata).editor_parts(),
    }
