from __future__ import annotations

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kata import selectors


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "kata/home.html", {"katas": selectors.kata_list_published()})


@require_GET
def kata_detail(request: HttpRequest, slug: str) -> HttpResponse:
    kata = selectors.kata_get_published(slug=slug)
    if kata is None:
        raise Http404("No such kata.")
    return render(request, "kata/kata_detail.html", {"kata": kata})


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
