from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from kata import selectors, services
from kata.design import DesignError, design_validate
from kata.forms import PartParamsForm
from kata.models import Kata
from kata.palette import Palette


def _get_kata(slug: str) -> Kata:
    kata = selectors.kata_get_published(slug=slug)
    if kata is None:
        raise Http404("No such kata.")
    return kata


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "kata/home.html", {"katas": selectors.kata_list_published()})


@require_GET
def kata_detail(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug)
    palette = Palette.from_kata(kata)
    return render(request, "kata/kata_detail.html", {"kata": kata, "palette": palette})


@login_required
@require_GET
def workspace(request: HttpRequest, slug: str) -> HttpResponse:
    kata = _get_kata(slug)
    palette = Palette.from_kata(kata)
    draft = selectors.draft_get(learner=request.user, kata=kata)
    design = draft.design if draft else selectors.starter_design(palette=palette)
    palette_data = [
        {
            "key": p.key, "name": p.name, "role": p.role, "description": p.description,
            "defaults": p.defaults(), "max_per_design": p.max_per_design, "fixed_servers": p.fixed_servers,
        }
        for p in palette.parts
    ]
    return render(request, "kata/workspace.html", {
        "kata": kata, "palette": palette, "palette_data": palette_data, "design": design,
        "budget": palette.budget_per_hour,
    })


@login_required
@require_POST
def draft_save(request: HttpRequest, slug: str) -> JsonResponse:
    kata = _get_kata(slug)
    document = _json_body(request)
    try:
        services.draft_save(learner=request.user, kata=kata, document=document)
    except services.DraftRejected as exc:
        return JsonResponse({"saved": False, "error": str(exc)}, status=400)
    try:
        design_validate(document, Palette.from_kata(kata))
        problems: list[dict[str, str | None]] = []
    except DesignError as exc:
        problems = [{"path": p.path, "message": p.message, "node": p.node} for p in exc.problems]
    return JsonResponse({"saved": True, "problems": problems})


@login_required
@require_http_methods(["GET", "POST"])
def inspector(request: HttpRequest, slug: str) -> HttpResponse:
    """The side panel of one part: its parameters as a server-validated form (an htmx partial)."""
    kata = _get_kata(slug)
    palette = Palette.from_kata(kata)
    source = request.POST if request.method == "POST" else request.GET
    part = palette.part(source.get("part", ""))
    node_id = source.get("node", "")
    if part is None or not node_id or len(node_id) > 40:
        return render(request, "kata/partials/inspector_empty.html", {"message": "Unknown part."}, status=400)
    if request.method == "POST":
        form = PartParamsForm(request.POST, part=part)
        if not form.is_valid():
            return render(request, "kata/partials/inspector.html", {"form": form, "part": part, "node_id": node_id, "kata": kata}, status=400)
        response = render(request, "kata/partials/inspector.html",
                          {"form": form, "part": part, "node_id": node_id, "kata": kata, "saved": True})
        return trigger_client_event(response, "kata:params", {"node": node_id, "params": form.params()})
    try:
        current = json.loads(source.get("params") or "{}")
    except json.JSONDecodeError:
        current = {}
    initial = {**part.defaults(), **(current if isinstance(current, dict) else {})}
    if "acknowledges" in initial:
        initial["acknowledges"] = bool(initial["acknowledges"])
    form = PartParamsForm(initial=initial, part=part)
    return render(request, "kata/partials/inspector.html", {"form": form, "part": part, "node_id": node_id, "kata": kata})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # a health check reports the failure instead of raising it
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
