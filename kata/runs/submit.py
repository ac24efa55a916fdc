"""Where runs execute, chosen by KATA_RUN_EXECUTOR.

- The embedded default ("inprocess"): runs of the web process itself, seeds in its warm process pool. Queued runs
  wait in this process, first come first served; up to KATA_STARTING_RUNS start at once, and the next one starts as
  soon as a started one has its first frame. Every streamed seed runs at once in the pool's streamer, so every
  learner of a burst sees a first frame within a second; grading seeds wait for a simulator (see `kata.runs.pool`).
  A run waits as long as it must and is never failed for waiting. Frames are published on the server's event loop
  (`run_coroutine_threadsafe`), because the in-memory channel layer belongs to that loop and is not safe to touch
  from another thread. When the server starts, it takes on again the runs its previous process left queued or
  running (`runs_recover`).
- Production mode ("celery"): the run is a Celery task (kata/tasks.py) on a Redis broker; a worker executes it and
  publishes frames through channels-redis. Tasks are sent by name, so this module never imports the tasks (which
  import the services, which submit kata checks here).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from celery import current_app
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from kata.asyncdb import db
from kata.models import Run
from kata.runs import pool
from kata.runs.execute import run_execute
from kata.runs.frames import frames_prune_now_and_then
from kata.runs.lease import Outcome, held_here, lease_seconds, runs_presume_dead
from kata.runs.publish import publisher
from kata.runs.seeds import simulate_in_pool
from kata.runs.tracing import trace_in_pool

log = logging.getLogger(__name__)

# The Celery tasks' names (kata/tasks.py defines them under these).
RUN_TASK = "kata.run_simulate"
CHECK_TASK = "kata.check"
SWEEP_TASK = "kata.sweep"
TRACES_TASK = "kata.run_traces"
# Redis hands a worker the lowest number first (kombu's priority steps 0, 3, 6, 9): a learner's run goes before an
# author's check or a sweep, and those before the traces of a run that is already graded.
BACKGROUND_PRIORITY = 6
TRACES_PRIORITY = 9
QUEUE_UNREACHABLE_MESSAGE = ("The run queue could not be reached, so this run did not start. Your attempt and design "
                             "are saved: run it again in a moment.")
# A run found held by a live executor is looked at again this many times, half a lease apart.
BUSY_RETRIES = 3


class _Once:
    """Calls `action` the first time it is called, and never again."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            action, self._action = self._action, None
        if action is not None:
            action()


class _Embedded:
    """The runs of this web process: a FIFO of queued runs and at most `starting` runs before their first frame.

    Which runs it holds is the lease's business (`lease.held_here`): a run held here is alive whatever its heartbeat.
    """

    def __init__(self, starting: int) -> None:
        self.name = f"web pid {os.getpid()} ({uuid.uuid4().hex[:8]})"
        self._slots = threading.Semaphore(starting)
        self._queue: queue.Queue[tuple[int, asyncio.AbstractEventLoop, int]] = queue.Queue()
        self._lock = threading.Lock()
        self._dispatcher: threading.Thread | None = None

    def submit(self, run_id: int, loop: asyncio.AbstractEventLoop, *, attempt: int = 0) -> bool:
        if not held_here().take(run_id, again=attempt > 0):
            return False  # queued or executing here already
        with self._lock:
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, name="kata-run-dispatch", daemon=True)
                self._dispatcher.start()
        self._queue.put((run_id, loop, attempt))
        return True

    def _dispatch(self) -> None:
        while True:
            run_id, loop, attempt = self._queue.get()
            self._slots.acquire()
            release = _Once(self._slots.release)
            threading.Thread(target=self._execute, args=(run_id, loop, attempt, release), name=f"kata-run-{run_id}",
                             daemon=True).start()

    def _execute(self, run_id: int, loop: asyncio.AbstractEventLoop, attempt: int, release: _Once) -> None:
        outcome = Outcome.SKIPPED
        try:
            outcome = run_execute(run_id, publish=publisher(run_id, loop), simulate=simulate_in_pool,
                                  worker=self.name, after_first_frame=release, trace=trace_in_pool)
            frames_prune_now_and_then()
        except Exception:  # the database away, say: the run is left as it is, for the lease to judge
            log.exception("run %s: its execution broke off", run_id)
        finally:
            release()
            close_old_connections()
            if outcome is Outcome.BUSY and attempt < BUSY_RETRIES:
                threading.Timer(lease_seconds() / 2, self.submit, args=(run_id, loop),
                                kwargs={"attempt": attempt + 1}).start()
            else:
                held_here().drop(run_id)


def _new_embedded() -> _Embedded:
    pool.configure(workers=settings.KATA_SIMULATORS)
    return _Embedded(settings.KATA_STARTING_RUNS)


def _new_enqueuers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kata-enqueue")


_embedded = _new_embedded()
_enqueuers = _new_enqueuers()
_recovered = False
_recovering = threading.Lock()


