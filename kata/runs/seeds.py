"""Simulating a design's seeds: the two strategies of a run's execution, and grading a design outside a run.

A run's strategy (`execute.Simulate`) is chosen by whoever submits it: `simulate_in_pool` in the web server (every
seed in the warm process pool at once), `simulate_here` in a task-queue worker (one run per process). `design_grade`
grades a design on seeds for the commands and an instructor's kata check.
"""

from __future__ import annotations

import queue
import time
from concurrent.futures import as_completed
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kata.compiler import CompiledDesign, compile_document
from kata.design import Design
from kata.grading import Grade, grade
from kata.models import Run
from kata.palette import Palette
from kata.runs import pool
from kata.runs.execute import RunCancelled
from kata.runs.frames import FrameStream
from kata.runs.publish import Publish, status_publish

# Wall seconds between two looks at whether a run is still wanted while its other seeds run (one query each).
STILL_WANTED_SECONDS = 0.25


class Unwanted:
    """`is_set()` is True once the run is cancelled or taken over (asking the database at most every quarter second)."""

    def __init__(self, stream: FrameStream) -> None:
        self.stream = stream
        self.checked = 0.0
        self.unwanted = False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self.unwanted and now - self.checked >= STILL_WANTED_SECONDS:
            self.checked = now
            self.unwanted = not self.stream.current().exists()
        return self.unwanted


# Wall seconds between two grading progress messages at most; and the steps of percent they move by.
PROGRESS_SECONDS = 0.25
PROGRESS_STEP = 5


class GradingProgress:
    """Tells the page "Grading: seed 2 of 3, 40 %" while the grading seeds run: when it moves by a step, at most
    every PROGRESS_SECONDS."""

    def __init__(self, publish: Publish, seeds: int) -> None:
        self.publish = publish
        self.seeds = seeds
        self.shown: tuple[int, int] | None = None
        self.at = 0.0

    def show(self, number: int, fraction: float) -> None:
        percent = int(100 * min(1.0, max(0.0, fraction))) // PROGRESS_STEP * PROGRESS_STEP
        now = time.monotonic()
        if self.shown is not None and (
            (number, percent) == self.shown or (number == self.shown[0] and now - self.at < PROGRESS_SECONDS)
        ):
            return  # the next seed is shown at once, the same seed's progress at most every PROGRESS_SECONDS
        self.shown, self.at = (number, percent), now
        status_publish(self.publish, Run.Status.RUNNING, f"Grading: seed {number} of {self.seeds}, {percent} %")


class LocalProgress:
    """A seed's `progress` in this process: setting `value` shows it (a pool worker's is a shared value, read)."""

    def __init__(self, progress: GradingProgress, number: int) -> None:
        self.progress = progress
        self.number = number
        self._value = 0.0

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, fraction: float) -> None:
        self._value = fraction
        self.progress.show(self.number, fraction)


def _follow(future: Any, channel: Any, stop: Any, stream: FrameStream, stop_all: Callable[[], None]) -> dict[str, Any]:
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
    while not channel.empty():  # frames put just before the end (every put is done before the result is sent)
        _, points, t, progress = channel.get_nowait()
        stream.add(points, t, progress)
    result = future.result()
    if result is None or stream.stopped:
        raise RunCancelled()
    return result


def _await_seed(future: Any, unwanted: Unwanted, show: Callable[[], None]) -> dict[str, Any]:
    """A grading seed's results, or RunCancelled as soon as the run is unwanted; `show()` its progress meanwhile."""
    while True:
        try:
            result = future.result(timeout=STILL_WANTED_SECONDS)
            break
        except TimeoutError:
            if unwanted.is_set():
                raise RunCancelled() from None
            show()
    if result is None:
        raise RunCancelled()
    return result


def simulate_in_pool(spec: dict[str, Any], seeds: list[int], stream: FrameStream) -> dict[int, dict[str, Any]]:
    """Every seed in the warm process pool at once, the first streaming: this thread only relays frames.

    A cancelled run stops every one of its seeds, so the processes it held are free for other learners at once.
    """
    first, *others = seeds
    streamed = pool.submit_streamed(spec, first)
    started = [(seed, *pool.submit_stoppable(spec, seed)) for seed in others]
    stops = [streamed[2], *(stop for _, _, stop, _ in started)]

    def stop_all() -> None:
        for stop in stops:
            stop.set()

    unwanted = Unwanted(stream)
    grading = GradingProgress(stream.publish, len(seeds))
    try:
        results = {first: _follow(*streamed, stream, stop_all)}
        for number, (seed, future, _, progress) in enumerate(started, start=2):
            grading.show(number, progress.value)
            results[seed] = _await_seed(future, unwanted, lambda n=number, p=progress: grading.show(n, p.value))
    except BaseException:
        stop_all()
        for _, future, _, _ in started:
            future.cancel()
        raise
    return results


def simulate_here(spec: dict[str, Any], seeds: list[int], stream: FrameStream) -> dict[int, dict[str, Any]]:
    """Every seed in this process, the streamed one first (a task-queue worker: one run at a time per process).

    Each seed looks, a few times a second, whether the run is still wanted: a cancelled run frees the worker at once.
    """
    first, *others = seeds
    result = pool.stream_seed(spec, first, stream.add)
    if result is None or stream.stopped:
        raise RunCancelled()
    results = {first: result}
    unwanted = Unwanted(stream)
    grading = GradingProgress(stream.publish, len(seeds))
    for number, seed in enumerate(others, start=2):
        grading.show(number, 0.0)
        seed_result = pool.simulate(spec, seed, unwanted, LocalProgress(grading, number))
        if seed_result is None or unwanted.is_set():
            raise RunCancelled()
        results[seed] = seed_result
    return results


SeedDone = Callable[[int, int, int], None]  # (seed, seeds done so far, seeds in all)


def seeds_simulate(spec: dict[str, Any], seeds: Sequence[int], *, parallel: bool = True,
                   done: SeedDone | None = None) -> dict[int, dict[str, Any]]:
    """Run several seeds side by side in the warm process pool (or one after another here); `done` hears of each
    seed as it ends."""
    results: dict[int, dict[str, Any]] = {}
    if not parallel or len(seeds) == 1:
        for seed in seeds:
            results[seed] = pool.simulate(spec, seed)
            if done is not None:
                done(seed, len(results), len(seeds))
        return results
    futures = {pool.submit(spec, seed): seed for seed in seeds}
    for future in as_completed(futures):
        results[futures[future]] = future.result()
        if done is not None:
            done(futures[future], len(results), len(seeds))
    return {seed: results[seed] for seed in seeds}


@dataclass(frozen=True)
class GradedDesign:
    design: Design
    compiled: CompiledDesign
    results_by_seed: dict[int, dict[str, Any]]
    grade: Grade


def grading_seeds(palette: Palette, *, count: int | None = None, first: int = 1) -> list[int]:
    return list(range(first, first + (count or palette.grading_seeds)))


def design_grade(*, palette: Palette, document: Any, seeds: Sequence[int], parallel: bool = True,
                 done: SeedDone | None = None) -> GradedDesign:
    """Validate, compile, simulate on every seed and grade. Raises `DesignError` for an invalid design."""
    compiled = compile_document(document, palette)
    results = seeds_simulate(compiled.spec, seeds, parallel=parallel, done=done)
    return GradedDesign(
        design=compiled.design, compiled=compiled, results_by_seed=results,
        grade=grade(palette=palette, design=compiled.design, compiled=compiled, results_by_seed=results),
    )
