"""A kata's rules as versions: the palette as data, what changed between two versions, and how a stored design
fits a version (the parameters a learner's draft must move, each to its nearest allowed value).

A published kata is graded against its latest version (`palette_live`); the rows an instructor edits in the admin
are the kata's working copy, which becomes the next version only when Check kata passes on it (see
`services.kata_check_request`). Attempts and runs keep their version, so grades never move under them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from kata.models import Kata, KataVersion, Run
from kata.palette import Palette, ParameterSpec, PartSpec, ScenarioSpec, TrafficSpec


def rules_of(palette: Palette) -> dict[str, Any]:
    """The palette as JSON data, exactly as a version stores and reads it back (lists, not tuples)."""
    rules = json.loads(json.dumps(asdict(palette)))
    for key in ("slug", "title"):  # names, not rules: a renamed kata is the same kata
        rules.pop(key, None)
    for scenario in rules.get("scenarios", []):  # absent unless used: the versions saved before them stay equal
        if not scenario.get("practice"):
            scenario.pop("practice", None)
        if not scenario.get("incidents"):
            scenario.pop("incidents", None)
    return rules


def working_rules(kata: Kata) -> dict[str, Any]:
    """The rules of the kata's working copy (its admin rows), read now."""
    return rules_of(Palette.from_rows(kata))


def palette_from_rules(rules: dict[str, Any], *, slug: str, title: str) -> Palette:
    parts = tuple(
        PartSpec(**{**p, "parameters": tuple(ParameterSpec(**q) for q in p.get("parameters", [])),
                    "feeds": tuple(p["feeds"]) if p.get("feeds") is not None else None})
        for p in rules.get("parts", [])
    )
    traffic = tuple(
        TrafficSpec(**{**t, "complete_through": tuple(tuple(step) for step in t.get("complete_through", []))})
        for t in rules.get("traffic", [])
    )
    scenarios = tuple(ScenarioSpec(**{**s, "incidents": tuple(s.get("incidents", ()))})
                      for s in rules.get("scenarios", []))
    plain = {k: v for k, v in rules.items() if k not in ("parts", "traffic", "scenarios")}
    return Palette(slug=slug, title=title, parts=parts, traffic=traffic, scenarios=scenarios, **plain)


_version_palettes: dict[tuple[int, Any], Palette] = {}


def palette_of_version(version: KataVersion) -> Palette:
    """A version's palette (versions never change: cached per process by id and creation time, since a rolled-back
    transaction may hand an id out again)."""
    key = (version.pk, version.created_at)
    cached = _version_palettes.get(key)
    if cached is None:
        kata = version.kata
        cached = palette_from_rules(version.rules, slug=kata.slug, title=kata.title)
        if len(_version_palettes) >= 256:
            _version_palettes.clear()
        _version_palettes[key] = cached
    return cached


def version_live(kata: Kata) -> KataVersion | None:
    """The version learners are graded against: the latest, while the kata is published."""
    if not kata.published:
        return None
    return kata.versions.order_by("-number").first()


def palette_live(kata: Kata) -> Palette:
    """The rules learners see and are graded against: the live version, else (a kata not yet published, or one
    published before versions existed) the working copy."""
    version = version_live(kata)
    return palette_of_version(version) if version is not None else Palette.from_kata(kata)


def palette_for_run(run: Run) -> Palette:
    """The rules a run is graded against: its version's, else the kata's working copy."""
    if run.version_id is not None:
        return palette_of_version(run.version)  # type: ignore[arg-type]
    return Palette.from_kata(run.attempt.kata)


def palette_for_attempt(attempt: Any) -> Palette:
    if attempt.version_id is not None:
        return palette_of_version(attempt.version)
    return Palette.from_kata(attempt.kata)


# What changed ------------------------------------------------------------------------------------------------

