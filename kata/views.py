from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from kata import compare, review, selectors, services
from kata import estimate as estimate_module
from kata.asyncdb import db
from kata.design import MAX_ID_LENGTH, DesignError, design_limits, design_validate
from kata.drafts import draft_shape_problems
from kata.forms import YES_NO, CompareForm, PartParamsForm
from kata.models import Attempt, Kata, Run
from kata.palette import Palette
from kata.versions import draft_misfits, palette_live, version_live
from kata.runs import submit


def _get_kata(slug: str, user: Any = None) -> Kata:
    """A published kata; for its authors (instructors) any kata not archived, so they draw a new one's designs."""
    kata = selectors.kata_get_published(slug=slug)
    if kata is None and user is not None and selectors.can_author(user):
        kata = selectors.kata_get_by_slug(slug=slug)
    if kata is None or kata.archived:
        raise Http404("No such kata.")
    return kata


def _get_kata_or_none(slug: str, user: Any) -> Kata | None:
    try:
        return _get_kata(slug, user)
    except Http404:
        return None


def palette_for(kata: Kata, user: Any) -> Any:
    """The rules a person works with: the live version for learners, the working copy for its authors."""
    return Palette.from_kata(kata) if selectors.can_author(user) else palette_live(kata)


def json_body_limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a body over the upload limit with a clear JSON answer (413) instead of Django's bare 400."""

    def _too_big(request: HttpRequest) -> JsonResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"error": "Content-Length is not a number."}, status=400)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > limit:
            return JsonResponse(
                {
                    "error": f"The request is larger than {limit // 1024} KiB; a design is a small JSON document.",
                    "saved": False,
                },
                status=413,
            )
        return None

    if asyncio.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            return _too_big(request) or await view(request, *args, **kwargs)

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return _too_big(request) or view(request, *args, **kwargs)

    return wrapper


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: Python reads them, but the database's JSON columns refuse them.
    raise ValueError(f"{name} is not a JSON number")


