"""The run lease: who may execute a run, and the sweep that queues again the runs whose executor went silent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kata.models import Attempt, Run
from kata.runs import MAX_EXECUTIONS, Outcome, lease_seconds, run_claim, runs_requeue_stale

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_run(learner, clearpay):
    def make(*, status: str = "running", silent_for: float | None = None, executions: int = 1) -> Run:
        attempt = Attempt.objects.create(learner=learner, kata=clearpay, design={"nodes": [], "edges": []})
        heartbeat = None if silent_for is None else timezone.now() - timedelta(seconds=silent_for)
        return Run.objects.create(attempt=attempt, seeds=[1], status=status, heartbeat_at=heartbeat,
                                  executions=executions, worker="w1@host pid 1")

    return make


def test_a_queued_run_is_claimed_once(make_run):
    run = make_run(status="queued", executions=0)
    first = run_claim(run.pk, worker="w2@host pid 2")
    assert first.outcome is Outcome.DONE and first.execution == 1 and not first.taken_over
    second = run_claim(run.pk, worker="w3@host pid 3")
    assert second.outcome is Outcome.BUSY, "a fresh heartbeat keeps the run with its executor"


def test_a_silent_run_is_taken_over_and_a_dead_end_one_fails(make_run):
    silent = make_run(silent_for=lease_seconds() + 1)
    claim = run_claim(silent.pk, worker="w2@host pid 2")
    assert claim.outcome is Outcome.DONE and claim.taken_over and claim.execution == 2

    exhausted = make_run(silent_for=lease_seconds() + 1, executions=MAX_EXECUTIONS)
    assert run_claim(exhausted.pk, worker="w2@host pid 2").outcome is Outcome.DONE
    exhausted.refresh_from_db()
    assert exhausted.status == "failed" and "stopped 3 times" in exhausted.error_message


def test_the_sweep_queues_a_silent_run_once_and_leaves_live_ones(make_run):
    silent = make_run(silent_for=2 * lease_seconds() + 1)
    live = make_run(silent_for=1)
    make_run(status="succeeded", silent_for=600)
    queued: list[int] = []

    assert runs_requeue_stale(queued.append) == [silent.pk] and queued == [silent.pk]
    assert runs_requeue_stale(queued.append) == [], "a second sweeper skips a run queued again a moment ago"
    assert queued == [silent.pk] and live.pk not in queued

    # The requeued delivery takes the run over at once: the sweep left it stale by exactly one lease.
    claim = run_claim(silent.pk, worker="w2@host pid 2")
    assert claim.outcome is Outcome.DONE and claim.taken_over
