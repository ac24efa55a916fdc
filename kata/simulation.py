"""Running a design through the simulator: one seed in-process (streamed) or several seeds side by side."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from simulator import Simulation, Snapshot, build_network

from kata.compiler import CompiledDesign, compile_design
from kata.design import Design, design_validate
from kata.grading import Grade, grade
from kata.palette import Palette

STEP_SECONDS = 1.0


def seed_simulate(
    spec: dict[str, Any],
    seed: int,
    *,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run one seed to the end in steps of simulated time and return `Results.to_dict()`."""
    simulation = Simulation(build_network(spec), seed=seed)
    for snapshot in simulation.stream(step=STEP_SECONDS):
        if on_snapshot is not None:
            on_snapshot(snapshot)
        if should_stop is not None and should_stop():
            raise RunCancelled()
    return simulation.results().to_dict()


class RunCancelled(Exception):
    """The caller asked a run in progress to stop."""


def _seed_in_process(args: tuple[dict[str, Any], int]) -> dict[str, Any]:
    spec, seed = args
    return seed_simulate(spec, seed)


def seeds_simulate(spec: dict[str, Any], seeds: Sequence[int], *, parallel: bool = True) -> dict[int, dict[str, Any]]:
    """Run several seeds, one process each when there is more than one core to use."""
    workers = min(len(seeds), os.cpu_count() or 1)
    if not parallel or workers <= 1:
        return {seed: seed_simulate(spec, seed) for seed in seeds}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(seeds, pool.map(_seed_in_process, [(spec, seed) for seed in seeds])))


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
    design = design_validate(document, palette)
    compiled = compile_design(design, palette)
    results = seeds_simulate(compiled.spec, seeds, parallel=parallel)
    return GradedDesign(
        design=design, compiled=compiled, results_by_seed=results,
        grade=grade(palette=palette, design=design, compiled=compiled, results_by_seed=results),
    )
