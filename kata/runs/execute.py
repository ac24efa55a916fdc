"""One execution of a run: claim it under its lease, simulate every seed, stream the first one live, grade, save.

`run_execute` is a plain function of a run id, a `publish` callable and a `simulate` strategy (see `kata.runs.seeds`:
the warm process pool of the web server, or right here in a task-queue worker), so the same code runs in a thread of
the web process (the embedded default) or in a worker. It is safe to call more than once for one run: a second
delivery takes the run over only once its holder is presumed dead (see `kata.runs.lease`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils import timezone

from kata.compiler import CompiledDesign, compile_document
from kata.grading import Grade, grade
from kata.messages import GradeMessage
from kata.models import Run
from kata.palette import Palette
from kata.runs.frames import FrameStream, downsample
from kata.runs.lease import MAX_EXECUTIONS, Claim, Heartbeat, Outcome, run_claim
from kata.runs.publish import Publish, status_publish
from kata.runs.tracing import trace_here
from kata.traces import TraceSeed, run_traces_record
from kata.versions import palette_for_run
from kata.whatif import whatif_palette, whatif_spec

log = logging.getLogger(__name__)

# A strategy: the results of every seed of a run, the first one streamed through the frame stream.
Simulate = Callable[[dict[str, Any], list[int], FrameStream], dict[int, dict[str, Any]]]


class RunCancelled(Exception):
    """The caller asked a run in progress to stop (or another execution took it over)."""


@dataclass(frozen=True)
class _Graded:
    compiled: CompiledDesign
    results: dict[int, dict[str, Any]]
    grade: Grade


def run_execute(run_id: int, *, publish: Publish, simulate: Simulate, worker: str = "",
                after_first_frame: Callable[[], None] | None = None, trace: TraceSeed | None = None,
                defer_traces: Callable[[int], None] | None = None) -> Outcome:
    """Execute a run to the end, or say why not (see `lease.run_claim`). Safe to call more than once for one run.

    `simulate`: how the seeds are simulated (`seeds.simulate_in_pool` in the web server, `seeds.simulate_here` in a
    worker). `after_first_frame`: called once the learner has their first frame (a worker lowers its priority).
    Once graded, the run's traces are recorded with `trace`, or handed to `defer_traces` (a worker queues them as a
    task of their own: `run_traces_execute`).
    """
    claim = run_claim(run_id, worker=worker or f"pid {os.getpid()}")
    run = claim.run
    if claim.outcome is not Outcome.DONE or run is None:
        return claim.outcome
    if run.status == Run.Status.FAILED:  # its executors kept dying: failed in the claim
        status_publish(publish, Run.Status.FAILED, run.error_message)
        return Outcome.DONE
    _announce(claim, publish)
    stream = FrameStream(run, publish, execution=claim.execution, seq_start=claim.seq_start,
                         after_first_frame=after_first_frame)
    try:
        with Heartbeat(run.pk, claim.execution):
            graded = _simulate_and_grade(run, stream, simulate)
    except RunCancelled:
        _stopped(run, claim.execution, publish)
    except Exception as exc:  # a run that breaks must say so, not hang in "running"
        log.exception("run %s failed", run_id)
        _failed(run, stream, f"The simulation failed: {exc}")
    else:
        if _succeeded(run, stream, graded) and settings.KATA_RUN_TRACES:
            if defer_traces is not None:
                defer_traces(run.pk)
            else:
                _record_traces(run.pk, graded.compiled, graded.results, graded.grade.to_dict(), trace or trace_here)
    return Outcome.DONE


def run_traces_execute(run_id: int, *, trace: TraceSeed) -> None:
    """Record a graded run's traces apart from its execution, from what the run stored (its results without their
    series, which is what the replay's digest is checked against, and its grade)."""
    run = Run.objects.select_related("attempt").get(pk=run_id)
    if run.status != Run.Status.SUCCEEDED or not run.results or not run.grade:
        return
    _, compiled = _compiled(run)
    _record_traces(run.pk, compiled, {int(seed): r for seed, r in run.results.items()}, run.grade, trace)


