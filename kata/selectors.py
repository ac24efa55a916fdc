"""Reads. Views, consumers and commands call these; access rules live here."""

from __future__ import annotations

from django.db.models import QuerySet

from kata.models import Kata


def kata_list_published() -> QuerySet[Kata]:
    return Kata.objects.filter(published=True).order_by("title")


def kata_get_published(*, slug: str) -> Kata | None:
    return kata_list_published().filter(slug=slug).first()


def kata_get_by_slug(*, slug: str) -> Kata | None:
    """Any kata, published or not (graders and instructors grade drafts too)."""
    return Kata.objects.filter(slug=slug).first()


def kata_slugs() -> list[str]:
    return list(Kata.objects.order_by("slug").values_list("slug", flat=True))
