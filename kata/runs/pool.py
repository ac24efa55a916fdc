"""A warm pool of processes that each simulate one seed. Imports no Django: children never set Django up.

Workers are spawned (fresh interpreters), never forked from a web server full of threads, and keep no state that a
forked copy of this process could trip over; the pool stays up for the life of the process and `warm()` starts it
in the background, so no learner's Run pays for start-up.

Streamed seeds (a learner watching their first frames) never wait behind anyone: one more spawned process, the
streamer, simulates every streamed seed at once, a thread each, so the interpreter's switching shares it between
them and thirty learners pressing Run together all see their first frame within a fraction of a second (a compiled
seed's step takes well under a millisecond). Grading seeds wait in this process, not in the pool: one feeder thread
per pool worker hands the pool a seed only when that worker is free, first come first served, and a seed that is
still waiting can be cancelled.
"""

from __future__ import annotations

import collections
import gc
import heapq
import math
import queue
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.managers import SyncManager
from typing import Any

from simulator import Simulation, Snapshot, build_network

STEP_SECONDS = 1.0
# Wall seconds between two frames: ≥ 5 frames a second while a run lasts, never one message per snapshot.
FRAME_INTERVAL = 0.15
# Wall seconds of simulation a streamed seed gets per turn in the streamer, when others are streaming too.
STREAM_SLICE_SECONDS = 0.03
# Wall seconds between two looks at a seed's stop signal (each look may cross a process boundary).
STOP_CHECK_SECONDS = 0.1

# Which seeds a free worker takes first.
STREAMED = 0
GRADING = 1

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_manager: SyncManager | None = None
_scheduler: Scheduler | None = None
_streamer: Streamer | None = None
_workers: int | None = None


def _forget_after_fork() -> None:
    # A forked process (a test's live server, say) inherits these objects but not the threads and pipes behind
    # them: it starts its own on first use.
    global _pool, _manager, _lock, _scheduler, _streamer
    _pool, _manager, _lock, _scheduler, _streamer = None, None, threading.Lock(), None, None


os.register_at_fork(after_in_child=_forget_after_fork)


def _ms(values: tuple[float | None, ...]) -> list[float | None]:
    return [round(v * 1000, 2) if v is not None else None for v in values]


def snapshot_point(snapshot: Snapshot) -> dict[str, Any]:
    """One simulated step, compacted for charts (see `kata.messages.Point`)."""
    return {
        "t": snapshot.t,
        "acc": _ms(snapshot.accept_step),
        "set": _ms(snapshot.settle_step),
        "err": round(100 * snapshot.error_rate, 4) if snapshot.error_rate is not None else None,
        "cost": round(snapshot.cost_per_hour, 4),
        "u": {s.name: round(s.utilization, 4) if s.utilization is not None else None for s in snapshot.stations},
        "q": {s.name: s.queue for s in snapshot.stations},
        # Each traffic source on its own: the step's latencies, and the share that met an error so far (what the
        # error scenario counts: error, failed, or recovered by a retry), as the grade computes it.
        "src": {src.name: {"acc": _ms(src.accept_step), "set": _ms(src.settle_step),
                           "err": round(100 * src.met_error / max(1, src.arrivals), 4), "n": src.arrivals}
                for src in snapshot.sources},
    }


class StreamedSeed:
    """One streamed seed, run in slices: `advance(seconds)` simulates for about that much wall time (a frame at once
    when none was sent yet, then one every FRAME_INTERVAL) and says whether the seed has ended; `result` is then its
    `Results.to_dict()`, or None when `emit` asked it to stop (`emit(points, t, progress)` returns True to stop)."""

    def __init__(self, spec: dict[str, Any], seed: int, emit: Callable[[list[dict[str, Any]], float, float], bool]):
        self.simulation = Simulation(build_network(spec), seed=seed)
        self.steps = self.simulation.stream(step=STEP_SECONDS)
        self.emit = emit
        self.pending: list[dict[str, Any]] = []
        self.last = 0.0
        self.sent = 0
        self.snapshot: Snapshot | None = None
        self.result: dict[str, Any] | None = None

    def advance(self, seconds: float) -> bool:
        until = time.monotonic() + seconds
        for snapshot in self.steps:
            self.snapshot = snapshot
            self.pending.append(snapshot_point(snapshot))
            now = time.monotonic()
            if self.sent == 0 or now - self.last >= FRAME_INTERVAL:
                stop = self.emit(self.pending, snapshot.t, snapshot.progress)
                self.pending, self.last, self.sent = [], time.monotonic(), self.sent + 1
                if stop:
                    return True
                if self.sent == 1 or now >= until:
                    return False  # the first frame is out, or the slice is used: others take their turn
            elif now >= until:
                return False
        if self.pending and self.snapshot is not None:
            self.emit(self.pending, self.snapshot.t, self.snapshot.progress)
        self.result = self.simulation.results().to_dict()
        return True


