"""What the estimate reports: one record per part and one for the design, read by the estimate partial."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADROOM = 0.8  # for parts without an error threshold of their own


@dataclass(frozen=True)
class PartEstimate:
    id: str
    label: str
    role: str
    servers: int
    rate_normal: float
    rate_peak: float
    utilization_normal: float
    utilization_peak: float
    wait_ms_peak: float | None  # None when the wait grows without bound at the peak
    error_pct_peak: float
    cost_per_hour: float
    backlog_per_second: float = 0.0  # a queue: how fast it fills at the peak
    slots: int | None = None
    refused_pct_peak: float = 0.0  # share refused because every slot is taken
    utilization_window_peak: float = 0.0  # the expected busiest 10 s at the peak (what the error scenario judges)
    threshold: float = HEADROOM
    hit_ratio: float | None = None  # a cache: share of reads it answers
    drain_per_second: float | None = None  # a queue: messages its consumers can take per second, retries included
    settle_per_second: float | None = None  # a queue: of those, how many get through (a failed try comes back)
    backlog_max: float = 0.0  # a queue: messages left waiting at the end of the spike
    capacity: int | None = None  # a queue: messages it holds (so how full the backlog leaves it)
    offered_load_peak: float = 0.0  # offered work / servers at the peak, uncapped (>= 1: the simulator's overload)
    slowdown_threshold: float | None = None  # a part that slows down above this utilization
    slowdown_factor: float = 1.0  # ... by this much at 100 %

    @property
    def backlog_share(self) -> float | None:
        """A queue: how full the spike's backlog leaves it (0..1, above 1 when it overflows)."""
        if self.role != "queue" or not self.capacity:
            return None
        return self.backlog_max / self.capacity

    @property
    def holds_spike(self) -> bool:
        """A queue doing its job: the spike's backlog fits in it and its consumers drain it faster than normal
        traffic fills it (a growing backlog is then the design working, not a fault)."""
        share = self.backlog_share
        drain = self.settle_per_second if self.settle_per_second is not None else self.drain_per_second
        return share is not None and share <= 1 and drain is not None and drain > self.rate_normal

    @property
    def level(self) -> str:
        if self.role == "queue":
            return "filling" if self.backlog_per_second > 0 else "ok"
        if self.utilization_peak >= 1:
            return "overloaded"
        return "hot" if self.utilization_window_peak > self.threshold else "ok"


@dataclass(frozen=True)
class Estimate:
    parts: list[PartEstimate]
    accept_ms_normal: float | None  # mean accept latency; None when it grows without bound (and no deadline)
    accept_ms_peak: float | None
    error_pct: float
    cost_per_hour: float
    budget_per_hour: float
    warnings: list[str] = field(default_factory=list)
    accept_p99_ms_peak: float | None = None
    accept_p99_ms_normal: float | None = None
    deadline_ms: float | None = None
    late_pct_peak: float = 0.0  # share of requests not answered within the deadline at the peak
    source_label: str = ""
    noun_many: str = "requests"
    cheapest_cost_per_hour: float | None = None
    accept_limit_ms: float | None = None  # the accept_p99_ms scenario's threshold, if any
    error_limit_pct: float | None = None  # the error_rate_pct scenario's threshold
    bypass_pct: float = 0.0  # share of requests that can leave without passing the source's complete_through steps

    @property
    def over_budget(self) -> bool:
        return self.cost_per_hour > self.budget_per_hour + 1e-9

    @property
    def accept_capped(self) -> bool:
        """The p99 reaches the caller's deadline: requests are given up."""
        return (self.deadline_ms is not None and self.accept_p99_ms_peak is not None
                and self.accept_p99_ms_peak >= self.deadline_ms - 1e-6)
