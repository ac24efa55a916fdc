"""A run's live frames: each one saved as it is published, so a socket that connects late, or again, replays the run
so far from the database; the downsampled series a finished run keeps; and the pruning of old frames."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from kata.messages import FrameMessage, Point
from kata.models import Run, RunFrame
from kata.runs.lease import held_by, relaxed_durability
from kata.runs.publish import Publish

log = logging.getLogger(__name__)

# The saved series keeps at most this many points per run (every k-th simulated step).
SERIES_POINTS = 400
# Old frames are pruned by whichever process finishes a run, at most this often (see `run_frames_prune`).
PRUNE_EVERY_SECONDS = 3600.0
_pruned_at: float | None = None


def downsample(points: list[Point], limit: int = SERIES_POINTS) -> list[Point]:
    if len(points) <= limit:
        return points
    stride = -(-len(points) // limit)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


class FrameStream:
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

    def current(self) -> QuerySet[Run]:
        """The run while this execution still holds it (see `lease.held_by`)."""
        return held_by(self.run.pk, self.execution)

    def add(self, points: list[Point], t: float, progress: float) -> bool:
        """Save and publish one frame; True when this execution should stop."""
        self.seq += 1
        self.points += points
        frame = FrameMessage(type="frame", seq=self.seq, execution=self.execution, progress=round(progress, 4), t=t,
                             points=points)
        with transaction.atomic():
            relaxed_durability()
            RunFrame.objects.create(run=self.run, seq=self.seq, payload=frame)
            # One query tells both: still ours and still wanted? (Cancel button, an operator, or a takeover after a
            # heartbeat went missing.)
            self.stopped = not self.current().update(progress=frame["progress"], heartbeat_at=timezone.now())
        self.publish(dict(frame))
        if self.after_first_frame is not None:
            self.after_first_frame()
            self.after_first_frame = None
        return self.stopped


def run_frames_prune(*, now: Any = None, limit: int = 100) -> int:
    """Delete the saved frames of runs finished longer ago than KATA_FRAME_RETENTION_DAYS; how many runs were thinned.

    Frames are what a socket replays while a run goes on; a finished run keeps its grade, results and downsampled
    series (what history, attempt and review pages show), so its frames are only bulk after a while.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.KATA_FRAME_RETENTION_DAYS)
    run_ids = list(Run.objects.filter(finished_at__lt=cutoff, frames__isnull=False).values_list("pk", flat=True)
                   .distinct()[:limit])
    if run_ids:
        RunFrame.objects.filter(run_id__in=run_ids).delete()
    return len(run_ids)


def frames_prune_now_and_then() -> None:
    global _pruned_at
    if _pruned_at is not None and time.monotonic() - _pruned_at < PRUNE_EVERY_SECONDS:
        return
    _pruned_at = time.monotonic()
    try:
        while run_frames_prune(limit=100) == 100:  # in slices: no long transaction holds the table
            pass
    except DatabaseError:
        log.warning("old frames not pruned this time")
