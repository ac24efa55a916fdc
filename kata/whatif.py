"""What-if runs and incidents in a kata's terms: validated data, and how they reach the simulator.

An incident names a *part* of the kata (its key), not a node of one design, so that an instructor can attach it to
a scenario and a learner can add it from a panel: it hits every node of that part in the design (a design without
one is not hit). A surge names a traffic source's part. Times are simulated seconds from the start of traffic.

    {"kind": "brownout", "part": "gateway", "start": 420, "end": 540, "latency_factor": 1.5, "error": 0.05}
    {"kind": "outage", "part": "gateway", "start": 420, "end": 480}
    {"kind": "instances_lost", "part": "worker", "start": 300, "end": 600, "instances": 1}
    {"kind": "surge", "part": "checkout", "start": 200, "end": 260, "factor": 2}

A what-if run (`Run.what_if`) is `{"traffic": {part: {base_rate, spike_rate, hold_seconds, ...}}, "incidents":
[...], "practice": order or null}`: the kata's traffic with those figures changed, the incidents, and the practice
scenario it tries, if any. It is simulated on one seed, streamed like any run, evaluated against the scenarios for
information, and never graded (see `kata.services.run_start`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from kata.compiler import CompiledDesign
from kata.models import MAX_RATE, MAX_TRAFFIC_SECONDS
from kata.palette import Palette

__all__ = ["KINDS", "WhatIfError", "incidents_check", "whatif_check", "whatif_palette", "whatif_spec",
           "incident_label"]

KINDS = {
    "brownout": ("latency_factor", "error"),
    "outage": (),
    "instances_lost": ("instances",),
    "surge": ("factor",),
}
KIND_NAMES = {"brownout": "brown-out", "outage": "outage", "instances_lost": "instances lost", "surge": "surge"}
# Bounds of what a learner or an author may ask for: a factor past them is no longer a what-if, only a slow run.
LIMITS = {"latency_factor": (1.0, 20.0), "error": (0.0, 1.0), "instances": (1, 64), "factor": (0.1, 10.0)}
TRAFFIC_FIELDS = {"base_rate": (0.001, MAX_RATE), "spike_rate": (0.001, MAX_RATE), "warmup_seconds": (0, 3600),
                  "ramp_seconds": (0, 3600), "hold_seconds": (0, 3600), "cooldown_seconds": (0, 3600)}
MAX_INCIDENTS = 8
MAX_LOAD = 3.0  # a what-if run's requests, at most this many times a graded run's (it shares the run executor)


class WhatIfError(ValueError):
    """Invalid what-if data; `problems` are (path, message) pairs, e.g. ("incidents[0].end", "must be after start")."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def _number(raw: Any, path: str, lo: float, hi: float, problems: list[tuple[str, str]]) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        problems.append((path, "a number is needed"))
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append((path, f"a number is needed, not {raw!r}"))
        return None
    if not math.isfinite(value) or not lo <= value <= hi:
        problems.append((path, f"must be between {lo:g} and {hi:g}"))
        return None
    return value


