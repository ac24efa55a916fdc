"""Replication statistics for the engine-vs-theory tests: tolerances come from the spread between replications.

Each check runs R independent replications (seeds 1..R), takes the mean of a per-run estimator and compares it with
the exact value: |mean - exact| <= t * SE, SE = sd / sqrt(R). t is the two-sided Student-t quantile with R-1 degrees
of freedom for a per-comparison level ALPHA = FAMILY_ALPHA / COMPARISONS (Bonferroni): the whole suite wrongly fails
with probability <= FAMILY_ALPHA if the engine is right (seeds are pinned, so a given checkout passes or fails
deterministically). The residual start-up bias of a finite run is kept far below SE by the warm-up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev
from typing import Any

from simulator import Simulation, build_network

FAMILY_ALPHA = 1e-2
COMPARISONS = 50  # an upper bound on the statistical comparisons in tests/simulator (about 40 today)
ALPHA = FAMILY_ALPHA / COMPARISONS


def z_quantile(alpha: float = ALPHA) -> float:
    """Two-sided normal quantile: 3.72 for ALPHA = 2e-4."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def t_quantile(dof: int, alpha: float = ALPHA) -> float:
    """Two-sided Student-t quantile by the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5)."""
    z = z_quantile(alpha)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3 + g4 / dof**4


@dataclass(frozen=True)
class Estimate:
    mean: float
    se: float
    replications: int

    @property
    def tolerance(self) -> float:
        return t_quantile(self.replications - 1) * self.se

    def agrees_with(self, exact: float) -> bool:
        return abs(self.mean - exact) <= self.tolerance

    def explain(self, exact: float) -> str:
        return (f"estimate {self.mean:.6g} +- {self.tolerance:.3g} (t={t_quantile(self.replications - 1):.2f} x "
                f"SE {self.se:.3g}, R={self.replications}) vs exact {exact:.6g}")


def replicate(spec: Mapping[str, Any], *, requests: int, warmup: int, replications: int,
              percentiles: tuple[float, ...] = (50, 95, 99),
              wait_over: tuple[float, ...] = ()) -> list[dict[str, float | None]]:
    """CLI metrics of R independent runs (seeds 1..R)."""
    net = build_network(spec)
    return [
        Simulation(net, seed=seed, requests=requests, warmup=warmup).metrics(percentiles, wait_over)
        for seed in range(1, replications + 1)
    ]


def estimate(runs: list[dict[str, float | None]], metric: str | Callable[[dict[str, Any]], float]) -> Estimate:
    values = [float(metric(r) if callable(metric) else r[metric]) for r in runs]  # type: ignore[arg-type]
    return Estimate(fmean(values), stdev(values) / math.sqrt(len(values)), len(values))


def assert_agrees(runs: list[dict[str, float | None]], metric: str, exact: float) -> None:
    est = estimate(runs, metric)
    assert est.agrees_with(exact), f"{metric}: {est.explain(exact)}"
