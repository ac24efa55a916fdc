"""What-if runs and practice scenarios: validated in the kata's terms, simulated with their incidents, saved and
labelled, and never a grade — a what-if run that would pass cannot lift a failing attempt, nor be compared,
overridden or counted as if graded."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from kata import compare, selectors, services
from kata.models import Run, Scenario
from kata.palette import Palette
from kata.runs.execute import run_execute
from kata.runs.seeds import simulate_here
from kata.whatif import WhatIfError, incidents_check, whatif_check

pytestmark = pytest.mark.django_db(transaction=True)

BROWNOUT = {"kind": "brownout", "part": "gateway", "start": 300, "end": 420, "latency_factor": 2, "error": 0.1}


def _execute(run: Run) -> Run:
    messages: list[dict] = []
    run_execute(run.pk, publish=messages.append, simulate=simulate_here)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error_message
    return run


@pytest.mark.parametrize(("what_if", "path"), [
    ({"incidents": [{**BROWNOUT, "kind": "meteor"}]}, "incidents[0].kind"),
    ({"incidents": [{**BROWNOUT, "part": "queue"}]}, "incidents[0].part"),
    ({"incidents": [{**BROWNOUT, "part": "nowhere"}]}, "incidents[0].part"),
    ({"incidents": [{"kind": "surge", "part": "gateway", "start": 1, "end": 2, "factor": 2}]}, "incidents[0].part"),
    ({"incidents": [{"kind": "instances_lost", "part": "gateway", "start": 1, "end": 2, "instances": 1}]},
     "incidents[0].part"),
    ({"incidents": [{**BROWNOUT, "end": 200}]}, "incidents[0].end"),
    ({"incidents": [{**BROWNOUT, "end": 99999}]}, "incidents[0].end"),
    ({"incidents": [{**BROWNOUT, "error": 2}]}, "incidents[0].error"),
    ({"incidents": [{**BROWNOUT, "latency_factor": "fast"}]}, "incidents[0].latency_factor"),
    ({"incidents": [{**BROWNOUT, "latency_factor": 1, "error": 0}]}, "incidents[0].latency_factor"),
    ({"incidents": [{**BROWNOUT, "instances": 2}]}, "incidents[0].instances"),
    ({"traffic": {"checkout": {"spike_rate": -5}}}, "traffic.checkout.spike_rate"),
    ({"traffic": {"checkout": {"rate": 5}}}, "traffic.checkout.rate"),
    ({"traffic": {"status_clients": {"spike_rate": 5}}}, "traffic.status_clients.spike_rate"),
    ({"traffic": {"gateway": {"base_rate": 5}}}, "traffic.gateway"),
    ({"traffic": {"checkout": {"hold_seconds": 3500}}}, "traffic"),
    ({"traffic": {"checkout": {"base_rate": 2000}}}, "traffic"),  # 1.7 M requests: over 3x a graded run's 0.3 M
    ({"incidents": [{"kind": "surge", "part": "status_clients", "start": 0, "end": 1380, "factor": 10}]}, "traffic"),
    ({"practice": 1}, "practice"),
    ({}, "what_if"),
])
def test_a_bad_what_if_is_refused_naming_its_field(clearpay_palette, what_if, path):
    with pytest.raises(WhatIfError) as err:
        whatif_check(what_if, clearpay_palette)
    assert path in [p for p, _ in err.value.problems], err.value.problems


def test_a_practice_what_if_runs_the_scenarios_own_incidents_whatever_is_sent(clearpay_palette):
    """A learner cannot try the practice scenario against a milder incident than its author wrote."""
    sent = {"practice": 6, "incidents": [{**BROWNOUT, "error": 0.001, "latency_factor": 1.01}],
            "traffic": {"checkout": {"spike_rate": 61}}}
    checked = whatif_check(sent, clearpay_palette)
    assert checked == {"traffic": {}, "incidents": [{**BROWNOUT, "start": 300.0, "end": 420.0,
                                                     "latency_factor": 2.0, "error": 0.1}], "practice": 6}


def test_clearpay_ships_one_practice_scenario_that_is_not_graded(clearpay):
    practice = Scenario.objects.get(kata=clearpay, practice=True)
    assert practice.order == 6 and "brown-out" in practice.title
    assert incidents_check(practice.incidents, Palette.from_rows(clearpay))[0]["part"] == "gateway"
    assert Scenario.objects.filter(kata=clearpay, practice=False).count() == 5


def test_a_scenarios_incidents_are_validated_against_the_kata_parts(clearpay):
    scenario = Scenario.objects.get(kata=clearpay, order=6)
    scenario.incidents = [{**BROWNOUT, "part": "mainframe"}]
    with pytest.raises(ValidationError, match="unknown part 'mainframe'"):
        scenario.full_clean()
    graded = Scenario.objects.get(kata=clearpay, order=2)
    graded.incidents = [BROWNOUT]
    with pytest.raises(ValidationError, match="practice scenario"):
        graded.full_clean()


def test_the_admin_saves_a_practice_scenarios_incidents_and_refuses_bad_ones(client, clearpay, django_user_model):
    """The kata's admin page: the scenario inline's incidents field, checked by the model's validation."""
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)
    page = client.get(reverse("admin:kata_kata_change", args=[clearpay.pk]))
    assert page.status_code == 200 and b"scenarios-5-incidents" in page.content
    scenario = Scenario.objects.get(kata=clearpay, order=6)
    scenario.incidents = [{**BROWNOUT, "start": 10, "end": 5}]
    with pytest.raises(ValidationError, match="must be after start"):
        scenario.full_clean()


