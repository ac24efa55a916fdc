"""Cancel stops everything a run started, and what one learner may start and keep is bounded."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kata import services
from kata.authoring import kata_publish_unchecked
from kata.models import Run, RunFrame
from kata.runs import pool
from kata.runs.execute import Simulate, run_execute
from kata.runs.frames import run_frames_prune
from kata.runs.seeds import simulate_here, simulate_in_pool

pytestmark = pytest.mark.django_db(transaction=True)
SLEEP = 1.5  # seconds each probe job sleeps in the pool


@pytest.fixture
def heavy_clearpay(clearpay):
    """ClearPay with a payday spike held for over two hours: each seed simulates for several seconds even on the
    compiled engine."""
    traffic = clearpay.traffic.get(part__key="checkout")
    traffic.hold_seconds = 8000
    traffic.save()
    clearpay.save()
    # Live for learners' runs as a passing check would publish it.
    kata_publish_unchecked(kata=clearpay)
    return clearpay


def _pool_is_free(timeout: float) -> bool:
    """Every process of the pool takes a job at once: as many sleeps as processes end together."""
    processes = pool.pool()
    started = time.monotonic()
    futures = [processes.submit(time.sleep, SLEEP) for _ in range(processes._max_workers)]
    for future in futures:
        future.result(timeout=60)
    return time.monotonic() - started < timeout


def _execute_in_thread(run: Run, *, simulate: Simulate, cancel_on) -> tuple[threading.Thread, dict]:
    """Executes the run on a thread (as the server does), cancelling it the moment `cancel_on(message)` holds."""
    box: dict = {"messages": []}
    wanted = threading.Event()

    def publish(message: dict) -> None:
        box["messages"].append(message)
        if cancel_on(message) and not wanted.is_set():
            wanted.set()
            box["cancelled_at"] = time.monotonic()
            assert services.run_cancel(run=run)

    def body() -> None:
        try:
            box["outcome"] = run_execute(run.pk, publish=publish, simulate=simulate)
            box["returned_at"] = time.monotonic()
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, box


def test_cancel_stops_every_seed_in_the_pool_not_only_the_streamed_one(learner, heavy_clearpay, design_file):
    pool.warm()
    run = services.run_start(learner=learner, kata=heavy_clearpay, document=design_file("reference"))
    thread, box = _execute_in_thread(run, simulate=simulate_in_pool, cancel_on=lambda m: m["type"] == "frame")
    thread.join(timeout=60)
    assert box["messages"][-1] == {"type": "status", "status": "cancelled", "message": "Run cancelled."}
    # Each seed simulates for several seconds here: only a pool whose every process stopped is free at once.
    assert _pool_is_free(timeout=SLEEP + 1.2)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None


def test_cancel_while_grading_stops_the_other_seeds_on_a_worker(learner, heavy_clearpay, design_file):
    run = services.run_start(learner=learner, kata=heavy_clearpay, document=design_file("reference"))
    grading = lambda m: m["type"] == "status" and m["message"].startswith("Grading:")  # noqa: E731
    thread, box = _execute_in_thread(run, simulate=simulate_here, cancel_on=grading)
    thread.join(timeout=120)
    assert "cancelled_at" in box, "the streamed seed ended and grading began"
    # Two more seeds of several seconds each would follow; a cancelled run stops within a fraction of a second.
    assert box["returned_at"] - box["cancelled_at"] < 1.5
    assert box["messages"][-1]["status"] == "cancelled"


@pytest.mark.parametrize("simulate", [simulate_here, simulate_in_pool], ids=["worker", "pool"])
def test_the_page_hears_how_far_the_grading_seeds_are(learner, clearpay, design_file, simulate):
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    thread, box = _execute_in_thread(run, simulate=simulate, cancel_on=lambda m: False)
    thread.join(timeout=300)
    assert box["messages"][-1]["status"] == "succeeded"
    grading = [m["message"] for m in box["messages"] if m["type"] == "status" and m["message"].startswith("Grading")]
    shown = [re.fullmatch(r"Grading: seed (\d+) of (\d+), (\d+) %", text) for text in grading]
    assert all(shown), grading
    steps = [(int(m[1]), int(m[2]), int(m[3])) for m in shown if m]
    assert steps and steps[0][:2] == (2, 3), grading  # the streamed seed was the first of three
    assert all(total == 3 for _, total, _ in steps)
    assert steps == sorted(steps), "seed numbers, and the percentages within a seed, only go up"
    assert {number for number, _, _ in steps} == {2, 3}, grading
    assert all(0 <= percent <= 100 and percent % 5 == 0 for _, _, percent in steps)


def test_a_cancelled_run_still_stopping_counts_as_active(learner, clearpay, design_file):
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    Run.objects.filter(pk=run.pk).update(status="cancelled", heartbeat_at=timezone.now())
    with pytest.raises(services.RunRefused, match="still stopping"):
        services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now())  # its executor has stopped every seed
    assert services.run_start(learner=learner, kata=clearpay, document=design_file("reference")).pk != run.pk


def test_cancelling_a_queued_run_finishes_it_at_once(learner, clearpay, design_file):
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    assert services.run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None
    assert not services.run_cancel(run=run)


def _finish(run: Run, frames: int = 0) -> None:
    Run.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    RunFrame.objects.bulk_create(RunFrame(run=run, seq=i, payload={"seq": i}) for i in range(1, frames + 1))


def test_runs_per_hour_are_bounded_with_a_clear_message(settings, learner, other_learner, clearpay, design_file):
    settings.KATA_RUNS_PER_HOUR = 2
    for _ in range(2):
        _finish(services.run_start(learner=learner, kata=clearpay, document=design_file("reference")))
    with pytest.raises(services.RunRefused, match="2 runs in the last hour"):
        services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    assert Run.objects.filter(attempt__learner=learner).count() == 2, "no attempt saved for the refused run"
    # An hour later the learner may run again; another learner never waited.
    Run.objects.filter(attempt__learner=learner).update(created_at=timezone.now() - timedelta(minutes=61))
    services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    services.run_start(learner=other_learner, kata=clearpay, document=design_file("reference"))


def test_saved_frames_per_hour_are_bounded(settings, learner, clearpay, design_file):
    settings.KATA_FRAMES_PER_HOUR = 5
    _finish(services.run_start(learner=learner, kata=clearpay, document=design_file("reference")), frames=5)
    with pytest.raises(services.RunRefused, match="streamed as much as one learner may in an hour"):
        services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))


def test_frames_are_pruned_after_the_retention_the_settings_name(settings, learner, clearpay, design_file):
    settings.KATA_FRAME_RETENTION_DAYS = 14
    old = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    _finish(old, frames=3)
    Run.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=15), series={"points": [1]})
    young = Run.objects.create(attempt=old.attempt, seeds=[1])
    _finish(young, frames=2)
    assert run_frames_prune() == 1
    assert not RunFrame.objects.filter(run=old).exists()
    assert RunFrame.objects.filter(run=young).count() == 2
    old.refresh_from_db()
    assert old.series == {"points": [1]}, "the downsampled series stays"
