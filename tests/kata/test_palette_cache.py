"""Palettes are cached per process and kata version: an edit to any part of the palette is seen at once."""

from __future__ import annotations

import pytest

from kata.models import Kata, PartParameter, PartType, Scenario
from kata.palette import Palette

pytestmark = pytest.mark.django_db


def _fresh(kata: Kata) -> Palette:
    return Palette.from_kata(Kata.objects.get(pk=kata.pk))


def test_an_unchanged_kata_s_palette_is_built_once(clearpay, django_assert_num_queries):
    first = _fresh(clearpay)
    kata = Kata.objects.get(pk=clearpay.pk)
    with django_assert_num_queries(0):
        assert Palette.from_kata(kata) is first


def test_editing_a_parameter_a_part_or_a_scenario_is_seen_by_the_next_palette(clearpay):
    before = _fresh(clearpay)

    parameter = PartParameter.objects.filter(part__kata=clearpay).first()
    parameter.default = parameter.maximum
    parameter.save()
    after = _fresh(clearpay)
    assert after is not before
    changed = next(p for p in after.part(parameter.part.key).parameters if p.name == parameter.name)
    assert changed.default == parameter.maximum

    part = PartType.objects.filter(kata=clearpay).first()
    part.service_mean_ms = part.service_mean_ms * 2
    part.save()
    assert _fresh(clearpay).part(part.key).service_mean_ms == part.service_mean_ms

    scenario = Scenario.objects.filter(kata=clearpay, threshold__isnull=False).first()
    scenario.threshold = scenario.threshold + 1
    scenario.save()
    assert scenario.threshold in {s.threshold for s in _fresh(clearpay).scenarios}

    scenario.delete()
    assert len(_fresh(clearpay).scenarios) == len(before.scenarios) - 1