_PART_FIELDS = {
    "fixed_servers": "fixed capacity", "unit_cost_per_hour": "price per instance", "core_cost_per_hour":
    "price per core", "concurrency_per_core": "slots per core", "service_mean_ms": "mean service time (ms)",
    "service_distribution": "service-time distribution", "base_error": "base error", "error_threshold":
    "error threshold", "error_max": "error at 100 %", "max_per_design": "most per design", "required": "required",
    "feeds": "what it may feed", "timeout_ms": "time-out (ms)", "errors_after_work": "share of errors after the work",
}
_PART_DEFAULTS: dict[str, Any] = {"errors_after_work": 0.0}
_TRAFFIC_FIELDS = {"base_rate": "base rate (/s)", "spike_rate": "spike rate (/s)", "warmup_seconds": "warm-up (s)",
                   "ramp_seconds": "ramp (s)", "hold_seconds": "hold (s)", "cooldown_seconds": "recovery window (s)",
                   "deadline_ms": "caller's deadline (ms)", "complete_through": "steps to be done"}
_KATA_FIELDS = {"budget_per_hour": "budget ($/h)", "drain_seconds": "drain (s)", "grading_seeds": "grading seeds"}


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return "—" if value is None else str(value)


def _range(p: dict[str, Any]) -> str:
    step = "" if p["step"] in (0, 1) else f" in steps of {p['step']:g}"
    return f"{p['minimum']:g}–{p['maximum']:g}{step}, default {p['default']:g}"


def rules_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What changed from one set of rules to the next, one line a change, in an instructor's words."""
    if old is None:
        return ["First version."]
    changes = [f"{label}: {_shown(old.get(k))} → {_shown(new.get(k))}" for k, label in _KATA_FIELDS.items()
               if old.get(k) != new.get(k)]
    old_parts = {p["key"]: p for p in old.get("parts", [])}
    new_parts = {p["key"]: p for p in new.get("parts", [])}
    for key in old_parts.keys() - new_parts.keys():
        changes.append(f"part {old_parts[key]['name']} ({key}) removed")
    for key, part in new_parts.items():
        before = old_parts.get(key)
        if before is None:
            changes.append(f"part {part['name']} ({key}) added")
            continue
        for field, label in _PART_FIELDS.items():
            was = before.get(field, _PART_DEFAULTS.get(field))  # a field newer than the stored version: its default
            if was != part.get(field, _PART_DEFAULTS.get(field)):
                changes.append(f"{part['name']}: {label} {_shown(was)} → {_shown(part.get(field))}")
        old_params = {q["name"]: q for q in before.get("parameters", [])}
        for q in part.get("parameters", []):
            was = old_params.pop(q["name"], None)
            if was is None:
                changes.append(f"{part['name']}: parameter {q['name']} added ({_range(q)})")
            elif was != q:
                changes.append(f"{part['name']}: {q['name']} {_range(was)} → {_range(q)}")
        for name in old_params:
            changes.append(f"{part['name']}: parameter {name} removed")
    old_traffic = {t["part"]: t for t in old.get("traffic", [])}
    for traffic in new.get("traffic", []):
        before = old_traffic.get(traffic["part"], {})
        for field, label in _TRAFFIC_FIELDS.items():
            if before.get(field) != traffic.get(field):
                changes.append(f"traffic at {traffic['part']}: {label} {_shown(before.get(field))} → "
                               f"{_shown(traffic.get(field))}")
    old_scenarios = {s["order"]: s for s in old.get("scenarios", [])}
    budget = float(new.get("budget_per_hour") or 0)
    old_budget = float(old.get("budget_per_hour") or 0)
    for scenario in new.get("scenarios", []):
        before = old_scenarios.pop(scenario["order"], None)
        rule = ScenarioSpec(**scenario).rule(budget).removeprefix("passes when ")
        if before is None:
            changes.append(f"scenario {scenario['order']} added: {scenario['title']}, {rule}")
        elif before != scenario or (scenario.get("threshold") is None and old_budget != budget):
            changes.append(f"scenario {scenario['order']} ({scenario['title']}): "
                           f"{ScenarioSpec(**before).rule(old_budget).removeprefix('passes when ')} → {rule}")
    for order, scenario in old_scenarios.items():
        changes.append(f"scenario {order} ({scenario['title']}) removed")
    return changes