def incidents_check(raw: Any, palette: Palette, *, duration: float | None = None,
                    path: str = "incidents") -> list[dict[str, Any]]:
    """Validated, normalized incidents for a kata; `WhatIfError` naming each bad field otherwise."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise WhatIfError([(path, "must be a list of incidents")])
    if len(raw) > MAX_INCIDENTS:
        raise WhatIfError([(path, f"at most {MAX_INCIDENTS} incidents")])
    horizon = duration if duration is not None else palette.duration
    problems: list[tuple[str, str]] = []
    out: list[dict[str, Any]] = []
    sources = {t.part for t in palette.traffic}
    struck = {p.key: p for p in palette.parts if p.role not in ("source", "queue")}
    for k, item in enumerate(raw):
        where = f"{path}[{k}]"
        if not isinstance(item, Mapping):
            problems.append((where, "must be an object"))
            continue
        kind = item.get("kind")
        if kind not in KINDS:
            problems.append((f"{where}.kind", f"must be one of {', '.join(KINDS)}"))
            continue
        allowed = {"kind", "part", "start", "end", *KINDS[kind]}
        for key in item:
            if key not in allowed:
                problems.append((f"{where}.{key}", f"not used by a {KIND_NAMES[kind]}"))
        part = item.get("part")
        if kind == "surge" and part not in sources:
            problems.append((f"{where}.part", f"a surge hits a traffic source: one of {', '.join(sorted(sources))}"))
        elif kind != "surge" and part not in struck:
            problems.append((f"{where}.part", f"unknown part {part!r}: one of {', '.join(sorted(struck))}"))
        elif kind == "instances_lost" and struck[part].fixed_servers:
            problems.append((f"{where}.part", f"{struck[part].name} has a fixed capacity, not instances to lose"))
        start = _number(item.get("start"), f"{where}.start", 0.0, horizon, problems)
        end = _number(item.get("end"), f"{where}.end", 0.0, horizon, problems)
        if start is not None and end is not None and end <= start:
            problems.append((f"{where}.end", "must be after start"))
        entry: dict[str, Any] = {"kind": kind, "part": part, "start": start, "end": end}
        for key in KINDS[kind]:
            lo, hi = LIMITS[key]
            default = {"latency_factor": 1.0, "error": 0.0}.get(key)
            value = _number(item.get(key, default), f"{where}.{key}", lo, hi, problems) \
                if key in item or default is None else default
            entry[key] = int(value) if key == "instances" and value is not None else value
        if kind == "brownout" and entry.get("latency_factor") == 1.0 and entry.get("error") == 0.0:
            problems.append((f"{where}.latency_factor", "a brown-out slows the part (factor > 1) or fails calls "
                                                        "(error > 0), or both"))
        if kind == "instances_lost" and entry.get("instances") is not None \
                and float(item.get("instances", 0)) != entry["instances"]:
            problems.append((f"{where}.instances", "a whole number is needed"))
        out.append(entry)
    if problems:
        raise WhatIfError(problems)
    return out


def whatif_check(raw: Any, palette: Palette) -> dict[str, Any]:
    """A validated what-if: traffic changes, incidents, and the practice scenario it tries (or None)."""
    if not isinstance(raw, Mapping):
        raise WhatIfError([("what_if", "must be an object")])
    problems: list[tuple[str, str]] = []
    for key in raw:
        if key not in ("traffic", "incidents", "practice"):
            problems.append((f"what_if.{key}", "unknown field"))
    traffic: dict[str, dict[str, float]] = {}
    raw_traffic = raw.get("traffic") or {}
    if not isinstance(raw_traffic, Mapping):
        problems.append(("traffic", "must be an object of traffic sources"))
        raw_traffic = {}
    for part, changes in raw_traffic.items():
        spec = palette.traffic_for(part)
        if spec is None:
            problems.append((f"traffic.{part}", "not a traffic source of this kata"))
            continue
        if not isinstance(changes, Mapping):
            problems.append((f"traffic.{part}", "must be an object"))
            continue
        clean: dict[str, float] = {}
        for key, value in changes.items():
            if key not in TRAFFIC_FIELDS:
                problems.append((f"traffic.{part}.{key}", f"not a traffic figure ({', '.join(TRAFFIC_FIELDS)})"))
            elif key == "spike_rate" and spec.spike_rate is None:
                problems.append((f"traffic.{part}.spike_rate", "this source has no spike"))
            elif value not in (None, ""):
                number = _number(value, f"traffic.{part}.{key}", *TRAFFIC_FIELDS[key], problems)
                if number is not None:
                    clean[key] = int(number) if key.endswith("_seconds") else number
        if clean:
            traffic[part] = clean
    practice = raw.get("practice")
    tried = next((s for s in palette.scenarios if s.practice and s.order == practice), None)
    if practice is not None and tried is None:
        problems.append(("practice", "not a practice scenario of this kata"))
    if problems:
        raise WhatIfError(problems)
    if tried is not None:  # a practice scenario is tried as its author wrote it: its incidents, the kata's traffic
        return {"traffic": {}, "incidents": incidents_check(list(tried.incidents), palette), "practice": practice}
    changed = whatif_palette(palette, {"traffic": traffic})
    if changed.duration > MAX_TRAFFIC_SECONDS:
        raise WhatIfError([("traffic", f"traffic would last {changed.duration:g} simulated seconds; keep it within "
                                       f"{MAX_TRAFFIC_SECONDS}")])
    incidents = incidents_check(raw.get("incidents"), palette, duration=changed.duration)
    asked, usual = _arrivals(changed, incidents), _arrivals(palette, [])
    if asked > MAX_LOAD * usual:
        raise WhatIfError([("traffic", f"that is {asked:,.0f} requests, more than {MAX_LOAD:g} times the kata's "
                                       f"{usual:,.0f}: a what-if run stays about as quick as a graded one")])
    if not traffic and not incidents:
        raise WhatIfError([("what_if", "change the traffic or add an incident: otherwise it is the graded run")])
    return {"traffic": traffic, "incidents": incidents, "practice": practice}


def _arrivals(palette: Palette, incidents: list[dict[str, Any]]) -> float:
    """Expected requests of a run: each source's rate integrated to the horizon, surges multiplied in."""
    horizon = palette.duration
    total = 0.0
    for t in palette.traffic:
        points = [(float(x), float(r)) for x, r in t.profile(horizon)]
        surges = [i for i in incidents if i["kind"] == "surge" and i["part"] == t.part]
        cuts = sorted({x for x, _ in points} | {float(i[k]) for i in surges for k in ("start", "end")})
        for a, b in zip(cuts, cuts[1:], strict=False):
            mid = (a + b) / 2
            factor = math.prod(float(i["factor"]) for i in surges if i["start"] <= mid < i["end"])
            total += factor * (b - a) * (_rate(points, a) + _rate(points, b)) / 2
    return total