def stream_seed(spec: dict[str, Any], seed: int,
                emit: Callable[[list[dict[str, Any]], float, float], bool]) -> dict[str, Any] | None:
    """Run one seed, calling `emit(points, t, progress)` every FRAME_INTERVAL of wall time (and first at once).

    `emit` returns True to stop: then the answer is None. Otherwise it is `Results.to_dict()`.
    """
    streamed = StreamedSeed(spec, seed, emit)
    while not streamed.advance(math.inf):
        pass
    return streamed.result


def _channel_emit(channel: Any, stop: Any) -> Callable[[list[dict[str, Any]], float, float], bool]:
    """Frames go on `channel` as ("frame", points, t, progress); `stop` (set) stops the seed."""

    def emit(points: list[dict[str, Any]], t: float, progress: float) -> bool:
        channel.put(("frame", points, t, progress))
        return bool(stop.is_set())

    return emit




def simulate(spec: dict[str, Any], seed: int, stop: Any = None, progress: Any = None) -> dict[str, Any] | None:
    """Run one seed to the end in 1-second steps (so the time series exists) and return `Results.to_dict()`.

    `stop` (anything with `is_set()`) is looked at every STOP_CHECK_SECONDS of wall time: once set, the seed stops
    and the answer is None, so a cancelled run frees its process at once rather than at the end of every seed.
    `progress` (anything with a `value`, a shared one across processes) is set to the seed's progress, 0 to 1, as
    often.
    """
    simulation = Simulation(build_network(spec), seed=seed)
    checked = time.monotonic()
    for snapshot in simulation.stream(step=STEP_SECONDS):
        if time.monotonic() - checked >= STOP_CHECK_SECONDS:
            checked = time.monotonic()
            if stop is not None and stop.is_set():
                return None
            if progress is not None:
                progress.value = snapshot.progress
    if progress is not None:
        progress.value = 1.0
    return simulation.results().to_dict()


def _simulator_start(parent: int) -> None:
    """A simulating process's start: exit with its parent, and leave what it has imported out of the collector's
    sight (a full collection then looks only at a run's own objects: no pause of tens of milliseconds mid-run)."""
    _exit_with_parent(parent)
    gc.freeze()  # this module imported the simulator already


def _exit_with_parent(parent: int) -> None:
    """In a worker: exit when the process that started it is gone (killed with SIGKILL, say), never linger.

    A thread polls the parent's pid. The kernel's parent-death signal would not do: it fires when the *thread* that
    started the worker ends, and the pool is often started from a short-lived thread (`warm`). The thread is not a
    daemon, because a daemon thread freezes once the interpreter starts shutting down, which is exactly when an
    orphaned worker can hang (flushing queues to a parent that is gone); it ends with the worker's main thread.
    """
    main = threading.main_thread()  # `parent` comes from the parent: it may be gone before this worker starts

    def watch() -> None:
        while main.is_alive():
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, name="kata-parent-watch").start()


def configure(*, workers: int) -> None:
    """How many seeds this process simulates at once (before the pool starts; the default is one per core)."""
    global _workers
    if workers < 1:
        raise ValueError("workers must be at least 1")
    _workers = workers


def workers() -> int:
    return _workers or os.cpu_count() or 1


def pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        # A worker that died (killed, out of memory) breaks the whole executor: start a new one.
        if _pool is not None and getattr(_pool, "_broken", False):
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=context,
                                        initializer=_simulator_start, initargs=(os.getpid(),))
        return _pool


def _pool_submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    try:
        return pool().submit(fn, *args)
    except BrokenProcessPool:  # broke between the check and the submit
        return pool().submit(fn, *args)


