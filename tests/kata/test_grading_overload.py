"""The grade says when a part was overloaded: the simulator's `unstable` figure of a part on the failing scenario's
traffic path, in the learner's words, beside the verdict; the reference design, which keeps up, says nothing of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kata.format import overload
from kata.runs.seeds import design_grade

DESIGNS = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "designs"
pytestmark = pytest.mark.django_db


def _grade(palette, name: str):
    return design_grade(palette=palette, document=json.loads((DESIGNS / f"{name}.json").read_text()), seeds=[1],
                        parallel=False)


def test_a_gateway_on_the_synchronous_path_is_reported_overloaded_with_its_window(clearpay_palette) -> None:
    graded = _grade(clearpay_palette, "sync-gateway")
    failing = [s for s in graded.grade.scenarios if not s.passed]
    assert failing
    flag = {s["name"]: s for s in graded.results_by_seed[1]["stations"]}["gateway"]["unstable"]
    for scenario in failing:
        assert "Payment gateway (external) was overloaded from " in scenario.explanation, scenario.explanation
        assert "× its capacity" in scenario.explanation and "slowed down by its own load" in scenario.explanation
    assert flag["reason"].startswith("offered load above capacity") and flag["window"][0] < 400.0


def test_the_reference_design_reports_no_overload(clearpay_palette) -> None:
    graded = _grade(clearpay_palette, "reference")
    assert all(s.passed for s in graded.grade.scenarios)
    assert not any("overloaded" in s.explanation or "never caught up" in s.explanation
                   for s in graded.grade.scenarios)


def test_overload_words() -> None:
    flag = {"window": [312.0, 890.0], "offered": 130.0, "capacity": 100.0, "reason": "offered load above capacity"}
    assert overload("the gateway", flag) == ("the gateway was overloaded from 312 s to 890 s: offered 1.3× its "
                                             "capacity (130/s against 100/s)")
    backlog = {"window": [129.0, 1440.0], "offered": 164.0, "capacity": 100.0, "reason": "backlog left at the end"}
    assert overload("Queue", backlog) == ("Queue never caught up: from 129 s on it took 164/s and passed on 100/s, "
                                          "and its backlog was not cleared at the end")
