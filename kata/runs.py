"""Executing a run: simulate every seed, stream the first one live, grade, save.

`run_execute` is a plain function of a run id and a `publish` callable, so the same code runs in a thread of the web
process (the embedded default) or in a task-queue worker. Frames are saved as they are sent, so a socket that
connects late, or again, replays the run so far from the database.

An execution holds the run under a lease: it writes a heartbeat every few seconds, and a second delivery of the same
run (a task queue redelivers a message whose worker died) takes it over only once the heartbeat has gone quiet.
Every write of an execution is conditional on it still being the current one, so a presumed-dead executor that
comes back cannot overwrite its successor.
"""

from __future__ import annotations

import enum
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from kata import seed_pool
from kata.compiler import compile_design
from kata.design import design_validate
from kata.grading import grade
from kata.messages import FrameMessage, GradeMessage, Point, StatusMessage
from kata.models import Kata, Run, RunFrame
from kata.palette import Palette
from kata.simulation import RunCancelled

log = logging.getLogger(__name__)

# The saved series keeps at most this many points per run (every k-th simulated step).
SERIES_POINTS = 400

Publish = Callable[[dict[str, Any]], None]


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def downsample(points: list[Point], limit: int = SERIES_POINTS) -> list[Point]:
    if len(points) <= limit:
        return points
    stride = -(-len(points) // limit)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


class Outcome(enum.Enum):
    DONE = "done"  # executed to an end: succeeded, failed or cancelled
    BUSY = "busy"  # another executor holds a fresh lease on it: ask again later
    SKIPPED = "skipped"  # nothing to do: it has finished already, or is gone


# A run whose executors died this many times is failed rather than tried again: the design may be what kills them.
MAX_EXECUTIONS = 3


def worker_lost_message(executions: int) -> str:
    return (f"The worker simulating this run stopped {executions} times, so it was not graded. "
            "Your attempt and design are saved: run it again.")


@dataclass
class Claim:
    outcome: Outcome
    run: Run | None = None
    execution: int = 0
    seq_start: int = 0  # frames of this execution are numbered after every earlier one
    taken_over: bool = False


def lease_seconds() -> float:
    return float(settings.KATA_RUN_LEASE_SECONDS)


def run_claim(run_id: int, *, worker: str) -> Claim:
    """Take a run on for execution, under a lease kept alive by heartbeats.

    A queued run is taken. A running run whose heartbeat is older than the lease lost its executor (a killed worker,
    a restarted server): it is taken over, its frames cleared, unless it has used up its executions, and then it is
    failed with a reason the learner sees. A running run with a fresh heartbeat is someone else's (BUSY).
    """
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in (Run.Status.QUEUED, Run.Status.RUNNING):
            return Claim(Outcome.SKIPPED)
        taken_over = run.status == Run.Status.RUNNING
        if taken_over:
            if run.heartbeat_at is not None and run.heartbeat_at > now - timedelta(seconds=lease_seconds()):
                return Claim(Outcome.BUSY)
            if run.executions >= MAX_EXECUTIONS:
                run.status, run.finished_at = Run.Status.FAILED, now
                run.error_message = worker_lost_message(run.executions)
                run.save(update_fields=["status", "finished_at", "error_message"])
                return Claim(Outcome.DONE, run=run)
        seq_start = run.frames.aggregate(last=Max("seq"))["last"] or 0
        run.frames.all().delete()
        run.status, run.progress = Run.Status.RUNNING, 0.0
        run.started_at = run.started_at or now
        run.executions += 1
        run.worker, run.heartbeat_at = worker[:200], now
        run.save(update_fields=["status", "progress", "started_at", "executions", "worker", "heartbeat_at"])
    return Claim(Outcome.DONE, run=run, execution=run.executions, seq_start=seq_start, taken_over=taken_over)


def runs_requeue_stale(enqueue: Callable[[int], object], *, limit: int = 50) -> list[int]:
    """Hand runs whose executor went silent to `enqueue` again; the ids handed over.

    A run whose heartbeat is older than two leases lost its executor (a worker killed whole, a machine gone): its
    message waits unacknowledged in the broker until the visibility timeout, which must outlast the longest run. So
    workers look for such runs themselves and queue them again, and the new delivery takes the run over. Setting the
    heartbeat back to exactly one lease ago claims the requeue (other sweepers skip the run for a lease) while the
    run stays stale enough to be taken over at once.
    """
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds())
    stale = Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=now - 2 * lease)
    handed: list[int] = []
    for run_id, heartbeat in stale.order_by("heartbeat_at").values_list("pk", "heartbeat_at")[:limit]:
        if Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, heartbeat_at=heartbeat).update(
                heartbeat_at=now - lease):
            enqueue(run_id)
            handed.append(run_id)
    return handed