def _record_traces(run_id: int, compiled: CompiledDesign, results: dict[int, dict[str, Any]], grade: dict[str, Any],
                   trace: TraceSeed) -> None:
    """After the grade is out: the traces of the run's seeds that matter (see kata.traces)."""
    try:
        run_traces_record(run_id=run_id, compiled=compiled, results=results, grade=grade, trace=trace)
    except Exception:  # the run stands without its traces
        log.exception("run %s: recording its traces broke off", run_id)


def _announce(claim: Claim, publish: Publish) -> None:
    if claim.taken_over:
        status_publish(publish, Run.Status.RUNNING, "The worker simulating this run stopped; starting again "
                                                    f"(try {claim.execution} of {MAX_EXECUTIONS})…")
    else:
        status_publish(publish, Run.Status.RUNNING, "Simulating…")


def _compiled(run: Run) -> tuple[Palette, CompiledDesign]:
    """The run's rules and its design compiled by them, the spec being what is simulated (a what-if's incidents
    included)."""
    # The rules of the run's version (kept by the run, so an instructor's later edit never moves its grade); a run
    # without one is checked against the kata as it is when the run executes.
    palette = palette_for_run(Run.objects.select_related("version__kata", "attempt__kata").get(pk=run.pk))
    what_if = run.what_if or {}
    if what_if:  # the kata's traffic changed as the learner asked, and the incidents aimed at their design's parts
        palette = whatif_palette(palette, what_if)
    compiled = compile_document(run.attempt.design, palette)
    return palette, replace(compiled, spec=whatif_spec(compiled, what_if.get("incidents") or []))


def _simulate_and_grade(run: Run, stream: FrameStream, simulate: Simulate) -> _Graded:
    palette, compiled = _compiled(run)
    results = simulate(compiled.spec, list(run.seeds), stream)
    graded = grade(palette=palette, design=compiled.design, compiled=compiled, results_by_seed=results,
                   practice=(run.what_if or {}).get("practice"))
    return _Graded(compiled, results, graded)


def _strip_series(results: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in results.items() if key != "time_series"}


def _succeeded(run: Run, stream: FrameStream, graded: _Graded) -> bool:
    grade_dict = graded.grade.to_dict()
    what_if = run.what_if is not None
    if what_if:  # evaluated for the learner to read, never a grade: passed and total stay null
        grade_dict["what_if"] = True
    updated = stream.current().update(
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        results={str(seed): _strip_series(r) for seed, r in graded.results.items()},
        series={"seed": run.seeds[0], "stations": list(graded.compiled.stations), "points": downsample(stream.points)},
        grade=grade_dict,
        passed=None if what_if else graded.grade.passed,
        total=None if what_if else graded.grade.total,
        finished_at=timezone.now(),
    )
    if not updated:  # cancelled (or taken over) between the last frame and now
        _stopped(run, stream.execution, stream.publish)
        return False
    passed, total = graded.grade.passed, graded.grade.total
    stream.publish(dict(GradeMessage(type="grade", passed=passed, total=total, grade=grade_dict)))
    status_publish(stream.publish, Run.Status.SUCCEEDED,
                   f"What-if run, not graded: {passed}/{total} scenarios would pass." if what_if
                   else f"{passed}/{total} scenarios passed.")
    return True


def _failed(run: Run, stream: FrameStream, message: str) -> None:
    if stream.current().update(status=Run.Status.FAILED, error_message=message, finished_at=timezone.now()):
        status_publish(stream.publish, Run.Status.FAILED, message)
    else:
        _stopped(run, stream.execution, stream.publish)


def _stopped(run: Run, execution: int, publish: Publish) -> None:
    """This execution stopped early: say "cancelled" if it was; a takeover's new executor speaks for itself."""
    Run.objects.filter(pk=run.pk, status=Run.Status.CANCELLED).update(finished_at=timezone.now())
    now = Run.objects.filter(pk=run.pk).values_list("status", "executions").first()
    if now is not None and now[0] == Run.Status.CANCELLED:
        status_publish(publish, Run.Status.CANCELLED, "Run cancelled.")
    else:
        log.warning("run %s: execution %s was superseded (now %s)", run.pk, execution, now)
