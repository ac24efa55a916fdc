"""What-if sweeps: a grid validated against the parameter, executed point by point on the grading seeds (in the
warm pool for the web server, in a worker's process for Celery), progress saved as it goes, cancellable, its
cheapest passing point the one a grade would pass at the lowest cost; a learner's own, never graded."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kata import sweeps
from kata.models import Attempt, Run, Sweep
from kata.palette import Palette
from kata.runs.seeds import design_grade
from kata.services import draft_save
from tests.personas import PASSWORD

WORKERS = "workers:instances"


def _choice(**kw):
    base = dict(node="workers", node_label="Settlement worker", parameter="instances", parameter_label="Instances",
                minimum=1.0, maximum=30.0, step=1.0, current=2.0)
    return sweeps.SweepChoice(**{**base, **kw})


@pytest.mark.parametrize(("start", "stop", "step", "why"), [
    (0, 5, 1, "within 1–30"), (1, 31, 1, "within 1–30"), (5, 5, 1, "within 1–30"), (1, 5, 0.5, "multiple of 1"),
    (1, 5, 0, "multiple of 1"), (1.5, 5, 1, "steps of 1"), (1, 30, 1, "at most 12"), (1, 2, 2, "at least two"),
    (float("nan"), 5, 1, "must be a number"),
])
def test_a_sweeps_grid_is_checked_against_its_parameter(start, stop, step, why):
    with pytest.raises(sweeps.SweepRefused, match=why):
        sweeps.sweep_grid(_choice(), start=start, stop=stop, step=step)


def test_a_grid_runs_from_start_to_stop_on_the_step():
    assert sweeps.sweep_grid(_choice(), start=1, stop=8, step=1) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert sweeps.sweep_grid(_choice(minimum=100, maximum=100000, step=100), start=100, stop=1000, step=300) == [
        100, 400, 700, 1000]


def test_the_cheapest_passing_point_is_the_lowest_cost_that_passes_everything():
    points = [{"value": 1, "cost": 1.0, "passed": False}, {"value": 2, "cost": 2.0, "passed": True},
              {"value": 3, "cost": 3.0, "passed": True}, {"value": 4, "cost": 2.0, "passed": True}]
    assert sweeps.cheapest_passing(points)["value"] == 2  # the lower value on a tie of cost
    assert sweeps.cheapest_passing([{"value": 1, "cost": 1.0, "passed": False}]) is None


@pytest.fixture
def reference_draft(clearpay, learner, design_file):
    draft_save(learner=learner, kata=clearpay, document=design_file("reference"))
    return design_file("reference")


@pytest.mark.django_db
def test_only_a_learner_editable_parameter_of_the_design_can_be_swept(clearpay, learner, reference_draft):
    palette = Palette.from_kata(clearpay)
    keys = {c.key for c in sweeps.sweep_choices(palette=palette, document=reference_draft)}
    assert WORKERS in keys and not any(k.startswith("gateway:") for k in keys)  # the gateway is not the learner's
    for key in ("gateway:instances", "nowhere:instances", "workers:colour"):
        with pytest.raises(sweeps.SweepRefused, match="Pick a part's parameter"):
            sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=key, start=1,
                               stop=3, step=1)
    broken = {**reference_draft, "edges": []}
    with pytest.raises(sweeps.SweepRefused, match="problems to fix"):
        sweeps.sweep_start(learner=learner, kata=clearpay, document=broken, choice_key=WORKERS, start=1, stop=3,
                           step=1)


@pytest.mark.django_db
def test_one_sweep_at_a_time_and_it_is_never_graded(clearpay, learner, reference_draft):
    sweep = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                               start=1, stop=3, step=1)
    assert sweep.status == "queued" and sweep.values == [1, 2, 3] and sweep.seeds == [1, 2, 3]
    with pytest.raises(sweeps.SweepRefused, match="already have a sweep"):
        sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS, start=1,
                           stop=3, step=1)
    assert sweeps.sweep_cancel(sweep=sweep)
    sweeps.sweep_execute(sweep.pk, parallel=False)  # a cancelled sweep is not executed
    sweep.refresh_from_db()
    assert sweep.status == "cancelled" and sweep.points == []
    assert not Attempt.objects.exists() and not Run.objects.exists()


@pytest.mark.django_db
def test_a_sweep_scores_every_point_as_grading_would_and_marks_the_cheapest(clearpay, learner, reference_draft):
    sweep = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                               start=1, stop=3, step=1)
    sweeps.sweep_execute(sweep.pk, parallel=False)
    sweep.refresh_from_db()
    assert sweep.status == "succeeded" and [p["value"] for p in sweep.points] == [1, 2, 3]
    palette = Palette.from_kata(clearpay)
    for point in sweep.points:  # the same verdicts as grading that design on the same seeds
        document = sweeps._with(reference_draft, "workers", "instances", point["value"])
        graded = design_grade(palette=palette, document=document, seeds=[1, 2, 3], parallel=False)
        assert point["passed"] == (graded.grade.passed == graded.grade.total)
        assert [s["passed"] for s in point["scenarios"]] == [s.passed for s in graded.grade.scenarios]
        assert point["cost"] == round(graded.compiled.cost_per_hour, 4)
    cheapest = sweeps.cheapest_passing(sweep.points)
    assert cheapest is not None and cheapest["value"] == 2  # the reference's own size
    assert not sweep.points[2]["passed"]  # 60 slots push the gateway past 80 %
    figures = sweeps.sweep_figures(sweep.points, parameter_label="Instances", budget=palette.budget_per_hour)
    assert len(figures) == len(sweep.points[0]["scenarios"])
    layout = figures["scenario-3"]["layout"]
    assert any(s.get("x0") == 2 and s["yref"] == "paper" for s in layout["shapes"]), "the cheapest point is marked"
    assert any(s["type"] == "rect" for s in layout["shapes"]), "the pass band is shaded"
    assert any(t.get("yaxis") == "y2" and t["name"].startswith("cost") for t in figures["scenario-3"]["data"])


@pytest.mark.django_db
def test_a_sweep_left_running_by_a_dead_executor_does_not_block_the_next(clearpay, learner, reference_draft):
    old = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                             start=1, stop=3, step=1)
    Sweep.objects.filter(pk=old.pk).update(status="running",
                                           created_at=timezone.now() - sweeps.STALE_AFTER - timedelta(seconds=1))
    sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS, start=1,
                       stop=3, step=1)
    old.refresh_from_db()
    assert old.status == "failed" and "stopped before it ended" in old.error_message


@pytest.mark.django_db
def test_the_inspector_offers_a_sweep_of_each_parameter(client, clearpay, learner, reference_draft):
    client.login(username="learner", password=PASSWORD)
    html = client.get(reverse("inspector", args=[clearpay.slug]), {"part": "settlement_worker", "node": "workers"})
    link = f'{reverse("sweep_new", args=[clearpay.slug])}?choice=workers:instances'
    assert link in html.content.decode()
    page = client.get(link)
    assert page.context["form"].initial["choice"] == WORKERS


@pytest.mark.django_db
def test_the_sweep_page_shows_its_progress_point_by_point(client, clearpay, learner, reference_draft):
    sweep = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                               start=1, stop=4, step=1)
    Sweep.objects.filter(pk=sweep.pk).update(status="running", points=[
        {"value": 1, "cost": 1.0, "passed": False, "scenarios": []},
        {"value": 2, "cost": 2.0, "passed": True, "scenarios": []}])
    client.login(username="learner", password=PASSWORD)
    html = client.get(reverse("sweep_detail", args=[sweep.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "Simulating point 3 of 4" in html and 'hx-trigger="load delay:1s"' in html
    assert 'data-testid="sweep-cancel"' in html


@pytest.mark.django_db
def test_a_sweep_is_its_learners_alone(client, clearpay, learner, other_learner, reference_draft):
    sweep = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                               start=1, stop=3, step=1)
    client.login(username="other-learner", password=PASSWORD)
    assert client.get(reverse("sweep_detail", args=[sweep.pk])).status_code == 404
    assert client.post(reverse("sweep_cancel", args=[sweep.pk])).status_code == 404
    assert Sweep.objects.get(pk=sweep.pk).status == "queued"


@pytest.mark.django_db
def test_an_invalid_grid_is_answered_400_with_the_reason(client, clearpay, learner, reference_draft):
    client.login(username="learner", password=PASSWORD)
    response = client.post(reverse("sweep_new", args=[clearpay.slug]),
                           {"choice": WORKERS, "start": 1, "stop": 30, "step": 1})
    assert response.status_code == 400 and "at most 12" in response.content.decode()
    assert not Sweep.objects.exists()


def _wait(predicate, seconds=120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_web_server_runs_a_sweep_in_the_background_in_the_warm_pool(client, clearpay, learner, reference_draft):
    client.login(username="learner", password=PASSWORD)
    response = client.post(reverse("sweep_new", args=[clearpay.slug]),
                           {"choice": WORKERS, "start": 1, "stop": 2, "step": 1})
    assert response.status_code == 302
    sweep = Sweep.objects.get()
    assert response.url == reverse("sweep_detail", args=[sweep.pk])
    assert _wait(lambda: Sweep.objects.get(pk=sweep.pk).status == "succeeded")
    assert [p["value"] for p in Sweep.objects.get(pk=sweep.pk).points] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_sweep_stops_at_its_next_seed_and_keeps_its_points(clearpay, learner, reference_draft):
    sweep = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                               start=1, stop=8, step=1)

    def body():
        try:
            sweeps.sweep_execute(sweep.pk, parallel=False)
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    assert _wait(lambda: len(Sweep.objects.get(pk=sweep.pk).points) >= 1)
    assert sweeps.sweep_cancel(sweep=sweep)
    thread.join(timeout=60)
    assert not thread.is_alive()
    sweep.refresh_from_db()
    assert sweep.status == "cancelled" and 1 <= len(sweep.points) < 8


@pytest.mark.django_db(transaction=True)
def test_the_celery_task_executes_a_sweep_in_its_process(clearpay, learner, reference_draft):
    from kata.tasks import kata_sweep

    sweep = sweeps.sweep_start(learner=learner, kata=clearpay, document=reference_draft, choice_key=WORKERS,
                               start=2, stop=3, step=1)
    kata_sweep(sweep.pk)
    sweep.refresh_from_db()
    assert sweep.status == "succeeded" and [p["passed"] for p in sweep.points] == [True, False]
