"""Times as distributions on a grid: a request's accept latency is the convolution of the waits and service
times on its route, mixed over routes. The grid spans the caller's deadline, so what lies beyond it is the share
given up."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simulator.analytic import QueueMetrics, service_cdf
from simulator.model import ServiceTime

GRID_BINS = 4096


class Grid:
    """Distributions of a time on [0, horizon) as masses per bin, the last entry being the mass beyond it."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self.dt = horizon / GRID_BINS
        self.edges = [k * self.dt for k in range(GRID_BINS + 1)]
        self.size = 1 << (2 * GRID_BINS - 1).bit_length()

    def delta(self) -> np.ndarray:
        out = np.zeros(GRID_BINS + 1)
        out[0] = 1.0
        return out

    def beyond(self) -> np.ndarray:
        out = np.zeros(GRID_BINS + 1)
        out[-1] = 1.0
        return out

    def from_cdf(self, cdf: Callable[[float], float]) -> np.ndarray:
        values = []
        for t in self.edges[1:]:
            value = cdf(t)
            values.append(value)
            if value >= 1.0 - 1e-12:  # the rest of the grid holds no mass
                values.extend([1.0] * (GRID_BINS - len(values)))
                break
        cumulative = np.array(values)
        out = np.empty(GRID_BINS + 1)
        out[:-1] = np.diff(cumulative, prepend=0.0)
        out[-1] = max(0.0, 1.0 - cumulative[-1])
        return np.clip(out, 0.0, None)

    def service(self, service: ServiceTime, stretch: float = 1.0) -> np.ndarray:
        return self.from_cdf(lambda t: service_cdf(service, t / stretch))

    def wait(self, metrics: QueueMetrics | None) -> np.ndarray:
        """A wait from its queueing model; None = it grows without bound."""
        if metrics is None:
            return self.beyond()
        tail = metrics.wait_tail
        if tail is None or metrics.Wq <= 0:
            return self.delta()
        return self.from_cdf(lambda t: 1.0 - tail(t))

    def convolve(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        n = GRID_BINS
        joint = np.fft.irfft(np.fft.rfft(a[:n], self.size) * np.fft.rfft(b[:n], self.size), self.size)
        joint = np.clip(joint[:2 * n - 1], 0.0, None)
        out = np.empty(n + 1)
        out[:n] = joint[:n]
        out[n] = joint[n:].sum() + a[n] * b.sum() + b[n] * a[:n].sum()
        return out

    def quantile(self, dist: np.ndarray, p: float) -> float | None:
        """The p-quantile, None when it lies beyond the grid."""
        total = dist.sum()
        if total <= 0:
            return 0.0
        cumulative = np.cumsum(dist[:-1]) / total
        k = int(np.searchsorted(cumulative, p))
        if k >= GRID_BINS:
            return None
        below = cumulative[k - 1] if k else 0.0
        inside = (p - below) / max(1e-300, cumulative[k] - below)
        return self.edges[k] + self.dt * min(1.0, max(0.0, inside))

    def mean_capped(self, dist: np.ndarray) -> float:
        """E[min(X, horizon)]."""
        total = dist.sum()
        mids = np.arange(GRID_BINS) * self.dt + self.dt / 2
        return float((dist[:-1] @ mids + dist[-1] * self.horizon) / total) if total > 0 else 0.0

    def late(self, dist: np.ndarray) -> float:
        total = dist.sum()
        return float(dist[-1] / total) if total > 0 else 0.0
