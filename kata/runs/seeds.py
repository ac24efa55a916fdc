"""Simulating a design's seeds: the two strategies of a run's execution, and grading a design outside a run.

A run's strategy (`execute.Simulate`) is chosen by whoever submits it: `simulate_in_pool` in the web server (every
seed in the warm process pool at once), `simulate_here` in a task-queue worker (one run per process). `design_grade`
grades a design on seeds for the commands and an instructor's kata check.
"""

from __future__ import annotations

import queue
import time
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


def _grading(publish: Publish, seeds: list[int]) -> None:
    """The streamed seed is done: tell the page the rest is grading."""
    status_publish(publish, Run.Status.RUNNING, f"Grading on {len(seeds)} seeds…")


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
    while not channel.empty():  # frames put just before the end
        _, points, t, progress = channel.get_nowait()
        stream.add(points, t, progress)
    result = future.result()
    if result is None or stream.stopped:
        raise RunCancelled()
    return result


def _await_seed(future: Any, unwanted: Unwanted) -> dict[str, Any]:
    """A grading seed's results, or RunCancelled as soon as the run is unwanted."""
    while True:
        try:
            result = future.result(timeout=STILL_WANTED_SECONDS)
            break
        except TimeoutError:
            if unwanted.is_set():
                raise RunCancelled() from None
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
    stops = [streamed[2], *(stop for _, _, stop in started)]

    def stop_all() -> None:
        for stop in stops:
            stop.set()

    unwanted = Unwanted(stream)
    try:
        results = {first: _follow(*streamed, stream, stop_all)}
        _grading(stream.publish, seeds)
        for seed, future, _ in started:
            results[seed] = _await_seed(future, unwanted)
    except BaseException:
        stop_all()
        for _, future, _ in started:
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
    _grading(stream.publish, seeds)
    unwanted = Unwanted(stream)
    for seed in others:
        seed_result = pool.simulate(spec, seed, unwanted)
        if seed_result is None or unwanted.is_set():
            raise RunCancelled()
        results[seed] = seed_result
    return results


def seeds_simulate(spec: dict[str, Any], seeds: Sequence[int], *, parallel: bool = True) -> dict[int, dict[str, Any]]:
    """Run several seeds side by side in the warm process pool (or one after another here)."""
    if not parallel or len(seeds) == 1:
        return {seed: pool.simulate(spec, seed) for seed in seeds}
    futures = {seed: pool.submit(spec, seed) for seed in seeds}
    return {seed: future.result() for seed, future in futures.items()}


@dataclass(frozen=True)
class GradedDesign:
    design: Design
    compiled: CompiledDesign
    results_by_seed: dict[int, dict[str, Any]]
    grade: Grade


def grading_seeds(palette: Palette, *, count: int | None = None, first: int = 1) -> list[int]:
    return list(range(first, first + (count or palette.grading_seeds)))


def design_grade(*, palette: Palette, document: Any, seeds: Sequence[int], parallel: bool = True) -> GradedDesign:
    """Validate, compile, simulate on every seed and grade. Raises `DesignError` for an invalid design."""
    compiled = compile_document(document, palette)
    results = seeds_simulate(compiled.spec, seeds, parallel=parallel)
    return GradedDesign(
        design=compiled.design, compiled=compiled, results_by_seed=results,
        grade=grade(palette=palette, design=compiled.design, compiled=compiled, results_by_seed=results),
    )
