"""ClearPay is graded fairly: the reference and a second, different design pass all five on every seed with margin,
and each design a clever learner might use to go around the brief fails exactly the scenarios
`fixtures/clearpay/designs/expected.json` pins it to, each for the reason it states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kata.design import DesignError, design_validate
from kata.palette import Palette
from kata.runs.seeds import design_grade

DESIGNS = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "designs"
EXPECTED = json.loads((DESIGNS / "expected.json").read_text())
pytestmark = pytest.mark.django_db

GRADED = sorted(name for name, e in EXPECTED.items() if "invalid" not in e)
REFUSED = sorted(name for name, e in EXPECTED.items() if "invalid" in e)


def _document(name: str):
    return json.loads((DESIGNS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def palette(clearpay_module_palette) -> Palette:
    return clearpay_module_palette


@pytest.fixture(scope="module")
def graded(palette):
    """Each design graded once on the kata's grading seeds, shared by the tests of this module."""
    cache = {}

    def grade_of(name: str, seeds=(1, 2, 3)):
        key = (name, tuple(seeds))
        if key not in cache:
            cache[key] = design_grade(palette=palette, document=_document(name), seeds=list(seeds)).grade
        return cache[key]

    return grade_of


def test_every_fixture_design_has_an_expectation():
    assert {p.stem for p in DESIGNS.glob("*.json")} - {"expected"} == set(EXPECTED)


@pytest.mark.parametrize("name", GRADED)
def test_design_fails_exactly_its_scenarios_for_the_stated_reason(graded, name):
    grade = graded(name)
    expected = EXPECTED[name]["fails"]
    by_id = {s.id: s for s in grade.scenarios}
    assert {s.id for s in grade.scenarios if not s.passed} == {int(k) for k in expected}, \
        {s.id: s.explanation for s in grade.scenarios}
    for scenario, phrase in expected.items():
        text = by_id[int(scenario)].explanation + " " + by_id[int(scenario)].next_step
        assert phrase in text, (scenario, text)
    assert grade.total == 5 and grade.seeds == [1, 2, 3]


@pytest.mark.parametrize("name", REFUSED)
def test_design_going_around_the_rules_is_refused_with_the_kata_reason(palette, name):
    with pytest.raises(DesignError) as refused:
        design_validate(_document(name), palette)
    assert EXPECTED[name]["invalid"] in str(refused.value)


@pytest.mark.parametrize("name", ["reference", "second-passing"])
def test_passing_designs_pass_with_margin_on_every_seed(graded, name):
    by_id = {s.id: s for s in graded(name).scenarios}
    assert max(by_id[1].values) < 200, "accept p99 sits well inside 300 ms"
    assert by_id[2].values == [0, 0, 0]
    assert max(by_id[3].values) < 0.3, "error rate sits well inside 0.5 %, retried errors counted"
    assert by_id[4].values == [100.0, 100.0, 100.0]
    assert by_id[5].value <= 2.5
    assert "the cheapest passing design found costs $1.94/h" in by_id[5].explanation


def test_every_explanation_names_its_seed_and_carries_every_seeds_value(graded):
    for name in GRADED:
        grade = graded(name)
        for scenario in grade.scenarios:
            assert scenario.explanation.startswith(f"Seed {scenario.worst_seed}, the worst of 3: "), (name, scenario.id)
            assert scenario.next_step, (name, scenario.id)
            assert set(scenario.values_by_seed) == {"1", "2", "3"}
            assert scenario.values_by_seed[str(scenario.worst_seed)] == scenario.value


def test_worst_seed_is_the_one_furthest_on_the_wrong_side(graded):
    for scenario in graded("no-recovery-buffer").scenarios:
        if scenario.comparator in {"le", "lt", "eq"}:
            assert scenario.value == max(scenario.values)
        else:
            assert scenario.value == min(scenario.values)


def test_retried_errors_count_against_the_error_budget(graded):
    """Retries recover the gateway's declined calls but the error scenario still counts each payment they hit."""
    error_rate = {s.id: s for s in graded("reference").scenarios}[3]
    assert "recovered by a retry, which still counts" in error_rate.explanation


def test_explanations_use_learner_units_and_plurals(graded):
    texts = [s.explanation + s.next_step for name in GRADED for s in graded(name).scenarios]
    assert not any("e+0" in t or "e-0" in t for t in texts), "no e-notation"
    assert not any("scenario 1, 3" in t or "scenarios 1–3" in t for t in texts)
    sync = {s.id: s for s in graded("sync-gateway").scenarios}
    assert "p99 accept latency 2.0 s > 300 ms" in sync[1].explanation
    assert "scenarios 1 and 3 do not hold" in sync[5].explanation


@pytest.mark.slow
@pytest.mark.parametrize("name", GRADED)
def test_verdicts_hold_on_ten_more_seeds(graded, name):
    """The grading seeds are not lucky ones: seeds 11–20 give the same verdicts, design by design."""
    on_grading_seeds = {s.id: s.passed for s in graded(name).scenarios}
    on_other_seeds = {s.id: s.passed for s in graded(name, seeds=range(11, 21)).scenarios}
    assert on_other_seeds == on_grading_seeds
