"""Service-time samplers drawn in blocks from per-stream numpy generators.

Drawing a block of 2048 numbers at once and handing them out from a Python list is several times cheaper per number
than one `random` call each; every stream owns its generator, so results depend only on the seed.
"""

from __future__ import annotations

import math

import numpy as np

from .model import ServiceTime

__all__ = ["BLOCK", "ServiceSampler", "lognormal_params"]

BLOCK = 2048


def lognormal_params(mean: float, scv: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for a lognormal with this mean and squared coefficient of variation."""
    sigma2 = math.log1p(scv)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


class ServiceSampler:
    """Draws service times for one station; `buf` is consumed with `pop()` and refilled by `refill()`."""

    __slots__ = ("buf", "_draw")

    def __init__(self, service: ServiceTime, rng: np.random.Generator) -> None:
        self.buf: list[float] = []
        dist, mean = service.dist, service.mean
        if dist == "exponential":
            self._draw = lambda: rng.exponential(mean, BLOCK).tolist()
        elif dist == "deterministic":
            block = [float(mean)] * BLOCK
            self._draw = lambda: list(block)
        elif dist == "lognormal":
            mu, sigma = lognormal_params(mean, service.scv)
            self._draw = lambda: rng.lognormal(mu, sigma, BLOCK).tolist()
        elif dist == "erlang":
            k = service.k
            self._draw = lambda: rng.gamma(k, mean / k, BLOCK).tolist()
        elif dist == "jitter":
            base, jitter = service.base, mean - service.base
            self._draw = lambda: (base + rng.exponential(jitter, BLOCK)).tolist()
        else:  # pragma: no cover - the builder rejects unknown distributions
            raise ValueError(dist)

    def refill(self) -> float:
        """Refill the buffer and return one draw (callers do `buf.pop() if buf else refill()`)."""
        self.buf.extend(self._draw())
        return self.buf.pop()