def _relaxed_durability() -> None:
    """Commit this transaction without waiting for the disk (PostgreSQL; a no-op elsewhere).

    For frames and heartbeats only: a crash may lose the last few milliseconds of them, which a retried run writes
    anew, while it saves several disk flushes a second per run. Attempts, runs and results keep full durability.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class _Heartbeat:
    """Tells the database, every few seconds, that this execution of the run is alive (on its own connection)."""

    def __init__(self, run_id: int, execution: int) -> None:
        self.run_id, self.execution = run_id, execution
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"kata-heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        interval = lease_seconds() / 5
        try:
            while not self._stop.wait(interval):
                try:
                    with transaction.atomic():
                        _relaxed_durability()
                        Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING, executions=self.execution).update(
                            heartbeat_at=timezone.now())
                except DatabaseError:  # the database is away for a moment: the next beat tries again
                    log.warning("run %s: heartbeat not written", self.run_id)
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _FrameStream:
    """Saves each frame of the streamed seed, publishes it, and notices a cancellation (or a takeover)."""

    def __init__(self, run: Run, publish: Publish, *, execution: int, seq_start: int,
                 after_first_frame: Callable[[], None] | None = None) -> None:
        self.run = run
        self.publish = publish
        self.execution = execution
        self.seq = seq_start
        self.points: list[Point] = []
        self.stopped = False
        self.after_first_frame = after_first_frame

    def current(self) -> Any:
        return Run.objects.filter(pk=self.run.pk, status=Run.Status.RUNNING, executions=self.execution)

    def add(self, points: list[Point], t: float, progress: float) -> bool:
        """Save and publish one frame; True when this execution should stop."""
        self.seq += 1
        self.points += points
        frame = FrameMessage(type="frame", seq=self.seq, execution=self.execution, progress=round(progress, 4), t=t,
                             points=points)
        with transaction.atomic():
            _relaxed_durability()
            RunFrame.objects.create(run=self.run, seq=self.seq, payload=frame)
            # One query tells both: still ours and still wanted? (Cancel button, an operator, or a takeover after a
            # heartbeat went missing.)
            self.stopped = not self.current().update(progress=frame["progress"], heartbeat_at=timezone.now())
        self.publish(dict(frame))
        if self.after_first_frame is not None:
            self.after_first_frame()
            self.after_first_frame = None
        return self.stopped


def _follow(future: Any, channel: Any, stop: Any, stream: _FrameStream, stop_all: Callable[[], None]) -> dict[str, Any]:
    """Relay the streamed seed's frames until it ends; its results, or RunCancelled."""
    while True:
        try:
            kind, points, t, progress = channel.get(timeout=0.25)
        except queue.Empty:
            if future.done():
                break
            continue
        if stream.add(points, t, progress):
            stop_all()  # every seed of the run, not only the streamed one: the pool is shared by every learner
    while not channel.empty():  # frames put just before the end
        _, points, t, progress = channel.get_nowait()
        stream.add(points, t, progress)
    result = future.result()
    if result is None or stream.stopped:
        raise RunCancelled()
    return result


def _grading(publish: Publish, seeds: list[int]) -> None:
    """The streamed seed is done: tell the page the rest is grading."""
    _status(publish, Run.Status.RUNNING, f"Grading on {len(seeds)} seeds…")


# Wall seconds between two looks at whether a run is still wanted while its other seeds run (one query each).
STILL_WANTED_SECONDS = 0.25


class _Unwanted:
    """`is_set()` is True once the run is cancelled or taken over (it asks the database at most every quarter second)."""

    def __init__(self, stream: _FrameStream) -> None:
        self.stream = stream
        self.checked = 0.0
        self.unwanted = False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self.unwanted and now - self.checked >= STILL_WANTED_SECONDS:
            self.checked = now
            self.unwanted = not self.stream.current().exists()
        return self.unwanted


def _simulate_in_pool(spec: dict[str, Any], seeds: list[int], stream: _FrameStream) -> dict[int, dict[str, Any]]:
    """Every seed in the warm process pool at once, the first streaming: this thread only relays frames.

    A cancelled run stops every one of its seeds, so the processes it held are free for other learners at once.
    """
    first, *others = seeds
    streamed = seed_pool.submit_streamed(spec, first)
    started = [(seed, *seed_pool.submit_stoppable(spec, seed)) for seed in others]
    stops = [streamed[2], *(stop for _, _, stop in started)]

    def stop_all() -> None:
        for stop in stops:
            stop.set()

    unwanted = _Unwanted(stream)
    try:
        results = {first: _follow(*streamed, stream, stop_all)}
        _grading(stream.publish, seeds)
        for seed, future, _ in started:
            while True:
                try:
                    result = future.result(timeout=STILL_WANTED_SECONDS)
                    break
                except TimeoutError:
                    if unwanted.is_set():
                        raise RunCancelled() from None
            if result is None:
                raise RunCancelled()
            results[seed] = result
    except BaseException:
        stop_all()
        for _, future, _ in started:
            future.cancel()
        raise
    return results