class Scheduler:
    """Seeds waiting for a free pool worker, streamed ones first; one feeder thread per worker."""

    def __init__(self, feeders: int) -> None:
        self._waiting: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        for index in range(feeders):
            threading.Thread(target=self._feed, name=f"kata-seed-feeder-{index}", daemon=True).start()

    def submit(self, priority: int, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._ready:
            heapq.heappush(self._waiting, (priority, next(self._order), future, fn, args))
            self._ready.notify()
        return future

    def waiting(self) -> int:
        with self._ready:
            return sum(1 for entry in self._waiting if not entry[2].cancelled())

    def _feed(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                _, _, future, fn, args = heapq.heappop(self._waiting)
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                result = _pool_submit(fn, *args).result()
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the seed
                future.set_exception(exc)
            else:
                future.set_result(result)


def scheduler() -> Scheduler:
    global _scheduler
    with _lock:
        if _scheduler is None:
            _scheduler = Scheduler(workers())
        return _scheduler


def channels() -> SyncManager:
    global _manager
    with _lock:
        if _manager is None:
            _manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
            _manager.start(initializer=_exit_with_parent, initargs=(os.getpid(),))
        return _manager


def submit(spec: dict[str, Any], seed: int) -> Future[dict[str, Any]]:
    """Simulate a seed when a worker is free and no streamed seed waits (cancel the future while it waits)."""
    return scheduler().submit(GRADING, simulate, spec, seed)


def submit_stoppable(spec: dict[str, Any], seed: int) -> tuple[Future[dict[str, Any] | None], Any, Any]:
    """Start a seed; set the returned event to stop it (its answer is then None); the returned value's `value` is
    its progress, 0 to 1."""
    manager = channels()
    stop, progress = manager.Event(), manager.Value("d", 0.0)
    try:
        return pool().submit(simulate, spec, seed, stop, progress), stop, progress
    except BrokenProcessPool:
        return pool().submit(simulate, spec, seed, stop, progress), stop, progress


def _streamer_main(jobs: Any, results: Any, parent: int) -> None:
    """The streamer process: every streamed seed it is given, in turns of STREAM_SLICE_SECONDS, until its parent is
    gone. A new seed goes first: it runs to its first frame before the others take their next turn. One thread, so
    thirty seeds cost what they cost one after another (threads would fight for the interpreter and for the cache)."""
    _simulator_start(parent)
    active: collections.deque[tuple[int, StreamedSeed]] = collections.deque()
    while True:
        block = not active
        while True:  # every job waiting: their first frames come first
            try:
                job, spec, seed, channel, stop = jobs.get(block=block)
            except queue.Empty:
                break
            except Exception:  # noqa: BLE001 - a job that cannot be read: nobody can be told, its run fails by lease
                break
            block = False
            try:
                streamed = StreamedSeed(spec, seed, _channel_emit(channel, stop))
                if not _turn(job, streamed, 0.0, results):
                    active.append((job, streamed))
            except BaseException as exc:  # noqa: BLE001 - handed to the web process, which fails the run with it
                results.put((job, None, exc))
        if active:
            job, streamed = active.popleft()
            if not _turn(job, streamed, STREAM_SLICE_SECONDS, results):
                active.append((job, streamed))


def _turn(job: int, streamed: StreamedSeed, seconds: float, results: Any) -> bool:
    """One turn of a streamed seed; True (its end sent on `results`) when it has ended."""
    try:
        if not streamed.advance(seconds):
            return False
    except BaseException as exc:  # noqa: BLE001 - handed to the web process, which fails the run with it
        results.put((job, None, exc))
        return True
    results.put((job, streamed.result, None))
    return True


class Streamer:
    """The process that simulates every streamed seed at once, in turns. Frames go through the manager's
    channel of each seed (small, many); a seed's results come back once, on one queue, and settle its future (a
    seed's future fails if the process dies)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._jobs = context.Queue()
        self._results = context.Queue()
        # A seed's future, and its channel and stop event: held here until it ends, so their referents in the
        # manager live as long as the streamer may use them, whoever else lets go of them.
        self._pending: dict[int, tuple[Future[Any], Any, Any]] = {}
        self._pending_lock = threading.Lock()
        self._ids = itertools.count()
        self.process = context.Process(target=_streamer_main, args=(self._jobs, self._results, os.getpid()),
                                       name="kata-streamer", daemon=True)
        self.process.start()
        threading.Thread(target=self._read, name="kata-streamer-results", daemon=True).start()
        threading.Thread(target=self._watch, name="kata-streamer-watch", daemon=True).start()

    def alive(self) -> bool:
        return self.process.is_alive()

    def submit(self, spec: dict[str, Any], seed: int, channel: Any, stop: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        job = next(self._ids)
        with self._pending_lock:
            self._pending[job] = (future, channel, stop)
        self._jobs.put((job, spec, seed, channel, stop))
        return future

    def _settle(self, job: int) -> Future[Any] | None:
        with self._pending_lock:
            entry = self._pending.pop(job, None)
        return entry[0] if entry is not None else None

    def _read(self) -> None:
        while True:
            try:
                job, result, error = self._results.get()
            except (EOFError, OSError):  # the process is gone: `_watch` fails what was pending
                return
            future = self._settle(job)
            if future is None:
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _watch(self) -> None:
        self.process.join()
        time.sleep(0.5)  # results it sent just before it ended are read first
        with self._pending_lock:
            pending, self._pending = [entry[0] for entry in self._pending.values()], {}
        for future in pending:
            future.set_exception(BrokenProcessPool("the streaming simulator process stopped"))


def streamer() -> Streamer:
    global _streamer
    with _lock:
        if _streamer is None or not _streamer.alive():  # a dead one is replaced
            _streamer = Streamer()
        return _streamer


def submit_streamed(spec: dict[str, Any], seed: int) -> tuple[Future[dict[str, Any] | None], Any, Any]:
    """Start a seed at once in the streamer; its frames come back on the returned queue as ("frame", points, t,
    progress), its results (None if stopped) as the returned future's; set the returned event to stop it."""
    manager = channels()
    channel, stop = manager.Queue(), manager.Event()
    return streamer().submit(spec, seed, channel, stop), channel, stop


def warm() -> None:
    """Start the pool's workers and the frame channel now, so the first learner's Run does not pay for it."""
    tiny = {"arrival": {"rate": 1.0}, "stations": [{"name": "a", "service": {"dist": "deterministic", "mean": 0.01}}],
            "duration": 1.0}
    channels()
    scheduler()
    streamed = submit_streamed(tiny, 0)[0]
    for future in [pool().submit(simulate, tiny, seed) for seed in range(workers())]:
        future.result()
    streamed.result(timeout=60)  # the streamer's first seed: it has imported everything
