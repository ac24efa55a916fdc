"""Who holds a run, and when its holder is presumed dead: the one clock of a run's liveness.

An execution holds a run under a lease: it writes a heartbeat every fifth of a lease, and every write it makes is
conditional on it still being the current execution (`held_by`), so a presumed-dead executor that comes back cannot
overwrite its successor. How long a heartbeat has been silent (`silence`) is the only judge of a dead executor:

- less than one lease: ALIVE, its holder keeps it; a second delivery of the run is told BUSY;
- one lease: PRESUMED_DEAD, the next delivery takes the run over (`run_claim`), up to MAX_EXECUTIONS, after which
  the claim fails it (the design may be what kills its executors);
- two leases: ORPHANED, no delivery comes by itself: workers queue it again (`runs_requeue_stale`), a restarted
  server takes on what it left (`runs_presume_dead`), and a cancelled run no longer counts as still stopping;
- EXPIRE_AFTER (two minutes, and never under four leases, so the two steps above have had their turn): EXPIRED,
  nobody will finish it: `runs_expire_stale` fails it with a reason its learner sees.

The runs the embedded executor of this process holds (`held_here`) are alive by definition, whatever their heartbeat.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from kata.models import Run

log = logging.getLogger(__name__)

# A run whose executors died this many times is failed rather than tried again: the design may be what kills them.
MAX_EXECUTIONS = 3
# A run silent this long (and at least four leases) has no executor left to finish it.
EXPIRE_AFTER = timedelta(minutes=2)
EXPIRE_AFTER_LEASES = 4
STALE_RUN_MESSAGE = ("This run stopped when the server restarted or its worker went away; nothing was graded. "
                     "Your attempt is saved: run the design again.")


class Silence(enum.IntEnum):
    """How long a run's heartbeat has been silent, in the steps that decide what becomes of it."""

    ALIVE = 0
    PRESUMED_DEAD = 1
    ORPHANED = 2
    EXPIRED = 3


def lease_seconds() -> float:
    return float(settings.KATA_RUN_LEASE_SECONDS)


def silence_limit(level: Silence) -> timedelta:
    """The silence after which a heartbeat has reached `level`."""
    lease = timedelta(seconds=lease_seconds())
    limits = {Silence.ALIVE: timedelta(0), Silence.PRESUMED_DEAD: lease, Silence.ORPHANED: 2 * lease,
              Silence.EXPIRED: max(EXPIRE_AFTER, EXPIRE_AFTER_LEASES * lease)}
    return limits[level]


def silent_since(level: Silence, *, now: datetime | None = None) -> datetime:
    """A heartbeat written at or before this has reached `level` (for queries)."""
    return (now or timezone.now()) - silence_limit(level)


def silence(heartbeat_at: datetime | None, *, now: datetime | None = None) -> Silence:
    """The rule: the highest level whose limit the heartbeat's silence has reached (never written: silent forever)."""
    if heartbeat_at is None:
        return Silence.EXPIRED
    now = now or timezone.now()
    for level in (Silence.EXPIRED, Silence.ORPHANED, Silence.PRESUMED_DEAD):
        if heartbeat_at <= silent_since(level, now=now):
            return level
    return Silence.ALIVE


def held_by(run_id: int, execution: int) -> QuerySet[Run]:
    """The run while `execution` still holds it (running, not cancelled, not taken over): empty otherwise."""
    return Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, executions=execution)