def _forget_after_fork() -> None:
    # A forked copy (a test's live server, a Celery worker's child) inherits the executor's bookkeeping, but not its
    # threads: submitted work would wait for them forever.
    global _embedded, _enqueuers, _recovered, _recovering
    _embedded, _enqueuers = _new_embedded(), _new_enqueuers()
    _recovered, _recovering = False, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def run_enqueue(run_id: int) -> bool:
    """Hand a queued run to the broker; a run that cannot be queued is failed with a reason the socket tells."""
    try:
        current_app.send_task(RUN_TASK, (run_id,), ignore_result=True, retry=True,
                              retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5,
                                            "interval_max": 1.0})
    except Exception:
        log.exception("run %s: could not be queued", run_id)
        Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.FAILED, error_message=QUEUE_UNREACHABLE_MESSAGE, finished_at=timezone.now())
        return False
    return True


def run_enqueue_again(run_id: int) -> None:
    """Queue a run whose executor went silent (the sweep of `lease.runs_requeue_stale`)."""
    current_app.send_task(RUN_TASK, (run_id,), ignore_result=True)
    log.warning("run %s: its executor went silent; queued again", run_id)


def _enqueue_in_background(run_id: int) -> None:
    try:
        run_enqueue(run_id)
    finally:
        close_old_connections()


async def run_submit(run_id: int) -> None:
    """Start a saved, queued run off the event loop, without making the learner wait for it.

    Production mode hands the run to the broker from a small thread pool: in a burst, publishing one message after
    another would hold every answer back. A run that cannot be queued is failed with a reason the socket tells.
    """
    if settings.KATA_RUN_EXECUTOR == "celery":
        _enqueuers.submit(_enqueue_in_background, run_id)
    else:
        _embedded.submit(run_id, asyncio.get_running_loop())


def runs_recover(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Take on every active run that no executor of this process holds: the runs a previous process left.

    The embedded default has one server process per database, so a run it does not hold was orphaned when the
    server stopped (killed, restarted). A queued one is queued again here, in the order the learners pressed Run; a
    running one is taken over at once (presumed dead: the process that wrote its heartbeat is gone), which starts it
    again, up to the executions a run may use. The ids taken on, oldest first.
    """
    held = held_here().held()
    orphans = [pk for pk in Run.objects.filter(status__in=Run.ACTIVE_STATUSES).order_by("created_at")
               .values_list("pk", flat=True) if pk not in held]
    runs_presume_dead(orphans)
    for run_id in orphans:
        _embedded.submit(run_id, loop)
    if orphans:
        log.warning("took on %s run(s) left by the previous server process: %s", len(orphans), orphans)
    return orphans


async def runs_recover_once() -> None:
    """`runs_recover` the first time this process serves anything (the embedded default only; see config/asgi.py)."""
    global _recovered
    if _recovered or settings.KATA_RUN_EXECUTOR != "inprocess" or not settings.KATA_RECOVER_RUNS:
        return
    loop = asyncio.get_running_loop()

    def recover() -> None:
        global _recovered
        with _recovering:
            if not _recovered:
                runs_recover(loop)
                _recovered = True

    await db(recover)()


def _check_in_background(finish: Callable[[], object]) -> None:
    try:
        finish()
    finally:
        close_old_connections()


def kata_check_submit(*, check_id: int, finish: Callable[[], object]) -> None:
    """Check a kata off the request: a Celery task in production mode (which calls the check's `finish` there), a
    thread of the server running `finish` otherwise (its seeds wait behind every learner's first seed in the pool)."""
    if settings.KATA_RUN_EXECUTOR == "celery":
        current_app.send_task(CHECK_TASK, (check_id,), ignore_result=True, priority=BACKGROUND_PRIORITY)
    else:
        threading.Thread(target=_check_in_background, args=(finish,), name=f"kata-check-{check_id}",
                         daemon=True).start()


def sweep_submit(*, sweep_id: int, execute: Callable[[], object]) -> None:
    """Execute a what-if sweep off the request: a Celery task in production mode (which executes it there, its seeds
    one after another), a thread of the server running `execute` otherwise (its seeds in the warm pool, behind every
    learner's streamed seed)."""
    if settings.KATA_RUN_EXECUTOR == "celery":
        current_app.send_task(SWEEP_TASK, (sweep_id,), ignore_result=True, priority=BACKGROUND_PRIORITY)
    else:
        threading.Thread(target=_check_in_background, args=(execute,), name=f"kata-sweep-{sweep_id}",
                         daemon=True).start()


def run_traces_submit(run_id: int) -> None:
    """Record a graded run's traces in a Celery task of their own (production mode), queued after every run: the
    worker process that graded the run is free for the next one at once."""
    current_app.send_task(TRACES_TASK, (run_id,), ignore_result=True, priority=TRACES_PRIORITY)
