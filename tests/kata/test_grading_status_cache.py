"""The second kata, authored only through the models, grades with the same machinery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kata.design import design_validate
from kata.models import Kata, PartParameter, PartType, Scenario, TrafficSource
from kata.palette import Palette
from kata.runs.seeds import design_grade
from kata.services import kata_load_fixture

ROOT = Path("fixtures/status-cache")


@pytest.fixture
def status_cache(db):
    return kata_load_fixture(path=ROOT / "kata.json")[0]


def test_status_cache_reference_passes_and_no_cache_fails_latency_and_cost(status_cache):
    palette = Palette.from_kata(status_cache)
    reference = design_grade(palette=palette, document=json.loads((ROOT / "designs/reference.json").read_text()),
                             seeds=[1, 2, 3])
    assert reference.grade.passed == reference.grade.total == 4
    no_cache = design_grade(palette=palette, document=json.loads((ROOT / "designs/no-cache.json").read_text()),
                            seeds=[1, 2, 3])
    assert {s.id for s in no_cache.grade.scenarios if not s.passed} == {1, 4}


def test_a_kata_built_with_the_orm_alone_validates_and_grades(db):
    kata = Kata.objects.create(slug="tiny", title="Tiny", summary="One service.", budget_per_hour=1, drain_seconds=10)
    source = PartType.objects.create(kata=kata, key="users", name="Users", role="source", required=True,
                                     max_per_design=1)
    service = PartType.objects.create(kata=kata, key="svc", name="Service", role="service", unit_cost_per_hour=0.5,
                                      service_distribution="exponential", service_mean_ms=10, base_error=0)
    PartParameter.objects.create(part=service, name="instances", default=1, minimum=1, maximum=4)
    PartParameter.objects.create(part=service, name="concurrency", default=2, minimum=1, maximum=8)
    TrafficSource.objects.create(kata=kata, part=source, base_rate=50, warmup_seconds=10, hold_seconds=30,
                                 cooldown_seconds=10)
    Scenario.objects.create(kata=kata, order=1, title="Headroom", metric="peak_utilization_pct", comparator="le",
                            threshold=80)
    Scenario.objects.create(kata=kata, order=2, title="Budget", metric="peak_cost", comparator="le")
    palette = Palette.from_kata(kata)
    document = {"nodes": [{"id": "u", "part": "users"},
                          {"id": "s", "part": "svc", "params": {"instances": 1, "concurrency": 1}}],
                "edges": [{"source": "u", "target": "s"}]}
    # 50/s × 10 ms on one server is 50 % busy on average: passes headroom, within the $1 budget.
    graded = design_grade(palette=palette, document=document, seeds=[1, 2, 3], parallel=False)
    assert design_validate(document, palette).node("s").params == {"instances": 1.0, "concurrency": 1.0}
    by_id = {s.id: s for s in graded.grade.scenarios}
    assert by_id[2].passed and by_id[2].value == 0.5
    assert 40 < by_id[1].value, "a 10-second peak of a 50 %-busy server sits above its mean"