def test_a_what_if_run_joins_the_attempt_of_the_same_design_on_one_seed(learner, clearpay, design_file):
    graded = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    Run.objects.filter(pk=graded.pk).update(status="succeeded")
    what_if = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"),
                                 what_if={"incidents": [BROWNOUT]})
    assert what_if.attempt_id == graded.attempt_id and what_if.seeds == [1]
    assert what_if.what_if["incidents"][0]["kind"] == "brownout"
    Run.objects.filter(pk=what_if.pk).update(status="succeeded")
    other = services.run_start(learner=learner, kata=clearpay, document=design_file("small-buffer"),
                               what_if={"incidents": [BROWNOUT]})
    assert other.attempt_id != graded.attempt_id


def test_a_bad_what_if_is_refused_before_anything_is_saved(learner, clearpay, design_file):
    with pytest.raises(services.RunRefused) as err:
        services.run_start(learner=learner, kata=clearpay, document=design_file("reference"),
                           what_if={"incidents": [{**BROWNOUT, "part": "queue"}]})
    assert err.value.problems[0]["path"] == "incidents[0].part"
    assert not Run.objects.exists()


def test_a_what_if_that_would_pass_cannot_lift_a_failing_attempt(learner, grader, clearpay, design_file):
    """small-buffer loses payments in the payday spike; with the spike nearly flattened the same design would pass
    everything. That what-if run is saved and evaluated, but the attempt's grade stays the failing one, everywhere."""
    failing = _execute(services.run_start(learner=learner, kata=clearpay, document=design_file("small-buffer")))
    assert failing.passed is not None and failing.passed < failing.total
    easy = _execute(services.run_start(learner=learner, kata=clearpay, document=design_file("small-buffer"),
                                       what_if={"traffic": {"checkout": {"spike_rate": 65}}}))
    assert easy.attempt_id == failing.attempt_id
    assert easy.grade["what_if"] is True and easy.grade["passed"] == easy.grade["total"]  # it would pass
    assert easy.passed is None and easy.total is None  # ... and is no grade
    attempt = failing.attempt
    assert selectors.attempt_latest_run(attempt=attempt) == failing
    assert selectors.attempt_what_if_runs(attempt=attempt) == [easy]
    progress = selectors.kata_progress_for_learner(learner=learner)[clearpay.pk]
    assert progress.best_passed == failing.passed
    # A transactional test flushes the graders' group that a migration made: give this grader the permission itself.
    grader.user_permissions.add(Permission.objects.get(codename="review_attempt"),
                                Permission.objects.get(codename="override_grade"))
    grader = type(grader).objects.get(pk=grader.pk)
    row = next(r for r in selectors.review_rows(reviewer=grader) if r["attempt"].pk == attempt.pk)
    assert row["run"] == failing
    assert compare.attempts_compare(left=attempt, right=attempt, budget=2.5).left_run == failing
    with pytest.raises(services.OverrideRefused, match="not graded"):
        services.grade_override(grader=grader, run=easy, scenario_id=2, passed=True, reason="it passed")


