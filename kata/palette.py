"""A frozen snapshot of a kata: its parts, traffic and scenarios as plain data.

The validator, the compiler and the grader work on this rather than on model instances, so each reads the
database once and can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kata.models import Kata, Scenario


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    label: str
    default: float
    minimum: float
    maximum: float
    step: float
    learner_editable: bool


@dataclass(frozen=True)
class PartSpec:
    key: str
    name: str
    role: str
    description: str
    required: bool
    max_per_design: int
    fixed_servers: int | None
    unit_cost_per_hour: float
    service_distribution: str
    service_mean_ms: float
    service_scv: float | None
    service_k: int | None
    jitter_mean_ms: float | None
    base_error: float
    error_threshold: float | None
    error_max: float
    error_power: float
    slowdown_factor: float | None
    timeout_ms: float | None
    parameters: tuple[ParameterSpec, ...] = ()
    core_cost_per_hour: float = 0.0
    concurrency_per_core: int | None = None
    fanout: str = "split"
    feeds: tuple[str, ...] | None = None  # part keys it may hand requests to; None = any
    feeds_reason: str = ""
    cache_keys: int | None = None
    cache_zipf: float | None = None
    errors_after_work: float = 0.0  # share of its errors after the work: a retry without a key does it twice

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def noun(self) -> str:
        """What the part is, in one word of its name: the head noun ("Payment gateway (external)" → "gateway")."""
        words = self.name.split("(")[0].split() or [self.key]
        head = words[-1]
        return head if head.isupper() else head.lower()

    def may_feed(self, key: str) -> bool:
        return self.feeds is None or key in self.feeds

    @property
    def has_cores(self) -> bool:
        """CPU work bounded by cores, in-flight requests by slots (concurrency): see kata/compiler.py."""
        return self.parameter("cores") is not None

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.parameters}


@dataclass(frozen=True)
class TrafficSpec:
    part: str
    base_rate: float
    spike_rate: float | None
    warmup_seconds: int
    ramp_seconds: int
    hold_seconds: int
    cooldown_seconds: int
    deadline_ms: float | None = None
    complete_through: tuple[tuple[str, ...], ...] = ()
    noun_one: str = "request"
    noun_many: str = "requests"

    @property
    def duration(self) -> float:
        if self.spike_rate is None:
            return float(self.warmup_seconds + self.hold_seconds + self.cooldown_seconds)
        return float(self.warmup_seconds + 2 * self.ramp_seconds + self.hold_seconds + self.cooldown_seconds)

    @property
    def spike_window(self) -> tuple[float, float] | None:
        """(start of the ramp up, end of the ramp down), or None without a spike."""
        if self.spike_rate is None:
            return None
        start = float(self.warmup_seconds)
        return start, start + 2 * self.ramp_seconds + self.hold_seconds

    def nouns(self, count: float) -> str:
        return self.noun_one if count == 1 else self.noun_many

    def profile(self, horizon: float | None = None) -> list[list[float]]:
        """Piecewise-linear rate (t, requests/s); the source stops after the last point. A constant source lasts
        to `horizon` (the end of the kata's traffic) when given: every source runs as long as the longest."""
        base = self.base_rate
        if self.spike_rate is None:
            return [[0.0, base], [max(self.duration, horizon or 0.0), base]]
        t1 = float(self.warmup_seconds)
        t2 = t1 + self.ramp_seconds
        t3 = t2 + self.hold_seconds
        t4 = t3 + self.ramp_seconds
        spike = self.spike_rate
        return [[0.0, base], [t1, base], [t2, spike], [t3, spike], [t4, base], [self.duration, base]]


@dataclass(frozen=True)
class ScenarioSpec:
    order: int
    title: str
    description: str
    metric: str
    comparator: str
    threshold: float | None
    source: str | None
    require_headroom: bool = False
    # A practice scenario is shown with the graded ones but never counted: it is tried on demand, as a what-if run
    # with its incidents (`kata.whatif`).
    practice: bool = False
    incidents: tuple[dict[str, Any], ...] = ()

    def rule(self, budget_per_hour: float) -> str:
        """How the scenario passes, in words: "passes when p99 accept latency ≤ 300 ms"."""
        words = {"accept_p99_ms": ("p99 accept latency", " ms"), "dropped": ("lost acknowledged requests", ""),
                 "error_rate_pct": ("requests that met an error", " %"),
                 "recovery": ("failed external calls sent back for another attempt", " %"),
                 "peak_cost": ("peak cost", " $/h"), "settle_p99_ms": ("p99 completion latency", " ms"),
                 "peak_utilization_pct": ("busiest part's peak utilization", " %")}
        name, unit = words.get(self.metric, (self.metric, ""))
        sign = dict(Scenario.Comparator.choices).get(self.comparator, self.comparator)
        threshold = budget_per_hour if self.threshold is None else self.threshold
        amount = f"${threshold:.2f}/h" if unit == " $/h" else f"{threshold:g}{unit}"
        rule = f"passes when {name} {sign} {amount}"
        if self.require_headroom:
            rule += ", and no part on the path runs above its error threshold"
        return rule


@dataclass(frozen=True)
class Palette:
    slug: str
    title: str
    budget_per_hour: float
    drain_seconds: int
    grading_seeds: int
    parts: tuple[PartSpec, ...]
    traffic: tuple[TrafficSpec, ...]
    scenarios: tuple[ScenarioSpec, ...] = field(default=())
    cheapest_cost_per_hour: float | None = None

    def part(self, key: str) -> PartSpec | None:
        return next((p for p in self.parts if p.key == key), None)

    def traffic_for(self, part_key: str) -> TrafficSpec | None:
        return next((t for t in self.traffic if t.part == part_key), None)

    @property
    def graded_traffic(self) -> TrafficSpec | None:
        """The traffic the scenarios grade by default: the first scenario's source, else the first traffic."""
        for scenario in sorted(self.scenarios, key=lambda s: s.order):
            if scenario.source and self.traffic_for(scenario.source):
                return self.traffic_for(scenario.source)
        return self.traffic[0] if self.traffic else None

    @property
    def duration(self) -> float:
        return max((t.duration for t in self.traffic), default=0.0)

    def editor_parts(self) -> list[dict[str, Any]]:
        """What the diagram editor needs of each part (embedded in the page as JSON)."""
        return [
            {
                "key": p.key, "name": p.name, "role": p.role, "description": p.description,
                "defaults": p.defaults(), "max_per_design": p.max_per_design, "fixed_servers": p.fixed_servers,
                "fanout": p.fanout, "feeds": list(p.feeds) if p.feeds is not None else None,
                "feeds_reason": p.feeds_reason,
            }
            for p in self.parts
        ]

    @classmethod
    def from_kata(cls, kata: Kata) -> Palette:
        """The kata's palette; built once per process and kata version (its `updated_at`, which any edit to the
        palette touches: see kata/signals.py), since every Run and every run start needs it."""
        key = (kata.pk, kata.updated_at)
        cached = _palettes.get(key) if kata.pk is not None else None
        if cached is not None:
            return cached
        palette = cls._build(kata)
        if kata.pk is not None:
            if len(_palettes) >= _PALETTES_KEPT:
                _palettes.clear()
            _palettes[key] = palette
        return palette

    @classmethod
    def from_rows(cls, kata: Kata) -> Palette:
        """The kata's palette read from its rows now, whatever the instance's `updated_at` says (a snapshot)."""
        return cls._build(kata)

    @classmethod
    def _build(cls, kata: Kata) -> Palette:
        parts = []
        for part in kata.parts.prefetch_related("parameters").order_by("order", "name"):
            parameters = tuple(
                ParameterSpec(
                    # A yes/no parameter is a checkbox: its label does not say "(0/1)".
                    name=p.name, label=p.get_name_display().removesuffix(" (0/1)"), default=p.default,
                    minimum=p.minimum, maximum=p.maximum, step=p.step, learner_editable=p.learner_editable,
                )
                for p in part.parameters.all()
            )
            parts.append(
                PartSpec(
                    key=part.key, name=part.name, role=part.role, description=part.description,
                    required=part.required, max_per_design=part.max_per_design, fixed_servers=part.fixed_servers,
                    unit_cost_per_hour=float(part.unit_cost_per_hour),
                    service_distribution=part.service_distribution, service_mean_ms=part.service_mean_ms,
                    service_scv=part.service_scv, service_k=part.service_k, jitter_mean_ms=part.jitter_mean_ms,
                    base_error=part.base_error, error_threshold=part.error_threshold, error_max=part.error_max,
                    error_power=part.error_power, slowdown_factor=part.slowdown_factor, timeout_ms=part.timeout_ms,
                    parameters=parameters, core_cost_per_hour=float(part.core_cost_per_hour),
                    concurrency_per_core=part.concurrency_per_core, fanout=part.fanout,
                    feeds=tuple(part.feeds) if isinstance(part.feeds, list) else None,
                    feeds_reason=part.feeds_reason, cache_keys=part.cache_keys, cache_zipf=part.cache_zipf,
                    errors_after_work=part.errors_after_work,
                )
            )
        traffic = tuple(
            TrafficSpec(
                part=t.part.key, base_rate=t.base_rate, spike_rate=t.spike_rate, warmup_seconds=t.warmup_seconds,
                ramp_seconds=t.ramp_seconds, hold_seconds=t.hold_seconds, cooldown_seconds=t.cooldown_seconds,
                deadline_ms=t.deadline_ms, complete_through=tuple(tuple(step) for step in t.complete_through or []),
                noun_one=t.noun_one, noun_many=t.noun_many,
            )
            for t in kata.traffic.select_related("part")
        )
        scenarios = tuple(
            ScenarioSpec(
                order=s.order, title=s.title, description=s.description, metric=s.metric,
                comparator=s.comparator, threshold=s.threshold, source=s.source.key if s.source else None,
                require_headroom=s.require_headroom, practice=s.practice, incidents=tuple(s.incidents or ()),
            )
            for s in kata.scenarios.select_related("source")
        )
        return cls(
            slug=kata.slug, title=kata.title, budget_per_hour=float(kata.budget_per_hour),
            drain_seconds=kata.drain_seconds, grading_seeds=kata.grading_seeds,
            parts=tuple(parts), traffic=traffic, scenarios=scenarios,
            cheapest_cost_per_hour=float(kata.cheapest_cost_per_hour) if kata.cheapest_cost_per_hour is not None
            else None,
        )


_PALETTES_KEPT = 64
_palettes: dict[tuple[int, Any], Palette] = {}
