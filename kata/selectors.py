"""Reads. Views, consumers and commands call these; access rules live here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from kata.models import Attempt, Draft, Kata, Run, RunFrame
from kata.palette import Palette


def kata_list_published() -> QuerySet[Kata]:
    return Kata.objects.filter(published=True).order_by("title")


def kata_get_published(*, slug: str) -> Kata | None:
    return kata_list_published().filter(slug=slug).first()


def kata_get_by_slug(*, slug: str) -> Kata | None:
    """Any kata, published or not (graders and instructors grade drafts too)."""
    return Kata.objects.filter(slug=slug).first()


def kata_slugs() -> list[str]:
    return list(Kata.objects.order_by("slug").values_list("slug", flat=True))


def draft_get(*, learner: AbstractBaseUser, kata: Kata) -> Draft | None:
    return Draft.objects.filter(learner=learner, kata=kata).first()


def starter_design(*, palette: Palette) -> dict[str, Any]:
    """A blank canvas with the parts every design needs, spread left to right."""
    required = [p for p in palette.parts if p.required]
    nodes = [
        {"id": part.key, "part": part.key, "params": part.defaults(), "x": 60 + 760 * i / max(1, len(required) - 1), "y": 160}
        for i, part in enumerate(required)
    ]
    return {"nodes": nodes, "edges": []}


def run_get_for_learner(*, learner: AbstractBaseUser, run_id: int) -> Run | None:
    """A run of the learner's own; someone else's id gives None (the caller answers 404, so ids do not leak)."""
    return Run.objects.select_related("attempt__kata").filter(pk=run_id, attempt__learner=learner).first()


def run_active_for_learner(*, learner: AbstractBaseUser, kata: Kata) -> Run | None:
    return (
        Run.objects.filter(attempt__learner=learner, attempt__kata=kata, status__in=("queued", "running"))
        .order_by("-created_at")
        .first()
    )


def run_frames(*, run: Run) -> list[dict[str, Any]]:
    return list(RunFrame.objects.filter(run=run).order_by("seq").values_list("payload", flat=True))


def attempt_list_for_learner(*, learner: AbstractBaseUser, kata: Kata) -> QuerySet[Attempt]:
    return (
        Attempt.objects.filter(learner=learner, kata=kata)
        .prefetch_related("runs")
        .order_by("-created_at")
    )


def attempt_get_for_learner(*, learner: AbstractBaseUser, attempt_id: int) -> Attempt | None:
    return Attempt.objects.select_related("kata").filter(pk=attempt_id, learner=learner).first()


def attempt_latest_run(*, attempt: Attempt) -> Run | None:
    return attempt.runs.order_by("-created_at").first()


def run_figures(*, run: Run) -> dict[str, Any]:
    """The run's charts, labelled from its design: empty while it starts, filled from the stored series after."""
    from kata import charts
    from kata.compiler import compile_design
    from kata.design import design_validate

    kata = run.attempt.kata
    palette = Palette.from_kata(kata)
    compiled = compile_design(design_validate(run.attempt.design, palette), palette)
    stations = [(s.id, s.label, s.role) for s in compiled.stations.values()]
    targets = {s.metric: s.threshold for s in palette.scenarios}
    figures = charts.live_figures(stations=stations, budget=palette.budget_per_hour,
                                  accept_target_ms=targets.get("accept_p99_ms"), error_target_pct=targets.get("error_rate_pct"))
    return charts.fill(figures, (run.series or {}).get("points", []))