def _rate(points: list[tuple[float, float]], t: float) -> float:
    for (t0, r0), (t1, r1) in zip(points, points[1:], strict=False):
        if t0 <= t <= t1:
            return r0 + (r1 - r0) * (t - t0) / (t1 - t0) if t1 > t0 else r1
    return 0.0


def whatif_palette(palette: Palette, what_if: Mapping[str, Any]) -> Palette:
    """The palette with the what-if's traffic figures in place of the kata's."""
    changes = what_if.get("traffic") or {}
    if not changes:
        return palette
    traffic = tuple(dataclasses.replace(t, **changes[t.part]) if t.part in changes else t for t in palette.traffic)
    return dataclasses.replace(palette, traffic=traffic)


def whatif_spec(compiled: CompiledDesign, incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """The compiled network spec with the incidents aimed at the design's nodes of each part."""
    if not incidents:
        return compiled.spec
    stations = {s["name"]: s for s in compiled.spec["stations"]}
    out: list[dict[str, Any]] = []
    for inc in incidents:
        window = {"start": float(inc["start"]), "end": float(inc["end"])}
        if inc["kind"] == "surge":
            for node_id, part in compiled.sources.items():
                if part == inc["part"]:
                    out.append({"kind": "surge", "source": node_id, **window, "factor": float(inc["factor"])})
            continue
        for info in compiled.stations.values():
            if info.part != inc["part"] or info.id not in stations:
                continue
            entry: dict[str, Any] = {"kind": inc["kind"], "station": info.id, **window}
            if inc["kind"] == "brownout":
                entry.update(latency_factor=float(inc.get("latency_factor", 1.0)), error=float(inc.get("error", 0.0)))
            elif inc["kind"] == "instances_lost":
                have = int(stations[info.id].get("instances", 1))
                if have < 1:
                    continue
                entry["instances"] = min(int(inc["instances"]), have)
            out.append(entry)
    return {**compiled.spec, "incidents": out}


def incident_label(inc: Mapping[str, Any], part_names: Mapping[str, str] | None = None) -> str:
    """'gateway brown-out ×1.5, 5 % errors, 420–540 s' for a band's legend and the run's label."""
    name = (part_names or {}).get(str(inc.get("part")), str(inc.get("part") or inc.get("station") or
                                                            inc.get("source") or ""))
    kind = str(inc.get("kind"))
    detail = ""
    if kind == "brownout":
        bits = []
        if float(inc.get("latency_factor") or 1) != 1:
            bits.append(f"latency ×{float(inc['latency_factor']):g}")
        if float(inc.get("error") or 0):
            bits.append(f"{100 * float(inc['error']):g} % errors")
        detail = " " + ", ".join(bits)
    elif kind == "instances_lost":
        detail = f" {inc.get('instances')}"
    elif kind == "surge":
        detail = f" ×{float(inc.get('factor') or 1):g}"
    return f"{name} {KIND_NAMES.get(kind, kind)}{detail}, {float(inc['start']):g}–{float(inc['end']):g} s"
