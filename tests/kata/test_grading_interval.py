"""Each graded value carries its confidence interval over the grading seeds: Student t, 95 %, on the mean of the
per-seed values; with one seed there is none."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kata.grading.interval import METHOD, seed_interval, t975
from kata.runs.seeds import design_grade

DESIGNS = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "designs"


def test_the_interval_is_students_t_on_the_seed_mean() -> None:
    mean, lo, hi = seed_interval([1.0, 2.0, 3.0])  # sd 1, n 3: half-width t(2) / sqrt(3)
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 / math.sqrt(3)) and mean - lo == pytest.approx(hi - mean)
    assert seed_interval([0.17]) is None
    assert t975(1) == 12.706 and t975(10) == 2.228 and t975(200) == 1.96


@pytest.mark.django_db
def test_a_grade_on_several_seeds_carries_each_values_interval(clearpay_palette) -> None:
    document = json.loads((DESIGNS / "reference.json").read_text())
    graded = design_grade(palette=clearpay_palette, document=document, seeds=[1, 2], parallel=False).grade
    for s in graded.scenarios:
        assert s.interval is not None and s.interval_method == METHOD
        mean, lo, hi = s.interval
        assert lo <= mean <= hi and mean == pytest.approx(sum(s.values) / 2, abs=1e-4)
    one = design_grade(palette=clearpay_palette, document=document, seeds=[1], parallel=False).grade
    assert all(s.interval is None and s.interval_method == "" for s in one.scenarios)