def _simulate_here(spec: dict[str, Any], seeds: list[int], stream: _FrameStream) -> dict[int, dict[str, Any]]:
    """Every seed in this process, the streamed one first (a task-queue worker: one run at a time per process).

    Each seed looks, a few times a second, whether the run is still wanted: a cancelled run frees the worker at once.
    """
    first, *others = seeds
    result = seed_pool.stream_seed(spec, first, stream.add)
    if result is None or stream.stopped:
        raise RunCancelled()
    results = {first: result}
    _grading(stream.publish, seeds)
    unwanted = _Unwanted(stream)
    for seed in others:
        seed_result = seed_pool.simulate(spec, seed, unwanted)
        if seed_result is None or unwanted.is_set():
            raise RunCancelled()
        results[seed] = seed_result
    return results


def _strip_series(results: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in results.items() if key != "time_series"}


def _status(publish: Publish, status: str, message: str = "") -> None:
    publish(dict(StatusMessage(type="status", status=status, message=message)))


def run_execute(run_id: int, *, publish: Publish, worker: str = "", in_process_pool: bool = True,
                after_first_frame: Callable[[], None] | None = None) -> Outcome:
    """Execute a run to the end, or say why not (see `run_claim`). Safe to call more than once for one run.

    `in_process_pool`: simulate the seeds in the warm process pool (the web server) or right here (a worker).
    `after_first_frame`: called once the learner has their first frame (a worker's run thread lowers its priority).
    """
    claim = run_claim(run_id, worker=worker or f"pid {os.getpid()}")
    run = claim.run
    if claim.outcome is not Outcome.DONE or run is None:
        return claim.outcome
    if run.status == Run.Status.FAILED:  # its executors kept dying: failed in the claim
        _status(publish, Run.Status.FAILED, run.error_message)
        return Outcome.DONE
    if claim.taken_over:
        _status(publish, Run.Status.RUNNING,
                f"The worker simulating this run stopped; starting again (try {claim.execution} of {MAX_EXECUTIONS})…")
    else:
        _status(publish, Run.Status.RUNNING, "Simulating…")
    stream = _FrameStream(run, publish, execution=claim.execution, seq_start=claim.seq_start,
                          after_first_frame=after_first_frame)
    simulate = _simulate_in_pool if in_process_pool else _simulate_here
    try:
        with _Heartbeat(run.pk, claim.execution):
            kata = Kata.objects.get(pk=run.attempt.kata_id)
            palette = Palette.from_kata(kata)
            design = design_validate(run.attempt.design, palette)
            compiled = compile_design(design, palette)
            results = simulate(compiled.spec, list(run.seeds), stream)
            graded = grade(palette=palette, design=design, compiled=compiled, results_by_seed=results)
    except RunCancelled:
        _stopped(run, claim.execution, publish)
        return Outcome.DONE
    except Exception as exc:  # a run that breaks must say so, not hang in "running"
        log.exception("run %s failed", run_id)
        message = f"The simulation failed: {exc}"
        if stream.current().update(status=Run.Status.FAILED, error_message=message, finished_at=timezone.now()):
            _status(publish, Run.Status.FAILED, message)
        else:
            _stopped(run, claim.execution, publish)
        return Outcome.DONE
    grade_dict = graded.to_dict()
    first = run.seeds[0]
    updated = stream.current().update(
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        results={str(seed): _strip_series(r) for seed, r in results.items()},
        series={"seed": first, "stations": list(compiled.stations), "points": downsample(stream.points)},
        grade=grade_dict,
        passed=graded.passed,
        total=graded.total,
        finished_at=timezone.now(),
    )
    if not updated:  # cancelled (or taken over) between the last frame and now
        _stopped(run, claim.execution, publish)
        return Outcome.DONE
    publish(dict(GradeMessage(type="grade", passed=graded.passed, total=graded.total, grade=grade_dict)))
    _status(publish, Run.Status.SUCCEEDED, f"{graded.passed}/{graded.total} scenarios passed.")
    return Outcome.DONE


def _stopped(run: Run, execution: int, publish: Publish) -> None:
    """This execution stopped early: say "cancelled" if it was; a takeover's new executor speaks for itself."""
    Run.objects.filter(pk=run.pk, status=Run.Status.CANCELLED).update(finished_at=timezone.now())
    now = Run.objects.filter(pk=run.pk).values_list("status", "executions").first()
    if now is not None and now[0] == Run.Status.CANCELLED:
        _status(publish, Run.Status.CANCELLED, "Run cancelled.")
    else:
        log.warning("run %s: execution %s was superseded (now %s)", run.pk, execution, now)


# Old frames are pruned by whichever process finishes a run, at most this often (see `services.run_frames_prune`).
PRUNE_EVERY_SECONDS = 3600.0
_pruned_at: float | None = None


def frames_prune_now_and_then() -> None:
    global _pruned_at
    if _pruned_at is not None and time.monotonic() - _pruned_at < PRUNE_EVERY_SECONDS:
        return
    _pruned_at = time.monotonic()
    from kata.services import run_frames_prune

    try:
        while run_frames_prune(limit=100) == 100:  # in slices: no long transaction holds the table
            pass
    except DatabaseError:
        log.warning("old frames not pruned this time")
