"""A published kata's rules are versioned: attempts and runs keep the version they were graded against, an edit of
the working copy goes live only as a new version, and a draft the new rules no longer allow is fitted in a click."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from kata import services
from kata.authoring import kata_publish_unchecked
from kata.models import Draft, PartParameter, Scenario
from kata.palette import ParameterSpec
from kata.runs.execute import run_execute
from kata.runs.seeds import simulate_here
from kata.versions import (design_fitted, design_misfits, nearest_allowed, palette_for_run, palette_live,
                           rules_changes, working_rules)

STATUS = Path("fixtures/status-cache")
REFERENCE = json.loads((STATUS / "designs/reference.json").read_text())


@pytest.fixture
def status_cache(db):
    return services.kata_load_fixture(path=STATUS / "kata.json")[0]


def _threshold(kata, order: int, value: float) -> None:
    scenario = Scenario.objects.get(kata=kata, order=order)
    scenario.threshold = value
    scenario.save()


def test_loading_a_published_fixture_publishes_its_rules_as_version_one(status_cache):
    version = status_cache.versions.get()
    assert version.number == 1 and version.changes == "First version."
    assert version.rules == working_rules(status_cache)
    assert version.reference_design == REFERENCE


def test_an_edit_of_a_published_kata_is_not_live_until_published(client, learner, status_cache):
    _threshold(status_cache, 1, 5)
    assert {s.order: s.threshold for s in palette_live(status_cache).scenarios}[1] == 80
    client.force_login(learner)
    assert "within 80 ms" in client.get(reverse("kata_detail", args=["status-cache"])).content.decode()
    version = kata_publish_unchecked(kata=status_cache)
    assert version.number == 2
    assert "scenario 1 (Fast reads): p99 accept latency ≤ 80 ms → p99 accept latency ≤ 5 ms" in version.changes
    assert "within 5 ms" in client.get(reverse("kata_detail", args=["status-cache"])).content.decode()


def test_publishing_unchanged_rules_makes_no_new_version(status_cache):
    assert kata_publish_unchecked(kata=status_cache).number == 1
    assert status_cache.versions.count() == 1


def test_every_attempt_and_run_keeps_the_version_it_was_started_on(learner, status_cache):
    first = services.run_start(learner=learner, kata=status_cache, document=REFERENCE)
    assert first.version.number == 1 and first.attempt.version == first.version
    _threshold(status_cache, 1, 5)
    kata_publish_unchecked(kata=status_cache)
    assert {s.order: s.threshold for s in palette_for_run(first).scenarios}[1] == 80, "its version's rules"
    first.status = "succeeded"
    first.save()
    second = services.run_start(learner=learner, kata=status_cache, document=REFERENCE)
    assert second.version.number == 2 and second.attempt.version.number == 2


def _execute(run) -> None:
    def body() -> None:
        try:
            run_execute(run.pk, publish=lambda message: None, simulate=simulate_here)
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=240)
    assert not thread.is_alive()
    run.refresh_from_db()


@pytest.mark.django_db(transaction=True)
def test_a_threshold_change_published_after_the_click_does_not_move_the_runs_grade(client):
    """Transactional: the run executes on a thread of its own, as in the server."""
    status_cache, _ = services.kata_load_fixture(path=STATUS / "kata.json")
    from tests.personas import make_persona

    learner = make_persona("learner")
    run = services.run_start(learner=learner, kata=status_cache, document=REFERENCE)
    _threshold(status_cache, 1, 5)  # the reference's p99 is far above 5 ms
    kata_publish_unchecked(kata=status_cache)
    _execute(run)
    assert run.status == "succeeded", run.error_message
    accept = next(s for s in run.grade["scenarios"] if s["id"] == 1)
    assert accept["threshold"] == 80 and accept["passed"], "graded against version 1, as clicked"
    client.force_login(learner)
    page = client.get(reverse("attempt_detail", args=[run.attempt_id])).content.decode()
    assert "graded against version 1 of the rules" in page
    assert "version 1 of the rules" in page


def test_nearest_allowed_value_keeps_to_the_range_and_the_steps():
    spec = ParameterSpec(name="capacity", label="Capacity", default=10, minimum=10, maximum=100, step=5,
                         learner_editable=True)
    assert nearest_allowed(3, spec) == 10
    assert nearest_allowed(500, spec) == 100
    assert nearest_allowed(22, spec) == 20
    assert nearest_allowed(23, spec) == 25
    odd = ParameterSpec(name="x", label="X", default=1, minimum=1, maximum=10, step=4, learner_editable=True)
    assert nearest_allowed(10, odd) == 9, "the last step inside the range"


def _narrow_api_instances(kata, maximum: float) -> None:
    parameter = PartParameter.objects.get(part__kata=kata, part__key="status_api", name="instances")
    parameter.maximum = maximum
    parameter.default = min(parameter.default, maximum)
    parameter.save()


def test_a_draft_that_the_new_version_no_longer_allows_is_shown_and_fitted_in_one_click(client, learner,
                                                                                        status_cache):
    design = json.loads(json.dumps(REFERENCE))
    design["nodes"][2]["params"]["instances"] = 6
    services.draft_save(learner=learner, kata=status_cache, document=design)
    client.force_login(learner)
    assert 'data-testid="draft-fit"' not in client.get(reverse("workspace", args=["status-cache"])).content.decode()
    _narrow_api_instances(status_cache, 4)
    kata_publish_unchecked(kata=status_cache)
    page = client.get(reverse("workspace", args=["status-cache"])).content.decode()
    assert 'data-testid="draft-fit"' in page
    assert "Status API “api”: instances is 6, now allowed 1–4 (was 1–8)" in page
    assert "Use 4" in page
    response = client.post(reverse("draft_fit", args=["status-cache"]), {"node": "api", "parameter": "instances"})
    assert response.status_code == 302
    draft = Draft.objects.get(learner=learner)
    assert draft.design["nodes"][2]["params"]["instances"] == 4
    assert draft.design["nodes"][2]["params"]["concurrency"] == 8, "nothing else moves"
    assert 'data-testid="draft-fit"' not in client.get(reverse("workspace", args=["status-cache"])).content.decode()


def test_fitting_every_misfit_at_once(status_cache):
    palette = palette_live(status_cache)
    design = json.loads(json.dumps(REFERENCE))
    design["nodes"][2]["params"].update(instances=40, concurrency=0)
    misfits = design_misfits(design, palette)
    assert {(m.node, m.parameter, m.nearest) for m in misfits} == {("api", "instances", 8), ("api", "concurrency", 1)}
    assert design_misfits(design_fitted(design, palette), palette) == []


def test_the_changes_between_versions_read_as_an_instructors_list(status_cache):
    old = working_rules(status_cache)
    _narrow_api_instances(status_cache, 4)
    status_cache.budget_per_hour = 2
    status_cache.save()
    changes = rules_changes(old, working_rules(status_cache))
    assert "budget ($/h): 1.5 → 2" in changes
    assert "scenario 4 (Within budget): peak cost ≤ $1.50/h → peak cost ≤ $2.00/h" in changes
    assert any(line.startswith("Status API: instances 1–8, default 1 → 1–4, default 1") for line in changes), changes