def test_trying_the_practice_scenario_reference_survives_and_no_recovery_buffer_loses_payments(
        learner, other_learner, clearpay, design_file):
    """The practice brown-out on seed 1: the reference design's retrying queue settles every payment; workers that
    call the gateway without one lose the payments whose call failed, at the gateway."""
    ref = _execute(services.run_start(learner=learner, kata=clearpay, document=design_file("reference"),
                                      what_if={"practice": 6}))
    verdicts = {s["id"]: s for s in ref.grade["scenarios"]}
    assert verdicts[6]["passed"] and ref.passed is None
    assert ref.results["1"]["incidents"] == [{"kind": "brownout", "station": "gateway", "start": 300.0,
                                              "end": 420.0, "latency_factor": 2.0, "error": 0.1}]
    bad = _execute(services.run_start(learner=other_learner, kata=clearpay, document=design_file("no-recovery-buffer"),
                                      what_if={"practice": 6}))
    lost = {s["id"]: s for s in bad.grade["scenarios"]}[6]
    assert not lost["passed"] and lost["value"] > 500 and "Payment gateway" in lost["explanation"]


def test_a_graded_run_never_counts_the_practice_scenario(learner, clearpay, design_file):
    run = _execute(services.run_start(learner=learner, kata=clearpay, document=design_file("reference")))
    assert run.total == 5 and [s["id"] for s in run.grade["scenarios"]] == [1, 2, 3, 4, 5]
    assert "incidents" not in run.results["1"]


def test_a_what_if_runs_charts_carry_a_band_over_each_incident(learner, clearpay, design_file):
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"),
                             what_if={"incidents": [BROWNOUT]})
    figures = selectors.run_figures(run=run)
    for figure in figures.values():
        bands = [s for s in figure["layout"]["shapes"] if s["type"] == "rect"]
        assert [(b["x0"], b["x1"]) for b in bands] == [(300.0, 420.0)]
    assert "Payment gateway" in figures["accept"]["layout"]["annotations"][-1]["text"]


def test_the_workspace_starts_a_what_if_run_and_says_why_a_bad_one_cannot(client, learner, clearpay, design_file):
    client.force_login(learner)
    url = reverse("run_start", args=[clearpay.slug])
    bad = client.post(url, json.dumps({"design": design_file("reference"),
                                       "what_if": {"incidents": [{**BROWNOUT, "start": 500}]}}),
                      content_type="application/json")
    assert bad.status_code == 400 and bad.json()["problems"][0]["path"] == "incidents[0].end"
    good = client.post(url, json.dumps({"design": design_file("reference"), "what_if": {"incidents": [BROWNOUT]}}),
                       content_type="application/json")
    assert good.status_code == 201 and good.json()["what_if"] is True
    page = client.get(reverse("workspace", args=[clearpay.slug]))
    assert b'data-testid="what-if"' in page.content and b"try-practice-6" in page.content



def test_a_practice_scenario_travels_in_the_kata_file_and_in_a_version(clearpay):
    from kata.katafile import kata_export, kata_import
    from kata.versions import palette_from_rules, working_rules

    data = kata_export(kata=clearpay)
    practice = next(s for s in data["scenarios"] if s["order"] == 6)
    assert practice["practice"] is True and practice["incidents"][0]["part"] == "gateway"
    assert all("practice" not in s for s in data["scenarios"] if s["order"] != 6)  # graded ones are as they were
    copy = kata_import(text=json.dumps({**data, "slug": "clearpay-copy"}))
    assert Scenario.objects.get(kata=copy, order=6).incidents == practice["incidents"]
    rules = working_rules(clearpay)
    assert [s.get("practice", False) for s in rules["scenarios"]] == [False] * 5 + [True]
    assert "incidents" not in rules["scenarios"][0]  # versions saved before practice scenarios stay equal
    back = palette_from_rules(rules, slug="clearpay", title="ClearPay")
    assert back.scenarios[5].incidents == tuple(practice["incidents"])


