"""A kata as one JSON file, the format of `fixtures/*/kata.json`: loaded by `load_katas`, exported and imported
from the admin. An imported kata arrives unpublished (a passing check publishes it); a repository fixture that
says `"published": true` is published as it loads, since the repository's tests check it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from kata import authoring
from kata.models import Kata, PartParameter, PartType, Scenario, TrafficSource

_NESTED = {"parts", "traffic", "scenarios", "reference_design", "must_fail"}
_KATA_FIELDS = ["slug", "title", "summary", "overview", "context", "constraints_operational", "constraints_product",
                "learning_outcomes", "hints", "difficulty", "domain", "minutes_min", "minutes_max", "budget_per_hour",
                "cheapest_cost_per_hour", "drain_seconds", "grading_seeds", "published"]
_TRAFFIC_FIELDS = ["base_rate", "spike_rate", "warmup_seconds", "ramp_seconds", "hold_seconds", "cooldown_seconds",
                   "deadline_ms", "complete_through", "noun_one", "noun_many"]


class KataFileError(ValueError):
    """A kata file that cannot be loaded: every problem found, each saying where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@transaction.atomic
def kata_load_fixture(*, path: Path, replace: bool = False) -> tuple[Kata, bool]:
    """Create a kata, its palette, traffic, scenarios and must-fail designs from a fixture file.

    An existing kata is left alone unless `replace`, so `make run` never overwrites an instructor's edits.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    existing = Kata.objects.filter(slug=data["slug"]).first()
    if existing is not None and not replace:
        return existing, False
    kata = _load(data, base=path.parent, existing=existing)
    if kata.published:
        authoring.kata_publish_unchecked(kata=kata)
    return kata, existing is None


def kata_import(*, text: str | bytes) -> Kata:
    """A new kata from an exported file, unpublished; `KataFileError` lists what is wrong (nothing is saved)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise KataFileError([f"not JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise KataFileError(["the file must hold one JSON object, a kata"])
    slug = data.get("slug")
    if not isinstance(slug, str) or not slug:
        raise KataFileError(["slug: missing; every kata needs one, e.g. \"clearpay\""])
    if Kata.objects.filter(slug=slug).exists():
        raise KataFileError([f"slug: a kata '{slug}' exists already; change the slug in the file to import it as "
                             "a new kata"])
    for key, kind in (("parts", list), ("traffic", list), ("scenarios", list), ("must_fail", list)):
        if key in data and not isinstance(data[key], kind):
            raise KataFileError([f"{key}: must be a list"])
    if isinstance(data.get("reference_design"), str):
        raise KataFileError(["reference_design: must be the design itself, not a file name"])
    try:
        with transaction.atomic():
            return _load({**data, "published": False}, base=None, existing=None)
    except KataFileError:
        raise
    except ValidationError as exc:
        raise KataFileError(_messages(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KataFileError([f"unexpected content: {exc!r}"]) from None


def _messages(exc: ValidationError, where: str = "") -> list[str]:
    prefix = f"{where}: " if where else ""
    if hasattr(exc, "message_dict"):
        return [f"{prefix}{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
    return [f"{prefix}{m}" for m in exc.messages]


def _checked(row: Any, where: str, exclude: list[str] | None = None) -> None:
    try:
        row.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise KataFileError(_messages(exc, where)) from None


def _design(raw: Any, base: Path | None, where: str) -> Any:
    if isinstance(raw, str):
        if base is None:
            raise KataFileError([f"{where}: must be the design itself, not a file name"])
        return json.loads((base / raw).read_text(encoding="utf-8"))
    if raw is not None and not isinstance(raw, dict):
        raise KataFileError([f"{where}: must be a design object"])
    return raw or {}


def _load(data: dict[str, Any], *, base: Path | None, existing: Kata | None) -> Kata:
    kata = existing or Kata()
    unknown = set(data) - set(_KATA_FIELDS) - _NESTED
    if unknown:
        raise KataFileError([f"unknown field(s): {', '.join(sorted(unknown))}"])
    for key in _KATA_FIELDS:
        if key in data:
            setattr(kata, key, data[key])
    if existing is not None:
        # Rebuild the palette in place: the kata row, and so every learner's attempt on it, stays.
        existing.scenarios.all().delete()
        existing.traffic.all().delete()
        existing.parts.all().delete()
        existing.must_fail.all().delete()
    kata.reference_design = _design(data.get("reference_design"), base, "reference_design")
    _checked(kata, "kata")
    kata.save()
    parts = {}
    for order, raw in enumerate(data.get("parts", [])):
        part = _part(kata, order, raw, f"parts[{order}]")
        parts[part.key] = part
    for index, raw in enumerate(data.get("traffic", [])):
        where = f"traffic[{index}]"
        if raw.get("part") not in parts:
            raise KataFileError([f"{where}.part: no part '{raw.get('part')}' in the palette"])
        traffic = TrafficSource(kata=kata, **{**raw, "part": parts[raw["part"]]})
        _checked(traffic, where)
        traffic.save()
    for index, raw in enumerate(data.get("scenarios", [])):
        where = f"scenarios[{index}]"
        if raw.get("source") and raw["source"] not in parts:
            raise KataFileError([f"{where}.source: no part '{raw['source']}' in the palette"])
        scenario = Scenario(kata=kata, **{**raw, "source": parts[raw["source"]] if raw.get("source") else None})
        _checked(scenario, where)
        scenario.save()
    for index, raw in enumerate(_must_fail(data, base)):
        try:
            authoring.must_fail_save(kata=kata, **raw)
        except ValidationError as exc:
            raise KataFileError(_messages(exc, f"must_fail[{index}]")) from None
    kata.refresh_from_db()
    return kata


def _must_fail(data: dict[str, Any], base: Path | None) -> list[dict[str, Any]]:
    """A file's must-fail designs: a list of {title, design, fails, why}, or (a fixture) the name of a designs
    folder's `expected.json`, each entry that fails something one, its design in `<name>.json` beside it."""
    raw = data.get("must_fail", [])
    if isinstance(raw, list):
        return [{"title": m["title"], "fails": [int(n) for n in m["fails"]], "why": m.get("why", ""),
                 "design": _design(m["design"], base, f"must_fail[{i}].design")} for i, m in enumerate(raw)]
    if base is None:
        raise KataFileError(["must_fail: must be a list of designs"])
    expected_path = base / raw
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    return [{"title": name, "why": entry.get("what", ""), "fails": [int(n) for n in entry["fails"]],
             "design": json.loads((expected_path.parent / f"{name}.json").read_text(encoding="utf-8"))}
            for name, entry in expected.items() if entry.get("fails")]


def _part(kata: Kata, order: int, raw: dict[str, Any], where: str) -> PartType:
    """One part of a file's palette, saved with its parameters."""
    if not isinstance(raw, dict) or not raw.get("key"):
        raise KataFileError([f"{where}: a part needs at least a key, a name and a role"])
    where = f"{where} ({raw['key']})"
    service, errors = raw.get("service", {}), raw.get("errors", {})
    part = PartType(
        kata=kata, key=raw["key"], name=raw.get("name", ""), role=raw.get("role", ""),
        description=raw.get("description", ""), order=order, required=raw.get("required", False),
        max_per_design=raw.get("max_per_design", 8), fixed_servers=raw.get("fixed_servers"),
        unit_cost_per_hour=raw.get("unit_cost_per_hour", 0),
        service_distribution=service.get("distribution", "exponential"),
        service_mean_ms=service.get("mean_ms", 10), service_scv=service.get("scv"), service_k=service.get("k"),
        jitter_mean_ms=service.get("jitter_mean_ms"), base_error=errors.get("base", 0),
        error_threshold=errors.get("threshold"), error_max=errors.get("max", 0.5),
        error_power=errors.get("power", 2), slowdown_factor=raw.get("slowdown_factor"),
        timeout_ms=raw.get("timeout_ms"), core_cost_per_hour=raw.get("core_cost_per_hour", 0),
        concurrency_per_core=raw.get("concurrency_per_core"), fanout=raw.get("fanout", "split"),
        feeds=raw.get("feeds"), feeds_reason=raw.get("feeds_reason", ""), cache_keys=raw.get("cache_keys"),
        cache_zipf=raw.get("cache_zipf"), errors_after_work=errors.get("after_work", 0),
    )
    _checked(part, where, exclude=["kata"])
    part.save()
    for index, parameter in enumerate(raw.get("parameters", [])):
        row = PartParameter(part=part, **parameter)
        _checked(row, f"{where}.parameters[{index}]", exclude=["part"])
        row.save()
    return part


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def kata_export(*, kata: Kata) -> dict[str, Any]:
    """The kata's working copy as one file in the fixture format (designs inline), which `kata_import` reads."""
    data: dict[str, Any] = {key: _plain(getattr(kata, key)) for key in _KATA_FIELDS}
    data["reference_design"] = kata.reference_design or {}
    data["must_fail"] = [{"title": m.title, "why": m.why, "fails": m.fails, "design": m.design}
                         for m in kata.must_fail.all()]
    data["parts"] = []
    for part in kata.parts.prefetch_related("parameters").order_by("order", "name"):
        service = {"distribution": part.service_distribution, "mean_ms": part.service_mean_ms}
        for key, value in (("scv", part.service_scv), ("k", part.service_k), ("jitter_mean_ms", part.jitter_mean_ms)):
            if value is not None:
                service[key] = value
        errors = {"base": part.base_error, "threshold": part.error_threshold, "max": part.error_max,
                  "power": part.error_power}
        if part.errors_after_work:
            errors["after_work"] = part.errors_after_work
        entry: dict[str, Any] = {
            "key": part.key, "name": part.name, "role": part.role, "description": part.description,
            "required": part.required, "max_per_design": part.max_per_design, "fixed_servers": part.fixed_servers,
            "unit_cost_per_hour": _plain(part.unit_cost_per_hour),
            "core_cost_per_hour": _plain(part.core_cost_per_hour),
            "concurrency_per_core": part.concurrency_per_core, "fanout": part.fanout, "feeds": part.feeds,
            "feeds_reason": part.feeds_reason, "cache_keys": part.cache_keys, "cache_zipf": part.cache_zipf,
            "slowdown_factor": part.slowdown_factor, "timeout_ms": part.timeout_ms, "service": service,
            "errors": errors,
            "parameters": [{"name": p.name, "default": p.default, "minimum": p.minimum, "maximum": p.maximum,
                            "step": p.step, "learner_editable": p.learner_editable} for p in part.parameters.all()],
        }
        data["parts"].append(entry)
    data["traffic"] = [{"part": t.part.key, **{key: getattr(t, key) for key in _TRAFFIC_FIELDS}}
                       for t in kata.traffic.select_related("part")]
    data["scenarios"] = [{"order": s.order, "title": s.title, "description": s.description, "metric": s.metric,
                          "comparator": s.comparator, "threshold": s.threshold,
                          "source": s.source.key if s.source else None, "require_headroom": s.require_headroom,
                          **({"practice": True, "incidents": s.incidents} if s.practice else {})}
                         for s in kata.scenarios.select_related("source")]
    return data
