"""Celery tasks of production mode, where Celery looks for them. Thin: the work is in `kata.runs.worker`, whose
import also sets the worker process up (its warm-up and the sweep for silent runs)."""

from __future__ import annotations

import os

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from kata.runs import worker
from kata.runs.lease import Outcome
from kata.runs.submit import CHECK_TASK, RUN_TASK, SWEEP_TASK, TRACES_TASK
from kata.authoring import kata_check_finish
from kata.sweeps import sweep_execute


@shared_task(bind=True, name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, max_retries=40)
def run_simulate(self, run_id: int) -> str:  # type: ignore[no-untyped-def]
    """Execute one run in this worker process; its message is acknowledged only when the run has ended.

    A worker killed mid-run leaves the message unacknowledged: Celery hands it to another worker (at once when one
    process of a worker died, after the broker's visibility timeout when the whole worker did), and the run's lease
    lets the new execution take over once the old heartbeat is silent.
    """
    try:
        outcome = worker.run_here(run_id, worker=f"{self.request.hostname} pid {os.getpid()}")
    except (OperationalError, InterfaceError) as exc:  # the database is away for a moment
        raise self.retry(exc=exc, countdown=3) from exc
    if outcome is Outcome.BUSY and self.request.retries < worker.BUSY_RETRIES:
        # The process that executed it may have just died (Celery puts its message back at once): look again when
        # its heartbeat has had time to go silent. A live executor keeps the run; the sweep covers any later death.
        raise self.retry(countdown=settings.KATA_RUN_LEASE_SECONDS / 2)
    return outcome.value


@shared_task(name=CHECK_TASK, acks_late=True, reject_on_worker_lost=True)
def kata_check(check_id: int) -> bool:
    """An instructor's "Check kata", in a worker: every seed here, one after another (see kata.authoring)."""
    check = worker.on_a_thread_of_its_own(f"kata-check-{check_id}", lambda: kata_check_finish(
        check_id=check_id, parallel=False))
    return check.status == check.Status.PASSED


@shared_task(name=SWEEP_TASK, acks_late=True, reject_on_worker_lost=True)
def kata_sweep(sweep_id: int) -> None:
    """A learner's what-if sweep, in a worker: every point's seeds here, one after another (see kata.sweeps)."""
    worker.on_a_thread_of_its_own(f"kata-sweep-{sweep_id}", lambda: sweep_execute(sweep_id, parallel=False))


@shared_task(name=TRACES_TASK, acks_late=True, reject_on_worker_lost=True)
def run_traces(run_id: int) -> None:
    """A graded run's traces, in a worker, queued after every run (see kata.traces): replayed seeds, pure engine."""
    worker.traces_here(run_id)
