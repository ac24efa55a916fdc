"""The Celery worker process of production mode: its set-up and the bodies of its tasks (kata/tasks.py names them).

Once a learner has their first frame, the rest of their run is background work: its thread steps down to the idle
scheduling class (nice 19 where that is refused), so that in a burst of Runs every learner's start, and the web
server, come before anyone's bulk simulation. Only that thread steps down: on Linux priority is per thread, and a
process could not raise its own again, so each run executes on a thread of its own and the worker process stays
as it was, warm (imports, database and Redis connections) for the next run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from celery import signals
from channels.layers import get_channel_layer
from django.db import DEFAULT_DB_ALIAS, DatabaseError, close_old_connections, connection, connections

from kata.compiler import compile_document
from kata.models import Kata
from kata.palette import Palette
from kata.runs.execute import run_execute, run_traces_execute
from kata.runs.frames import frames_prune_now_and_then
from kata.runs.lease import Outcome, lease_seconds, runs_requeue_stale
from kata.runs.pool import stream_seed
from kata.runs.publish import publisher, publishing_loop
from kata.runs.seeds import simulate_here
from kata.runs.submit import run_enqueue_again, run_traces_submit
from kata.runs.tracing import trace_here

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKGROUND_NICENESS = 19
# A delivery finding its run held by a live executor looks again this many times (half a lease apart), then leaves it.
BUSY_RETRIES = 3


def background() -> None:
    """Lower the calling thread's CPU priority (Linux: per thread)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # not allowed here: the run simply keeps its priority
        log.debug("could not lower the priority of a run's thread")


def on_a_thread_of_its_own(name: str, work: Callable[[], T]) -> T:
    """`work()` on a new thread that uses this thread's database connection, which stays open for the next task."""
    shared = connections[DEFAULT_DB_ALIAS]
    shared.inc_thread_sharing()
    box: dict[str, Any] = {}

    def body() -> None:
        connections[DEFAULT_DB_ALIAS] = shared  # as Django's LiveServerThread shares its connection
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the task's thread as it is
            box["error"] = exc

    thread = threading.Thread(target=body, name=name)
    try:
        thread.start()
        thread.join()
    finally:
        shared.dec_thread_sharing()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_here(run_id: int, *, worker: str) -> Outcome:
    """Execute one run in this worker process, on a thread of its own that steps down after the first frame."""

    def execute() -> Outcome:
        outcome = run_execute(run_id, publish=publisher(run_id, publishing_loop()), simulate=simulate_here,
                              worker=worker, after_first_frame=background, defer_traces=run_traces_submit)
        frames_prune_now_and_then()  # on the run's thread, at idle priority by now
        return outcome

    return on_a_thread_of_its_own(f"kata-run-{run_id}", execute)


def traces_here(run_id: int) -> None:
    """Record a graded run's traces in this worker process, at the lowest CPU priority (a run's thread after its
    first frame is no higher), on a thread of its own."""

    def record() -> None:
        background()
        run_traces_execute(run_id, trace=trace_here)

    on_a_thread_of_its_own(f"kata-traces-{run_id}", record)


def rehearse_a_start() -> None:
    """What a run does before its first frame, on a published kata's reference design, writing nothing.

    A forked process shares its parent's memory until it writes to it, and Python writes to every object it touches
    (reference counts): the first run in a new process would pay for copying those pages, in the middle of a burst.
    """
    kata = Kata.objects.filter(published=True).exclude(reference_design={}).order_by("pk").first()
    if kata is None:
        return
    palette = Palette.from_kata(kata)
    compiled = compile_document(kata.reference_design, palette)
    stream_seed(compiled.spec, 1, lambda points, t, progress: True)  # stops at the first frame


def _warm_up(**kwargs: Any) -> None:
    """A new pool process gets ready for its first run before one arrives: a learner's first frame waits on none of it.

    It stops the collector from walking the objects inherited from the parent (each walk writes to their pages, which
    the fork had shared), rehearses a run's start, and opens its database and Redis connections, kept for the runs
    to come.
    """
    gc.freeze()
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        log.warning("pool process %s: no database connection yet (%s)", os.getpid(), exc)
    try:
        rehearse_a_start()
    except Exception as exc:  # noqa: BLE001 - a rehearsal only: the first run simply starts colder
        log.warning("pool process %s: could not rehearse a run's start (%s)", os.getpid(), exc)
    try:
        layer = get_channel_layer()
        asyncio.run_coroutine_threadsafe(layer.group_discard("kata.warm-up", "kata.warm-up"),
                                         publishing_loop()).result(timeout=5)
    except Exception as exc:  # noqa: BLE001 - the first run connects then
        log.warning("pool process %s: no Redis connection yet (%s)", os.getpid(), exc)


def sweep_forever(stop: threading.Event) -> None:
    """Every half lease, queue again the runs whose executor went silent (see `lease.runs_requeue_stale`)."""
    while not stop.wait(lease_seconds() / 2):
        try:
            close_old_connections()
            runs_requeue_stale(run_enqueue_again)
        except Exception:  # the database or the broker is away for a moment: the next sweep tries again
            log.exception("the sweep for silent runs failed")


_sweeper_stop = threading.Event()


@signals.worker_ready.connect
def _start_sweeper(**kwargs: Any) -> None:
    threading.Thread(target=sweep_forever, args=(_sweeper_stop,), name="kata-sweeper", daemon=True).start()


@signals.worker_shutdown.connect
def _stop_sweeper(**kwargs: Any) -> None:
    _sweeper_stop.set()


@signals.worker_init.connect
def _after_celery_s_django_fixup(**kwargs: Any) -> None:
    # Connected now, the warm-up runs after the Django fixup's own handler, which closes a new process's connections.
    signals.worker_process_init.connect(_warm_up, weak=False, dispatch_uid="kata.tasks.warm_up")
