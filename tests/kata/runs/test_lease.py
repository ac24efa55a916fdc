"""The run lease: who may execute a run, the sweep that queues again the runs whose executor went silent, and the one
rule (how long a heartbeat has been silent) that decides every one of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kata.models import Attempt, Run
from kata.runs.lease import (EXPIRE_AFTER, MAX_EXECUTIONS, Outcome, Silence, lease_seconds, run_claim,
                             runs_expire_stale, runs_requeue_stale, silence, silence_limit)

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


def test_silence_climbs_one_ladder_of_leases():
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds())
    assert silence(now - lease + timedelta(milliseconds=1), now=now) is Silence.ALIVE
    assert silence(now - lease, now=now) is Silence.PRESUMED_DEAD
    assert silence(now - 2 * lease, now=now) is Silence.ORPHANED
    assert silence(now - silence_limit(Silence.EXPIRED), now=now) is Silence.EXPIRED
    assert silence(None, now=now) is Silence.EXPIRED, "a heartbeat never written is silent forever"


def test_expiry_comes_after_the_requeue_and_its_takeover_whatever_the_lease(settings):
    assert silence_limit(Silence.EXPIRED) == EXPIRE_AFTER == timedelta(minutes=2), "two minutes at the default lease"
    settings.KATA_RUN_LEASE_SECONDS = 60
    assert silence_limit(Silence.ORPHANED) == timedelta(minutes=2)
    assert silence_limit(Silence.EXPIRED) == timedelta(minutes=4), "never before the sweep's requeue has had its turn"


@pytest.mark.parametrize("level", list(Silence))
def test_claim_sweep_and_expiry_all_follow_the_silence_rule(make_run, level):
    """One run, silent just past each level's limit: what every part of the machinery does with it follows."""
    past = silence_limit(level).total_seconds() + 1 if level is not Silence.ALIVE else 1
    run = make_run(silent_for=past)
    assert silence(run.heartbeat_at) is level

    expired = runs_expire_stale(run_id=run.pk)
    assert expired == (1 if level is Silence.EXPIRED else 0), "failed only once expired"
    if expired:
        run.refresh_from_db()
        assert run.status == "failed" and "worker went away" in run.error_message
        return
    requeued: list[int] = []
    runs_requeue_stale(requeued.append)
    assert (requeued == [run.pk]) is (level >= Silence.ORPHANED), "queued again once orphaned"
    claim = run_claim(run.pk, worker="w2@host pid 2")
    assert (claim.outcome is Outcome.BUSY) is (level is Silence.ALIVE), "taken over once its holder is presumed dead"