@pytest.mark.parametrize(("incident", "ok"), [
    ({"kind": "brownout", "part": "order_db", "start": 60, "end": 90, "latency_factor": 1.2}, True),
    ({"kind": "outage", "part": "order_db", "start": 60, "end": 150}, False),
])
def test_check_kata_tries_each_practice_scenario_on_the_reference_design(instructor, incident, ok):
    """A practice scenario must be solvable: Check kata runs the reference with its incidents on the grading seeds
    (status-cache: reads error below 1 %; a mild database brown-out is ridden out, a 90-s outage is not)."""
    from pathlib import Path

    from kata import authoring
    kata = services.kata_load_fixture(path=Path("fixtures/status-cache/kata.json"))[0]
    Scenario.objects.create(kata=kata, order=5, title="The database browns out", metric="error_rate_pct",
                            comparator="lt", threshold=1, practice=True, incidents=[incident])
    check = authoring.kata_check_request(kata=kata, requested_by=instructor, publish=False)
    check = authoring.kata_check_finish(check_id=check.pk, parallel=False)
    practice = next((r for r in check.report if r["design"].startswith("Practice 5")), check.report)
    assert isinstance(practice, dict) and practice["ok"] is ok, practice
    reference = next(r for r in check.report if r["design"] == "Reference design")
    assert reference["ok"] and "4/4" in reference["message"]  # the practice scenario is not in the grade


def test_an_attempt_with_only_what_if_runs_is_not_compared_as_graded(client, learner, clearpay, design_file):
    graded = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    Run.objects.filter(pk=graded.pk).update(status="succeeded", grade={"scenarios": []}, passed=5, total=5)
    sandbox = services.run_start(learner=learner, kata=clearpay, document=design_file("small-buffer"),
                                 what_if={"incidents": [BROWNOUT]})
    Run.objects.filter(pk=sandbox.pk).update(status="succeeded", grade={"scenarios": [], "what_if": True})
    client.force_login(learner)
    page = client.get(reverse("attempt_compare", args=[clearpay.slug]),
                      {"left": graded.attempt_id, "right": sandbox.attempt_id})
    assert page.status_code == 200 and b'data-testid="compare-no-graded-run"' in page.content
    history = client.get(reverse("attempt_history", args=[clearpay.slug])).content.decode()
    assert f'data-testid="what-ifs-{sandbox.attempt_id}"' in history


def test_a_what_if_runs_grade_panel_says_not_graded_and_what_changed(client, learner, clearpay, design_file):
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"),
                             what_if={"traffic": {"checkout": {"spike_rate": 65}}, "incidents": [BROWNOUT]})
    scenario = {"id": 2, "title": "No dropped transactions", "metric": "dropped", "comparator": "eq", "passed": True,
                "value": 0, "threshold": 0, "unit": "", "explanation": "Seed 1: none was lost.", "next_step": ""}
    Run.objects.filter(pk=run.pk).update(status="succeeded", grade={"what_if": True, "passed": 1, "total": 1,
                                                                    "seeds": [1], "scenarios": [scenario]})
    client.force_login(learner)
    html = client.get(reverse("run_grade", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="not-graded"' in html and "Would pass" in html and 'data-testid="grade-score"' not in html
    assert "checkout spike rate 65" in html
    assert "gateway brown-out latency ×2, 10 % errors, 300–420 s" in html
    attempt = client.get(reverse("attempt_detail", args=[run.attempt_id])).content.decode()
    assert f'data-testid="run-not-graded-{run.pk}"' in attempt


@pytest.mark.parametrize(("name", "passes"), [("reference", True), ("second-passing", True),
                                              ("no-recovery-buffer", False)])
def test_the_practice_brownout_holds_on_every_grading_seed_for_the_passing_designs(clearpay_palette, design_file,
                                                                                   name, passes):
    """What Check kata asks of a practice scenario, for ClearPay's fixture designs on its grading seeds 1-3."""
    from kata.runs.seeds import design_grade

    practice = next(s for s in clearpay_palette.scenarios if s.practice)
    graded = design_grade(palette=clearpay_palette, document=design_file(name), seeds=[1, 2, 3], parallel=False,
                          practice=practice)
    result = next(s for s in graded.grade.scenarios if s.id == 6)
    assert result.passed is passes, result.explanation
    if not passes:
        assert all(v > 500 for v in result.values) and "at Payment gateway" in result.explanation
