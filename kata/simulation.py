"""Running a design through the simulator on several seeds side by side, and grading it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kata import seed_pool
from kata.compiler import CompiledDesign, compile_design
from kata.design import Design, design_validate
from kata.grading import Grade, grade
from kata.palette import Palette


class RunCancelled(Exception):
    """The caller asked a run in progress to stop."""


def seeds_simulate(spec: dict[str, Any], seeds: Sequence[int], *, parallel: bool = True) -> dict[int, dict[str, Any]]:
    """Run several seeds side by side in the warm process pool (or one after another here)."""
    if not parallel or len(seeds) == 1:
        return {seed: seed_pool.simulate(spec, seed) for seed in seeds}
    futures = {seed: seed_pool.submit(spec, seed) for seed in seeds}
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
    design = design_validate(document, palette)
    compiled = compile_design(design, palette)
    results = seeds_simulate(compiled.spec, seeds, parallel=parallel)
    return GradedDesign(
        design=design, compiled=compiled, results_by_seed=results,
        grade=grade(palette=palette, design=design, compiled=compiled, results_by_seed=results),
    )
