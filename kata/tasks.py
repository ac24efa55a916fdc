"""Celery tasks of production mode. Thin: the work is `kata.runs.run_execute`, as in the embedded default."""

from __future__ import annotations

import os

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from kata.executor import publisher, publishing_loop
from kata.runs import Outcome, run_execute

# Once a learner has their first frame, the rest of their run is background work: a worker process lowers its CPU
# priority there, so that in a burst of Runs every learner's start (and the web server) comes before everyone's
# bulk simulation. Workers run one task per process (`--max-tasks-per-child 1`), so the next run starts afresh.
BACKGROUND_NICENESS = 10


def _background() -> None:
    try:
        os.nice(BACKGROUND_NICENESS)
    except OSError:  # not allowed here: the run simply keeps its priority
        pass


@shared_task(bind=True, name="kata.run_simulate", acks_late=True, reject_on_worker_lost=True, max_retries=40)
def run_simulate(self, run_id: int) -> str:  # type: ignore[no-untyped-def]
    """Execute one run in this worker process; its message is acknowledged only when the run has ended.

    A worker killed mid-run leaves the message unacknowledged: Celery hands it to another worker (at once when one
    process of a worker died, after the broker's visibility timeout when the whole worker did), and the run's lease
    lets the new execution take over once the old heartbeat is silent.
    """
    worker = f"{self.request.hostname} pid {os.getpid()}"
    try:
        outcome = run_execute(run_id, publish=publisher(run_id, publishing_loop()), worker=worker, in_process_pool=False,
                              after_first_frame=_background)
    except (OperationalError, InterfaceError) as exc:  # the database is away for a moment
        raise self.retry(exc=exc, countdown=3) from exc
    if outcome is Outcome.BUSY:  # a previous delivery may still be executing it: look again when its lease ends
        raise self.retry(countdown=settings.KATA_RUN_LEASE_SECONDS / 2)
    return outcome.value