class _LocalHolds:
    """The runs the embedded executor of this process holds, queued or executing."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def take(self, run_id: int, *, again: bool = False) -> bool:
        """Hold the run; False when it is held here already (unless `again`: a retry of this process's own)."""
        with self._lock:
            if run_id in self._held and not again:
                return False
            self._held.add(run_id)
            return True

    def drop(self, run_id: int) -> None:
        with self._lock:
            self._held.discard(run_id)

    def held(self) -> set[int]:
        with self._lock:
            return set(self._held)


_holds = _LocalHolds()


def _forget_after_fork() -> None:
    # A forked copy executes none of its parent's runs.
    global _holds
    _holds = _LocalHolds()


os.register_at_fork(after_in_child=_forget_after_fork)


def held_here() -> _LocalHolds:
    return _holds


class Outcome(enum.Enum):
    DONE = "done"  # executed to an end: succeeded, failed or cancelled
    BUSY = "busy"  # another executor holds a fresh lease on it: ask again later
    SKIPPED = "skipped"  # nothing to do: it has finished already, or is gone


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


def run_claim(run_id: int, *, worker: str) -> Claim:
    """Take a run on for execution, under a lease kept alive by heartbeats.

    A queued run is taken. A running run whose holder is presumed dead (a killed worker, a restarted server) is taken
    over, its frames cleared, unless it has used up its executions, and then it is failed with a reason the learner
    sees. A running run whose holder is alive is someone else's (BUSY).
    """
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in Run.ACTIVE_STATUSES:
            return Claim(Outcome.SKIPPED)
        taken_over = run.status == Run.Status.RUNNING
        if taken_over:
            if silence(run.heartbeat_at, now=now) is Silence.ALIVE:
                return Claim(Outcome.BUSY)
            if run.executions >= MAX_EXECUTIONS:
                _fail(run, worker_lost_message(run.executions), now)
                return Claim(Outcome.DONE, run=run)
        seq_start = _take(run, worker, now)
    return Claim(Outcome.DONE, run=run, execution=run.executions, seq_start=seq_start, taken_over=taken_over)


def _fail(run: Run, message: str, now: datetime) -> None:
    run.status, run.finished_at, run.error_message = Run.Status.FAILED, now, message
    run.save(update_fields=["status", "finished_at", "error_message"])


def _take(run: Run, worker: str, now: datetime) -> int:
    """Start a new execution of the run (its earlier frames cleared); the last frame number of the earlier ones."""
    seq_start = run.frames.aggregate(last=Max("seq"))["last"] or 0
    run.frames.all().delete()
    run.status, run.progress = Run.Status.RUNNING, 0.0
    run.started_at = run.started_at or now
    run.executions += 1
    run.worker, run.heartbeat_at = worker[:200], now
    run.save(update_fields=["status", "progress", "started_at", "executions", "worker", "heartbeat_at"])
    return int(seq_start)


def runs_requeue_stale(enqueue: Callable[[int], object], *, limit: int = 50) -> list[int]:
    """Hand orphaned runs to `enqueue` again; the ids handed over.

    An orphaned run lost its executor (a worker killed whole, a machine gone): its message waits unacknowledged in
    the broker until the visibility timeout, which must outlast the longest run. So workers look for such runs
    themselves and queue them again, and the new delivery takes the run over. Setting the heartbeat back to exactly
    one lease ago claims the requeue (other sweepers skip the run for a lease) while the run stays presumed dead, so
    it is taken over at once.
    """
    now = timezone.now()
    stale = Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lte=silent_since(Silence.ORPHANED, now=now))
    handed: list[int] = []
    for run_id, heartbeat in stale.order_by("heartbeat_at").values_list("pk", "heartbeat_at")[:limit]:
        if Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, heartbeat_at=heartbeat).update(
                heartbeat_at=silent_since(Silence.PRESUMED_DEAD, now=now)):
            enqueue(run_id)
            handed.append(run_id)
    return handed


def runs_presume_dead(run_ids: list[int]) -> None:
    """Set the heartbeat of these running runs back to orphaned: the process that wrote it is gone (a restart)."""
    Run.objects.filter(pk__in=run_ids, status=Run.Status.RUNNING).update(heartbeat_at=silent_since(Silence.ORPHANED))


def runs_still_stopping(runs: QuerySet[Run]) -> QuerySet[Run]:
    """Cancelled runs whose executor is still stopping their seeds (it sets finished_at when done) and is alive."""
    return runs.filter(status=Run.Status.CANCELLED, finished_at__isnull=True,
                       heartbeat_at__gt=silent_since(Silence.ORPHANED))


def _stale_runs() -> QuerySet[Run]:
    """Runs no executor will finish: running, with a heartbeat (or, never having beaten, a start) expired.

    A run that never beat is judged by when it started (or was made) instead, on the same EXPIRED limit.

    A queued run is never stale only for waiting: the embedded default holds its queued runs in the server process,
    which takes them on again after a restart (`submit.runs_recover`), and production mode's broker keeps a run's
    message until a worker has executed it.
    """
    expired = silent_since(Silence.EXPIRED)
    beat_long_ago = Q(heartbeat_at__lte=expired)
    never_beat = Q(heartbeat_at__isnull=True) & (Q(started_at__lte=expired)
                                                 | Q(started_at__isnull=True, created_at__lte=expired))
    return (Run.objects.filter(Q(status=Run.Status.RUNNING) & (beat_long_ago | never_beat))
            .exclude(pk__in=held_here().held()))


def runs_expire_stale(*, learner: AbstractBaseUser | None = None, run_id: int | None = None) -> int:
    """Mark expired runs failed, with a reason their learner sees, so they never block a new run or hang a page."""
    runs = _stale_runs()
    if learner is not None:
        runs = runs.filter(attempt__learner=learner)
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    return runs.update(status=Run.Status.FAILED, error_message=STALE_RUN_MESSAGE, finished_at=timezone.now())


def relaxed_durability() -> None:
    """Commit this transaction without waiting for the disk (PostgreSQL; a no-op elsewhere).

    For frames and heartbeats only: a crash may lose the last few milliseconds of them, which a retried run writes
    anew, while it saves several disk flushes a second per run. Attempts, runs and results keep full durability.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class Heartbeat:
    """Tells the database, every fifth of a lease, that this execution of the run is alive (on its own connection)."""

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
                        relaxed_durability()
                        held_by(self.run_id, self.execution).update(heartbeat_at=timezone.now())
                except DatabaseError:  # the database is away for a moment: the next beat tries again
                    log.warning("run %s: heartbeat not written", self.run_id)
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
