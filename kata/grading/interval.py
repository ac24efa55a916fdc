"""The confidence interval a graded value carries over the grading seeds: Student t, 95 %, two-sided, on the mean
of the per-seed values (seeds are independent replications); none with a single seed."""

from __future__ import annotations

import math
from collections.abc import Sequence

# t_{0.975} by degrees of freedom 1..30 (beyond: the normal 1.96 is within 2 %)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)

METHOD = "Student t 95 % over seeds"


def t975(dof: int) -> float:
    """The two-sided 95 % Student t quantile."""
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def seed_interval(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean, low, high) of the per-seed values, or None with fewer than two seeds."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half