def _json_body(request: HttpRequest) -> Any:
    """The request's JSON document, or None when it is not strict JSON (then the view answers 400)."""
    try:
        return json.loads(request.body or b"null", parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting recurses
        return None


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    katas = list(selectors.kata_list_published())
    progress = selectors.kata_progress_for_learner(learner=request.user)
    rows = [{"kata": k, "progress": progress.get(k.pk), "palette": palette_live(k)} for k in katas]
    return render(request, "kata/home.html", {"katas": katas, "rows": rows})


@require_GET
def kata_detail(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug, request.user)
    palette = palette_for(kata, request.user)
    return render(request, "kata/kata_detail.html",
                  {"kata": kata, "palette": palette, "scenario_rules": _scenario_rules(palette)})


def _scenario_rules(palette: Palette) -> list[dict[str, Any]]:
    """Each scenario with its rule in words ("passes when p99 accept latency ≤ 300 ms"), as the brief lists them."""
    return [
        {"spec": s, "rule": s.rule(palette.budget_per_hour)} for s in sorted(palette.scenarios, key=lambda s: s.order)
    ]


@login_required
@require_GET
def workspace(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug, request.user)
    palette = palette_for(kata, request.user)
    draft = selectors.draft_get(learner=request.user, kata=kata)
    # A draft the editor cannot draw (stored before drafts were shape-checked) is shown as such, kept until the
    # learner discards it or saves over it, and the canvas starts from the starter design.
    unusable = draft.problems if draft is not None and draft.problems else None
    design = draft.design if draft is not None and not unusable else selectors.starter_design(palette=palette)
    author = selectors.can_author(request.user)
    services.runs_expire_stale(learner=request.user)
    active = selectors.run_active_for_learner(learner=request.user, kata=kata)
    # "Open in workspace" from an attempt: the page puts its design on the canvas as one undoable step over the
    # draft, so the draft is one Undo away (and nothing is written until the editor saves).
    opened = _opened_attempt(request, kata)
    try:
        design_validate(design, palette)
        problems: list[Any] = []
    except DesignError as exc:
        problems = exc.problems
    return render(
        request,
        "kata/workspace.html",
        {
            "problems": problems,
            "misfits": draft_misfits(kata, design) if draft is not None and not unusable and not author else [],
            "live_version": version_live(kata),
            "author": author,
            "author_scenarios": sorted(palette.scenarios, key=lambda s: s.order) if author else [],
            "unusable_draft": unusable,
            "unusable_draft_text": draft.text if unusable else "",
            "kata": kata,
            "palette": palette,
            "scenario_rules": _scenario_rules(palette),
            "palette_data": palette.editor_parts(),
            "design": design,
            "budget": palette.budget_per_hour,
            "limits": design_limits(),
            # A reload during a run picks it up again: the page reconnects and the server replays the frames so far.
            "active_run": _run_payload(active, selectors.run_figures(run=active)) if active else None,
            "opened": opened if not active else None,
            "new_feedback": len(selectors.attempts_with_new_feedback(learner=request.user, kata=kata)),
            "what_if_data": _what_if_data(palette),
        },
    )


def _what_if_data(palette: Palette) -> dict[str, Any]:
    """What the what-if panel offers: the traffic to change, the parts an incident can hit, the practice scenarios."""
    names = {p.key: p.name for p in palette.parts}
    return {
        "traffic": [{"part": t.part, "name": names.get(t.part, t.part), "base_rate": t.base_rate,
                     "spike_rate": t.spike_rate, "hold_seconds": t.hold_seconds, "warmup_seconds": t.warmup_seconds,
                     "ramp_seconds": t.ramp_seconds} for t in palette.traffic],
        "parts": [{"key": p.key, "name": p.name, "role": p.role, "instances": not p.fixed_servers}
                  for p in palette.parts if p.role not in ("source", "queue")],
        "duration": palette.duration,
        "practice": [{"order": s.order, "title": s.title, "incidents": list(s.incidents)}
                     for s in sorted(palette.scenarios, key=lambda s: s.order) if s.practice],
    }


def _opened_attempt(request: HttpRequest, kata: Kata) -> dict[str, Any] | None:
    raw = request.GET.get("from", "")
    if not raw.isdigit() or len(raw) > 12:
        return None
    attempt = selectors.attempt_get_for_learner(learner=request.user, attempt_id=int(raw))
    if attempt is None or attempt.kata_id != kata.pk or draft_shape_problems(attempt.design):
        return None
    return {"attempt": attempt.pk, "design": attempt.design}


@login_required
@require_POST
@json_body_limited
def draft_save(request: HttpRequest, slug: str) -> JsonResponse:
    kata = _get_kata(slug, request.user)
    document = _json_body(request)
    try:
        services.draft_save(learner=request.user, kata=kata, document=document)
    except services.DraftRejected as exc:
        return JsonResponse({"saved": False, "error": str(exc), "problems": exc.problems}, status=400)
    try:
        design_validate(document, palette_for(kata, request.user))
        problems: list[dict[str, str | None]] = []
    except DesignError as exc:
        problems = [{"path": p.path, "message": p.message, "node": p.node, "text": p.text} for p in exc.problems]
    return JsonResponse({"saved": True, "problems": problems})


@login_required
@require_POST
def draft_fit(request: HttpRequest, slug: str) -> HttpResponse:
    """Take the nearest allowed value for one parameter of the draft (or for every one the rules no longer allow)."""
    kata = _get_kata(slug, request.user)
    node, parameter = request.POST.get("node") or None, request.POST.get("parameter") or None
    services.draft_fit(learner=request.user, kata=kata, node=node, parameter=parameter)
    return redirect("workspace", slug=kata.slug)


@login_required
@require_POST
def draft_discard(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug, request.user)
    services.draft_discard(learner=request.user, kata=kata)
    return redirect("workspace", slug=kata.slug)


def _inspector_values(raw: str, part: Any) -> dict[str, Any]:
    """The part's current parameters as the editor sent them, keeping only numbers for parameters it has."""
    try:
        current = json.loads(raw or "{}")
    except (ValueError, RecursionError):
        return {}
    if not isinstance(current, dict):
        return {}
    return {
        name: value
        for name, value in current.items()
        if part.parameter(name) is not None and isinstance(value, (int, float)) and abs(value) <= 1e12
    }


@login_required
@require_http_methods(["GET", "POST"])
def inspector(request: HttpRequest, slug: str) -> HttpResponse:
    """The side panel of one part: its parameters as a server-validated form (an htmx partial)."""
    kata = _get_kata(slug, request.user)
    palette = palette_for(kata, request.user)
    source = request.POST if request.method == "POST" else request.GET
    part = palette.part(source.get("part", ""))
    node_id = source.get("node", "")
    # Refusals answer 422, which htmx swaps in place (base.html's htmx-config) in every mode: a 400 would be taken
    # by django-htmx's debug script in development, which replaces the whole page with the response.
    if part is None or not node_id or len(node_id) > MAX_ID_LENGTH:
        return render(request, "kata/partials/inspector_empty.html", {"message": "Unknown part."},
                      status=HTTPStatus.UNPROCESSABLE_ENTITY)
    if request.method == "POST":
        form = PartParamsForm(request.POST, part=part)
        if not form.is_valid():
            return render(
                request,
                "kata/partials/inspector.html",
                {"form": form, "part": part, "node_id": node_id, "kata": kata},
                status=HTTPStatus.UNPROCESSABLE_ENTITY,
            )
        response = render(
            request,
            "kata/partials/inspector.html",
            {"form": form, "part": part, "node_id": node_id, "kata": kata, "saved": True},
        )
        return trigger_client_event(response, "kata:params", {"node": node_id, "params": form.params()})
    initial = {**part.defaults(), **_inspector_values(source.get("params", ""), part)}
    for name in YES_NO & initial.keys():
        initial[name] = bool(initial[name])
    form = PartParamsForm(initial=initial, part=part)
    return render(
        request, "kata/partials/inspector.html",
        {"form": form, "part": part, "node_id": node_id, "kata": kata, "figures": _part_figures(request, node_id)},
    )


def _part_figures(request: HttpRequest, node_id: str) -> dict[str, Any] | None:
    """The part's own figures in the learner's last run, when the page asks for them (`run`, their own)."""
    raw = request.GET.get("run", "")
    if not raw.isdigit() or len(raw) > 12:
        return None
    run = selectors.run_get_for_learner(learner=request.user, run_id=int(raw))
    return selectors.run_part_figures(run=run, node_id=node_id) if run else None


def _database_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """Whether this process reaches its database and its channel layer (503 with the reason when not)."""
    answer: dict[str, str] = {"status": "ok"}
    try:
        await db(_database_ping)()
        answer["database"] = "ok"
    except Exception as exc:  # a health check reports the failure instead of raising it
        answer.update(status="error", database=str(exc))
    try:
        await asyncio.wait_for(get_channel_layer().group_discard("healthz", "healthz.check"), timeout=5)
        answer["channel_layer"] = "ok"
    except Exception as exc:  # noqa: BLE001 - Redis away, a timeout: all reported alike
        answer.update(status="error", channel_layer=str(exc) or type(exc).__name__)
    return JsonResponse(answer, status=200 if answer["status"] == "ok" else 503)


@login_required
@require_POST
@json_body_limited
async def run_start(request: HttpRequest, slug: str) -> JsonResponse:
    """Validate and save the design, queue its run, start it off the event loop; the page then opens the socket."""
    user = await request.auser()
    kata = await db(_get_kata_or_none)(slug, user)
    if kata is None:
        raise Http404("No such kata.")
    document = _json_body(request)
    what_if = None
    if isinstance(document, dict) and "what_if" in document:  # {"design": ..., "what_if": ...}: a what-if run
        what_if, document = document["what_if"], document.get("design")
    try:
        run = await db(services.run_start)(learner=user, kata=kata, document=document, what_if=what_if,
                                           as_author=await db(selectors.can_author)(user))
    except services.RunRefused as exc:
        return JsonResponse({"error": str(exc), "problems": exc.problems}, status=400)
    figures = await db(selectors.run_figures)(run=run)
    # Queued only now the attempt and run are committed; a queue that cannot be reached fails the run with a reason,
    # which the socket then tells (the attempt and its design stay saved).
    await submit.run_submit(run.pk)
    return JsonResponse(_run_payload(run, figures), status=201)


def _run_payload(run: Run, figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": run.pk,
        "attempt": run.attempt_id,
        "socket": f"/ws/runs/{run.pk}/",
        "grade_url": reverse("run_grade", args=[run.pk]),
        "figures": figures,
        "what_if": run.what_if is not None,
    }


def _get_run_for_user(request: HttpRequest, run_id: int) -> Run:
    run = selectors.run_get_for_learner(learner=request.user, run_id=run_id)
    if run is None:
        raise Http404("No such run.")
    return run


@login_required
@require_GET
def run_grade(request: HttpRequest, run_id: int) -> HttpResponse:
    """The grade panel of a run (an htmx partial; a whole page without htmx)."""
    run = _get_run_for_user(request, run_id)
    context = {"run": run, "grade": selectors.grade_effective(run=run) if run.grade else None, "kata": run.attempt.kata}
    template = "kata/partials/grade.html" if request.htmx else "kata/run_grade.html"
    return render(request, template, context)


@login_required
@require_GET
def attempt_history(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug, request.user)
    attempts = selectors.attempt_list_for_learner(learner=request.user, kata=kata)
    fresh = selectors.attempts_with_new_feedback(learner=request.user, kata=kata)
    # The run that grades an attempt is its latest graded one; its what-if runs are counted beside it, never as it.
    rows = [{"attempt": a,
             "run": max((r for r in a.runs.all() if r.what_if is None), key=lambda r: r.created_at, default=None),
             "what_ifs": sum(1 for r in a.runs.all() if r.what_if is not None),
             "new_feedback": a.pk in fresh} for a in attempts]
    return render(request, "kata/history.html", {"kata": kata, "rows": rows})


def _get_attempt_for_user(request: HttpRequest, attempt_id: int) -> Attempt:
    attempt = selectors.attempt_get_for_learner(learner=request.user, attempt_id=attempt_id)
    if attempt is None:
        raise Http404("No such attempt.")
    return attempt


@login_required
@require_GET
def attempt_detail(request: HttpRequest, attempt_id: int) -> HttpResponse:
    if selectors.attempt_get_for_learner(learner=request.user, attempt_id=attempt_id) is None and (
            selectors.attempt_get_for_reviewer(reviewer=request.user, attempt_id=attempt_id) is not None):
        # A grader following a link to someone's attempt reviews it (the learner's page is the learner's).
        return redirect("review_attempt", attempt_id=attempt_id)
    attempt = _get_attempt_for_user(request, attempt_id)
    run = selectors.attempt_latest_run(attempt=attempt)
    grade = selectors.grade_effective(run=run) if run and run.grade else None
    context = review.attempt_context(attempt, run, grade)
    context["share_url"] = (request.build_absolute_uri(reverse("attempt_shared", args=[attempt.share_token]))
                            if attempt.share_token else None)
    services.attempt_feedback_seen(attempt=attempt)
    return render(request, "kata/attempt.html", context)


@login_required
@require_POST
def attempt_share(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Turn the attempt's read-only link on (a new one each time) or off."""
    attempt = _get_attempt_for_user(request, attempt_id)
    services.attempt_share_set(attempt=attempt, shared=request.POST.get("share") == "on")
    return redirect("attempt_detail", attempt_id=attempt.pk)


@require_GET
def attempt_shared(request: HttpRequest, token: str) -> HttpResponse:
    """An attempt shared by its learner: the design, charts and grade, without the learner's name."""
    attempt = selectors.attempt_get_shared(token=token)
    if attempt is None:
        raise Http404("This link was turned off by the person who shared it, or never existed.")
    run = selectors.attempt_latest_run(attempt=attempt)
    grade = selectors.grade_effective(run=run) if run and run.grade else None
    return render(request, "kata/attempt_shared.html", {
        "attempt": attempt, "kata": attempt.kata, "run": run, "grade": grade, "shared": True,
        "figures": selectors.run_figures(run=run) if run and run.series else None,
        "palette_data": palette_live(attempt.kata).editor_parts(),
    })


@login_required
@require_POST
@json_body_limited
def design_import_check(request: HttpRequest, slug: str) -> JsonResponse:
    """Whether a file the learner imports is a design of this kata: 422 with the reasons when it is not; its design
    problems (unconnected parts, say) are listed but do not refuse it, as a draft may have them."""
    kata = _get_kata(slug, request.user)
    palette = palette_for(kata, request.user)
    document = _json_body(request)
    if document is None:
        return JsonResponse({"ok": False, "error": "This file is not JSON: export a design from the workspace."},
                            status=HTTPStatus.UNPROCESSABLE_ENTITY)
    malformed = draft_shape_problems(document)
    if malformed:
        return JsonResponse({"ok": False, "error": "This file is not a design: "
                             + "; ".join(str(p) for p in malformed[:3]) + "."}, status=HTTPStatus.UNPROCESSABLE_ENTITY)
    unknown = sorted({str(n.get("part")) for n in document["nodes"] if palette.part(str(n.get("part"))) is None})
    if unknown:
        return JsonResponse({"ok": False, "error": f"This design uses parts that {kata.title} does not have: "
                             + ", ".join(unknown) + "."}, status=HTTPStatus.UNPROCESSABLE_ENTITY)
    try:
        design_validate(document, palette)
        problems: list[str] = []
    except DesignError as exc:
        problems = [p.text for p in exc.problems]
    return JsonResponse({"ok": True, "problems": problems})


@login_required
@require_GET
def attempt_compare(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug)
    form = CompareForm(request.GET, learner=request.user, kata=kata)
    if not form.is_valid():
        return render(request, "kata/compare.html", {"kata": kata, "form": form}, status=400 if request.GET else 200)
    left, right = form.cleaned_data["left"], form.cleaned_data["right"]
    comparison = compare.attempts_compare(left=left, right=right, budget=float(kata.budget_per_hour))
    return render(request, "kata/compare.html", {"kata": kata, "form": form, "comparison": comparison})


@login_required
@require_POST
@json_body_limited
def estimate(request: HttpRequest, slug: str) -> HttpResponse:
    """The instant estimate of the posted design (an htmx partial)."""
    kata = _get_kata(slug, request.user)
    palette = palette_for(kata, request.user)
    document = _json_body(request)
    malformed = draft_shape_problems(document)
    if malformed:  # not a design at all: a 400, with the same partial telling what is wrong
        return render(request, "kata/partials/estimate.html", {"problems": malformed[:10], "kata": kata}, status=400)
    try:
        design = design_validate(document, palette)
    except DesignError as exc:
        # The workspace lists these problems above the estimate already: said once, there.
        return render(request, "kata/partials/estimate.html",
                      {"problems": exc.problems, "listed_above": True, "kata": kata})
    return render(
        request,
        "kata/partials/estimate.html",
        {"estimate": estimate_module.design_estimate(design, palette), "kata": kata},
    )