# How a design fits ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Misfit:
    """A parameter of a stored design that the rules no longer allow, and the allowed value nearest to it."""

    node: str
    part: str  # the part's name
    parameter: str
    label: str
    value: float
    nearest: float
    allowed: str  # "1–20" or "1–20 in steps of 2"
    was: str  # what an earlier version allowed, when it allowed this value ("" when none did)

    def __str__(self) -> str:
        text = f"{self.part} “{self.node}”: {self.label.lower()} is {self.value:g}, now allowed {self.allowed}"
        return text + (f" (was {self.was})" if self.was else "")


def nearest_allowed(value: float, spec: ParameterSpec) -> float:
    """The allowed value nearest to `value`: within the range and on the steps from the minimum."""
    if not spec.learner_editable:
        return spec.default
    clamped = min(max(value, spec.minimum), spec.maximum)
    if spec.step <= 0:
        return clamped
    steps = round((clamped - spec.minimum) / spec.step)
    candidate = spec.minimum + steps * spec.step
    if candidate > spec.maximum + 1e-9:
        candidate -= spec.step
    return float(round(candidate, 9))


def _fits(value: float, spec: ParameterSpec) -> bool:
    return math.isclose(nearest_allowed(value, spec), value, rel_tol=0, abs_tol=1e-6)


def _allowed(spec: ParameterSpec) -> str:
    if not spec.learner_editable:
        return f"only {spec.default:g}"
    step = "" if spec.step in (0, 1) else f" in steps of {spec.step:g}"
    return f"{spec.minimum:g}–{spec.maximum:g}{step}"


def design_misfits(document: Any, palette: Palette, earlier: list[Palette] | None = None) -> list[Misfit]:
    """Parameters of a stored design outside what `palette` allows. `earlier`: older rules, newest first, to say
    what used to be allowed."""
    misfits: list[Misfit] = []
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        return misfits
    for node in document["nodes"]:
        if not isinstance(node, dict) or not isinstance(node.get("params"), dict):
            continue
        part = palette.part(str(node.get("part", "")))
        if part is None:
            continue
        for name, value in node["params"].items():
            spec = part.parameter(str(name))
            if spec is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value) or _fits(value, spec):
                continue
            was = ""
            for older in earlier or []:
                old_part = older.part(part.key)
                old_spec = old_part.parameter(spec.name) if old_part else None
                if old_spec is not None and _fits(value, old_spec):
                    was = _allowed(old_spec)
                    break
            misfits.append(Misfit(node=str(node.get("id", "")), part=part.name, parameter=spec.name,
                                  label=spec.label, value=float(value), nearest=nearest_allowed(value, spec),
                                  allowed=_allowed(spec), was=was))
    return misfits


def design_fitted(document: dict[str, Any], palette: Palette, *, node: str | None = None,
                  parameter: str | None = None) -> dict[str, Any]:
    """The design with its misfits (all, or the one named) moved to their nearest allowed values."""
    chosen = {(m.node, m.parameter): m.nearest for m in design_misfits(document, palette)
              if (node is None or m.node == node) and (parameter is None or m.parameter == parameter)}
    nodes = []
    for raw in document.get("nodes", []):
        if isinstance(raw, dict) and isinstance(raw.get("params"), dict):
            params = {k: chosen.get((str(raw.get("id", "")), k), v) for k, v in raw["params"].items()}
            raw = {**raw, "params": params}
        nodes.append(raw)
    return {**document, "nodes": nodes}


def draft_misfits(kata: Kata, document: Any) -> list[Misfit]:
    """A stored draft's parameters that the live version no longer allows, each with what earlier versions did."""
    live = version_live(kata)
    if live is None:
        return design_misfits(document, Palette.from_kata(kata))
    earlier = [palette_of_version(v) for v in kata.versions.filter(number__lt=live.number).order_by("-number")[:5]]
    return design_misfits(document, palette_of_version(live), earlier)
