"""Reads. Views, consumers and commands call these; access rules live here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from kata.models import Draft, Kata
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
