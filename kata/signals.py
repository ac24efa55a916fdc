"""Any change to a kata's palette (its parts, their parameters, its traffic, its scenarios) touches the kata's
`updated_at`, which keys the palettes cached in every process (`Palette.from_kata`): a saved edit is seen by the
next request or run on any process, with no message between them."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from kata.models import Kata, PartParameter, PartType, Scenario, TrafficSource


def _touch(kata_ids: Any) -> None:
    Kata.objects.filter(pk__in=kata_ids).update(updated_at=timezone.now())


def _kata_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    _touch([instance.kata_id])


def _parameter_changed(sender: type, instance: PartParameter, **kwargs: Any) -> None:
    _touch(PartType.objects.filter(pk=instance.part_id).values("kata_id"))


def connect() -> None:
    for model in (PartType, TrafficSource, Scenario):
        post_save.connect(_kata_changed, sender=model, dispatch_uid=f"kata.palette.{model.__name__}.save")
        post_delete.connect(_kata_changed, sender=model, dispatch_uid=f"kata.palette.{model.__name__}.delete")
    post_save.connect(_parameter_changed, sender=PartParameter, dispatch_uid="kata.palette.PartParameter.save")
    post_delete.connect(_parameter_changed, sender=PartParameter, dispatch_uid="kata.palette.PartParameter.delete")
