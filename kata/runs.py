"""Executing a run: simulate every seed, stream the first one live, grade, save.

`run_execute` is a plain function of a run id and a `publish` callable, so the same code runs in a thread of the web
process (the embedded default) or in a task-queue worker. Frames are saved as they are sent, so a socket that
connects late, or again, replays the run so far from the database.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from kata import seed_pool
from kata.compiler import compile_design
from kata.design import design_validate
from kata.grading import grade
from kata.messages import FrameMessage, GradeMessage, Point, StatusMessage
from kata.models import Run, RunFrame
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


class _FrameStream:
    """Saves each frame the simulating process sends, publishes it, and notices a cancellation."""

    def __init__(self, run: Run, publish: Publish) -> None:
        self.run = run
        self.publish = publish
        self.seq = 0
        self.points: list[Point] = []
        self.cancelled = False

    def add(self, points: list[Point], t: float, progress: float) -> None:
        self.seq += 1
        self.points += points
        frame = FrameMessage(type="frame", seq=self.seq, progress=round(progress, 4), t=t, points=points)
        RunFrame.objects.create(run=self.run, seq=self.seq, payload=frame)
        Run.objects.filter(pk=self.run.pk).update(progress=frame["progress"])
        self.publish(dict(frame))
        # Another tab, the Cancel button or an operator may have cancelled the run: ask the database, once a frame.
        self.cancelled = Run.objects.filter(pk=self.run.pk, status=Run.Status.CANCELLED).exists()


def _follow(future: Any, channel: Any, stop: Any, stream: _FrameStream) -> dict[str, Any]:
    """Relay the streamed seed's frames until it ends; its results, or RunCancelled."""
    while True:
        try:
            kind, points, t, progress = channel.get(timeout=0.25)
        except queue.Empty:
            if future.done():
                break
            continue
        stream.add(points, t, progress)
        if stream.cancelled:
            stop.set()
    while not channel.empty():  # frames put just before the end
        _, points, t, progress = channel.get_nowait()
        stream.add(points, t, progress)
    result = future.result()
    if result is None or stream.cancelled:
        raise RunCancelled()
    return result


def _strip_series(results: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in results.items() if key != "time_series"}


def _status(publish: Publish, status: str, message: str = "") -> None:
    publish(dict(StatusMessage(type="status", status=status, message=message)))


def run_execute(run_id: int, *, publish: Publish) -> None:
    """Execute a queued run to the end. Safe to call twice: a run that is no longer queued is left alone."""
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("attempt__kata").get(pk=run_id)
        if run.status != Run.Status.QUEUED:
            return
        run.status, run.started_at = Run.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    _status(publish, Run.Status.RUNNING, "Simulating…")
    stream = _FrameStream(run, publish)
    futures = []
    try:
        palette = Palette.from_kata(run.attempt.kata)
        design = design_validate(run.attempt.design, palette)
        compiled = compile_design(design, palette)
        first, *others = run.seeds
        # Every seed simulates in the process pool, the first one streaming: this process only relays frames.
        streamed = seed_pool.submit_streamed(compiled.spec, first)
        futures = [(seed, seed_pool.submit(compiled.spec, seed)) for seed in others]
        results = {first: _follow(*streamed, stream)}
        _status(publish, Run.Status.RUNNING, f"Grading on {len(run.seeds)} seeds…")
        for seed, future in futures:
            results[seed] = future.result()
        graded = grade(palette=palette, design=design, compiled=compiled, results_by_seed=results)
    except RunCancelled:
        for _, future in futures:
            future.cancel()
        Run.objects.filter(pk=run.pk).update(finished_at=timezone.now())
        _status(publish, Run.Status.CANCELLED, "Run cancelled.")
        return
    except Exception as exc:  # a run that breaks must say so, not hang in "running"
        log.exception("run %s failed", run_id)
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.FAILED, error_message=f"The simulation failed: {exc}", finished_at=timezone.now()
        )
        _status(publish, Run.Status.FAILED, f"The simulation failed: {exc}")
        return
    grade_dict = graded.to_dict()
    updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        results={str(seed): _strip_series(r) for seed, r in results.items()},
        series={"seed": first, "stations": list(compiled.stations), "points": downsample(stream.points)},
        grade=grade_dict,
        passed=graded.passed,
        total=graded.total,
        finished_at=timezone.now(),
    )
    if not updated:  # cancelled between the last frame and now
        _status(publish, Run.Status.CANCELLED, "Run cancelled.")
        return
    publish(dict(GradeMessage(type="grade", passed=graded.passed, total=graded.total, grade=grade_dict)))
    _status(publish, Run.Status.SUCCEEDED, f"{graded.passed}/{graded.total} scenarios passed.")
