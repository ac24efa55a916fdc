"""The one validating builder: `build_network(spec)` turns the JSON spec (the single input format of the CLI and of the
Django compiler) into a frozen `Network`. Every problem raises `SpecError` whose message names the field path, for
example ``stations[1].service.scv: must be > 0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .model import (DISTRIBUTIONS, INCIDENT_KINDS, INF, Breaker, ErrorCurve, Incident, Network, RetryPolicy,
                    ServiceTime, Slowdown, Source, SpecError, Station)

__all__ = ["build_network"]


def _num(value: Any, field: str, *, lo: float | None = None, lo_open: bool = False, hi: float | None = None,
         hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, f"must be a number, got {value!r}")
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise SpecError(field, "must be finite")
    if lo is not None and (x <= lo if lo_open else x < lo):
        raise SpecError(field, f"must be {'>' if lo_open else '>='} {lo:g}")
    if hi is not None and (x >= hi if hi_open else x > hi):
        raise SpecError(field, f"must be {'<' if hi_open else '<='} {hi:g}")
    return x


def _int(value: Any, field: str, *, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise SpecError(field, f"must be an integer, got {value!r}")
    if int(value) < lo:
        raise SpecError(field, f"must be >= {lo}")
    return int(value)


def _obj(value: Any, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(field, f"must be an object, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise SpecError(f"{field}.{key}" if field else str(key), f"unknown field (allowed: {', '.join(allowed)})")
    return value


def _list(value: Any, field: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SpecError(field, f"must be a list, got {type(value).__name__}")
    return value


def _service(raw: Any, f: str) -> ServiceTime:
    d = _obj(raw, f, ("dist", "mean", "scv", "k", "base", "mean_jitter"))
    dist = d.get("dist")
    if dist not in DISTRIBUTIONS:
        raise SpecError(f"{f}.dist", f"must be one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
    extra = {"lognormal": {"scv"}, "erlang": {"k"}, "jitter": {"base", "mean_jitter"}}.get(dist, set())
    for key in ("scv", "k", "base", "mean_jitter"):
        if key in d and key not in extra:
            raise SpecError(f"{f}.{key}", f"not used by dist {dist}")
    if dist == "jitter":
        if "mean" in d:
            raise SpecError(f"{f}.mean", "not used by dist jitter (give base and mean_jitter)")
        for key in ("base", "mean_jitter"):
            if key not in d:
                raise SpecError(f"{f}.{key}", "required for dist jitter")
        base = _num(d["base"], f"{f}.base", lo=0.0)
        jit = _num(d["mean_jitter"], f"{f}.mean_jitter", lo=0.0)
        mean = base + jit
        return ServiceTime("jitter", mean, scv=(jit / mean) ** 2 if mean > 0 else 0.0, base=base)
    if "mean" not in d:
        raise SpecError(f"{f}.mean", "required")
    if dist == "deterministic":
        return ServiceTime(dist, _num(d["mean"], f"{f}.mean", lo=0.0), scv=0.0)
    mean = _num(d["mean"], f"{f}.mean", lo=0.0, lo_open=True)
    if dist == "exponential":
        return ServiceTime(dist, mean, scv=1.0)
    if dist == "lognormal":
        if "scv" not in d:
            raise SpecError(f"{f}.scv", "required for dist lognormal")
        return ServiceTime(dist, mean, scv=_num(d["scv"], f"{f}.scv", lo=0.0, lo_open=True))
    if "k" not in d:
        raise SpecError(f"{f}.k", "required for dist erlang")
    k = _int(d["k"], f"{f}.k", lo=1)
    return ServiceTime(dist, mean, scv=1.0 / k, k=k)


def _errors(raw: Any, f: str) -> ErrorCurve:
    d = _obj(raw, f, ("base", "threshold", "max", "power", "window"))
    base = _num(d.get("base", 0.0), f"{f}.base", lo=0.0, hi=1.0)
    thr = None
    if d.get("threshold") is not None:
        thr = _num(d["threshold"], f"{f}.threshold", lo=0.0, hi=1.0, hi_open=True)
    elif "max" in d or "power" in d:
        raise SpecError(f"{f}.threshold", "required when max or power is given")
    top = _num(d.get("max", 1.0), f"{f}.max", lo=0.0, hi=1.0)
    if thr is not None and top < base:
        raise SpecError(f"{f}.max", f"must be >= base ({base:g})")
    power = _num(d.get("power", 2.0), f"{f}.power", lo=0.0, lo_open=True)
    window = _num(d.get("window", 5.0), f"{f}.window", lo=0.0, lo_open=True)
    return ErrorCurve(base, thr, top, power, window)


def _slowdown(raw: Any, f: str) -> Slowdown:
    d = _obj(raw, f, ("threshold", "factor", "window"))
    thr = _num(d.get("threshold", 0.8), f"{f}.threshold", lo=0.0, hi=1.0, hi_open=True)
    factor = _num(d.get("factor", 2.0), f"{f}.factor", lo=1.0)
    window = _num(d.get("window", 5.0), f"{f}.window", lo=0.0, lo_open=True)
    return Slowdown(thr, factor, window)


def _retry(raw: Any, f: str) -> RetryPolicy:
    d = _obj(raw, f, ("max_attempts", "backoff", "multiplier", "max_backoff", "jitter", "budget"))
    jitter = d.get("jitter", 0.0)
    jitter = 1.0 if jitter == "full" else _num(jitter, f"{f}.jitter", lo=0.0, hi=1.0) if jitter is not None else 0.0
    ratio, burst = None, 10.0
    if d.get("budget") is not None:
        b = _obj(d["budget"], f"{f}.budget", ("ratio", "burst"))
        if "ratio" not in b:
            raise SpecError(f"{f}.budget.ratio", "required")
        ratio = _num(b["ratio"], f"{f}.budget.ratio", lo=0.0)
        burst = _num(b.get("burst", 10.0), f"{f}.budget.burst", lo=1.0)
    return RetryPolicy(
        max_attempts=_int(d.get("max_attempts", 3), f"{f}.max_attempts", lo=1),
        backoff=_num(d.get("backoff", 0.5), f"{f}.backoff", lo=0.0),
        multiplier=_num(d.get("multiplier", 2.0), f"{f}.multiplier", lo=1.0),
        max_backoff=_num(d["max_backoff"], f"{f}.max_backoff", lo=0.0) if "max_backoff" in d else INF,
        jitter=jitter,
        budget_ratio=ratio,
        budget_burst=burst,
    )


def _breaker(raw: Any, f: str) -> Breaker:
    d = _obj(raw, f, ("failure_rate", "window", "min_calls", "open_for", "probes"))
    return Breaker(
        failure_rate=_num(d.get("failure_rate", 0.5), f"{f}.failure_rate", lo=0.0, lo_open=True, hi=1.0),
        window=_num(d.get("window", 10.0), f"{f}.window", lo=0.0, lo_open=True),
        min_calls=_int(d.get("min_calls", 20), f"{f}.min_calls", lo=1),
        open_for=_num(d.get("open_for", 5.0), f"{f}.open_for", lo=0.0, lo_open=True),
        probes=_int(d.get("probes", 1), f"{f}.probes", lo=1),
    )


_STATION_KEYS = ("name", "servers", "service", "capacity", "errors", "slowdown", "timeout", "instances", "unit_cost",
                 "kind", "acknowledge", "retry", "enqueue", "enqueue_error", "deadline", "on_deadline", "shed_wait",
                 "shed_hold", "breaker", "dead_letter", "idempotency_key", "errors_after_work")


def _station_name(name: Any, f: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{f}.name", "required, a non-empty string")
    if "." in name or name == "e2e" or name != name.strip():
        raise SpecError(f"{f}.name", f"must not contain '.', be 'e2e' or have surrounding spaces: {name!r}")
    return name


def _station_rules(d: Mapping[str, Any], f: str, kind: str, servers: float, errors: ErrorCurve | None,
                   slowdown: Slowdown | None) -> None:
    """What a station's parts say about each other: utilization needs finite servers, one window per station, and
    what only a buffer (or only a station) may have."""
    if servers == INF:
        if errors is not None and errors.threshold is not None:
            raise SpecError(f"{f}.errors.threshold", "needs a finite number of servers (utilization)")
        if slowdown is not None:
            raise SpecError(f"{f}.slowdown", "needs a finite number of servers (utilization)")
    if errors is not None and errors.threshold is not None and slowdown is not None \
            and "window" in d["slowdown"] and slowdown.window != errors.window:
        raise SpecError(f"{f}.slowdown.window", "must equal errors.window (one utilization window per station)")
    if kind == "buffer":
        for key in ("errors", "slowdown", "timeout", "deadline", "on_deadline", "errors_after_work"):
            if d.get(key) is not None:
                raise SpecError(f"{f}.{key}", "not allowed on a buffer (put it on the station its consumers call)")
    else:
        for key in ("acknowledge", "retry", "enqueue", "enqueue_error", "breaker", "dead_letter", "idempotency_key"):
            if key in d:
                raise SpecError(f"{f}.{key}", "only allowed on kind 'buffer'")


def _station(raw: Any, f: str) -> Station:
    d = _obj(raw, f, _STATION_KEYS)
    name = _station_name(d.get("name"), f)
    kind = d.get("kind", "station")
    if kind not in ("station", "buffer"):
        raise SpecError(f"{f}.kind", f"must be 'station' or 'buffer', got {kind!r}")
    raw_servers = d.get("servers", 1)
    servers: float = INF if raw_servers == "inf" else _int(raw_servers, f"{f}.servers", lo=1)
    if "service" in d:
        service = _service(d["service"], f"{f}.service")
    elif kind == "buffer":
        service = ServiceTime("deterministic", 0.0, scv=0.0)  # a consumer hands the message on at once
    else:
        raise SpecError(f"{f}.service", "required")
    capacity = _int(d["capacity"], f"{f}.capacity", lo=1) if d.get("capacity") is not None else None
    errors = _errors(d["errors"], f"{f}.errors") if d.get("errors") is not None else None
    slowdown = _slowdown(d["slowdown"], f"{f}.slowdown") if d.get("slowdown") is not None else None
    timeout = _num(d["timeout"], f"{f}.timeout", lo=0.0, lo_open=True) if d.get("timeout") is not None else None
    _station_rules(d, f, kind, servers, errors, slowdown)
    enqueue = _service(d["enqueue"], f"{f}.enqueue") if d.get("enqueue") is not None else None
    enqueue_error = _num(d.get("enqueue_error", 0.0), f"{f}.enqueue_error", lo=0.0, hi=1.0)
    ack = d.get("acknowledge", False)
    if not isinstance(ack, bool):
        raise SpecError(f"{f}.acknowledge", f"must be true or false, got {ack!r}")
    retry = _retry(d["retry"], f"{f}.retry") if d.get("retry") is not None else None
    deadline = _num(d["deadline"], f"{f}.deadline", lo=0.0, lo_open=True) if d.get("deadline") is not None else None
    on_deadline = d.get("on_deadline", "cancel")
    if on_deadline not in ("cancel", "continue"):
        raise SpecError(f"{f}.on_deadline", f"must be 'cancel' or 'continue', got {on_deadline!r}")
    if "on_deadline" in d and deadline is None:
        raise SpecError(f"{f}.on_deadline", "needs a deadline")
    shed_wait = _num(d["shed_wait"], f"{f}.shed_wait", lo=0.0) if d.get("shed_wait") is not None else None
    shed_hold = _num(d["shed_hold"], f"{f}.shed_hold", lo=0.0, lo_open=True) if d.get("shed_hold") is not None \
        else None
    if shed_wait is not None and servers == INF:
        raise SpecError(f"{f}.shed_wait", "needs a finite number of servers (an infinite station never queues)")
    if shed_wait is not None and kind == "buffer" and shed_hold is None:
        raise SpecError(f"{f}.shed_hold", "required to shed at a buffer (the mean time a consumer holds a message)")
    if shed_hold is not None and shed_wait is None:
        raise SpecError(f"{f}.shed_hold", "needs shed_wait")
    dead_letter = d.get("dead_letter")
    if dead_letter is not None and (not isinstance(dead_letter, str) or not dead_letter.strip()):
        raise SpecError(f"{f}.dead_letter", f"must be a queue name (a non-empty string), got {dead_letter!r}")
    idempotency_key = d.get("idempotency_key", False)
    if not isinstance(idempotency_key, bool):
        raise SpecError(f"{f}.idempotency_key", f"must be true or false, got {idempotency_key!r}")
    after_work = _num(d.get("errors_after_work", 0.0), f"{f}.errors_after_work", lo=0.0, hi=1.0)
    if after_work and errors is None:
        raise SpecError(f"{f}.errors_after_work", "needs errors (it is a share of them)")
    return Station(
        name=name,
        servers=servers,
        service=service,
        capacity=capacity,
        errors=errors,
        slowdown=slowdown,
        timeout=timeout,
        instances=_int(d.get("instances", 1), f"{f}.instances", lo=0),
        unit_cost=_num(d.get("unit_cost", 0.0), f"{f}.unit_cost", lo=0.0),
        kind=kind,
        acknowledge=ack,
        retry=retry,
        enqueue=enqueue,
        enqueue_error=enqueue_error,
        deadline=deadline,
        on_deadline=on_deadline,
        shed_wait=shed_wait,
        shed_hold=shed_hold,
        breaker=_breaker(d["breaker"], f"{f}.breaker") if d.get("breaker") is not None else None,
        dead_letter=dead_letter,
        idempotency_key=idempotency_key,
        errors_after_work=after_work,
    )


def _matrix(raw: Any, f: str, n: int) -> tuple[tuple[float, ...], ...]:
    rows = _list(raw, f)
    if len(rows) != n:
        raise SpecError(f, f"must have {n} rows (one per station), got {len(rows)}")
    out = []
    for i, row in enumerate(rows):
        row = _list(row, f"{f}[{i}]")
        if len(row) != n:
            raise SpecError(f"{f}[{i}]", f"must have {n} entries (one per station), got {len(row)}")
        vals = tuple(_num(p, f"{f}[{i}][{j}]", lo=0.0, hi=1.0) for j, p in enumerate(row))
        if sum(vals) > 1.0 + 1e-9:
            raise SpecError(f"{f}[{i}]", f"probabilities sum to {sum(vals):g} > 1")
        out.append(vals)
    return tuple(out)


def _check_exits(matrix: tuple[tuple[float, ...], ...], entry: int, names: Sequence[str], f: str) -> None:
    """Every station a request can reach must have a path out; else requests circulate forever."""
    n = len(matrix)
    can_leave = [sum(row) < 1.0 - 1e-12 for row in matrix]
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if not can_leave[i] and any(matrix[i][j] > 0 and can_leave[j] for j in range(n)):
                can_leave[i] = changed = True
    seen, todo = {entry}, [entry]
    while todo:
        i = todo.pop()
        if not can_leave[i]:
            raise SpecError(f, f"requests reaching station {names[i]!r} can never leave the network")
        for j in range(n):
            if matrix[i][j] > 0 and j not in seen:
                seen.add(j)
                todo.append(j)


def _profile(raw: Any, f: str) -> tuple[tuple[float, float], ...]:
    pts = _list(raw, f)
    if len(pts) < 2:
        raise SpecError(f, "needs at least 2 points [t, rate]")
    out: list[tuple[float, float]] = []
    for i, p in enumerate(pts):
        p = _list(p, f"{f}[{i}]")
        if len(p) != 2:
            raise SpecError(f"{f}[{i}]", "must be [t, rate]")
        t = _num(p[0], f"{f}[{i}][0]", lo=0.0)
        r = _num(p[1], f"{f}[{i}][1]", lo=0.0)
        if out and t <= out[-1][0]:
            raise SpecError(f"{f}[{i}][0]", "times must be strictly increasing")
        out.append((t, r))
    if max(r for _, r in out) <= 0:
        raise SpecError(f, "all rates are 0")
    return tuple(out)


def _source(raw: Any, f: str, names: Sequence[str], default_name: str) -> Source:
    d = _obj(raw, f, ("name", "dist", "entry", "rate", "profile", "routing", "deadline", "complete_through"))
    if d.get("dist", "poisson") != "poisson":
        raise SpecError(f"{f}.dist", f"only 'poisson' is supported, got {d.get('dist')!r}")
    name = d.get("name", default_name)
    if not isinstance(name, str) or not name or "." in name:
        raise SpecError(f"{f}.name", "must be a non-empty string without '.'")
    entry_name = d.get("entry", names[0])
    if entry_name not in names:
        raise SpecError(f"{f}.entry", f"unknown station {entry_name!r}")
    if ("rate" in d) == ("profile" in d):
        raise SpecError(f"{f}.rate", "give exactly one of rate or profile")
    rate = _num(d["rate"], f"{f}.rate", lo=0.0, lo_open=True) if "rate" in d else None
    profile = _profile(d["profile"], f"{f}.profile") if "profile" in d else None
    routing = _matrix(d["routing"], f"{f}.routing", len(names)) if d.get("routing") is not None else None
    deadline = _num(d["deadline"], f"{f}.deadline", lo=0.0, lo_open=True) if d.get("deadline") is not None else None
    steps: list[tuple[int, ...]] = []
    claimed: set[str] = set()
    for k, raw_step in enumerate(_list(d.get("complete_through", []), f"{f}.complete_through")):
        step = _list(raw_step, f"{f}.complete_through[{k}]")
        if not step:
            raise SpecError(f"{f}.complete_through[{k}]", "needs at least one station")
        for station in step:
            if station not in names:
                raise SpecError(f"{f}.complete_through[{k}]", f"unknown station {station!r}")
            if station in claimed:
                raise SpecError(f"{f}.complete_through[{k}]", f"station {station!r} is in more than one step")
            claimed.add(station)
        steps.append(tuple(names.index(station) for station in step))
    return Source(name, names.index(entry_name), rate, profile, routing, deadline, tuple(steps))


_INCIDENT_KEYS = {
    "brownout": ("kind", "station", "start", "end", "latency_factor", "error"),
    "outage": ("kind", "station", "start", "end"),
    "instances_lost": ("kind", "station", "start", "end", "instances"),
    "surge": ("kind", "source", "start", "end", "factor"),
}


def _incident(raw: Any, f: str, stations: Sequence[Station], sources: Sequence[Source]) -> Incident:
    every_key = sorted({key for keys in _INCIDENT_KEYS.values() for key in keys})
    kind = _obj(raw, f, every_key).get("kind")
    if kind not in INCIDENT_KINDS:
        raise SpecError(f"{f}.kind", f"must be one of {', '.join(INCIDENT_KINDS)}, got {kind!r}")
    d = _obj(raw, f, _INCIDENT_KEYS[kind])
    for key in ("start", "end"):
        if key not in d:
            raise SpecError(f"{f}.{key}", "required")
    start = _num(d["start"], f"{f}.start", lo=0.0)
    end = _num(d["end"], f"{f}.end", lo=start, lo_open=True)
    if kind == "surge":
        names = [src.name for src in sources]
        if d.get("source") not in names:
            raise SpecError(f"{f}.source", f"unknown source {d.get('source')!r} (sources: {', '.join(names)})")
        factor = _num(d.get("factor"), f"{f}.factor", lo=0.0, lo_open=True) if "factor" in d else None
        if factor is None:
            raise SpecError(f"{f}.factor", "required for a surge")
        return Incident(kind, d["source"], names.index(d["source"]), start, end, factor=factor)
    names = [st.name for st in stations]
    if d.get("station") not in names:
        raise SpecError(f"{f}.station", f"unknown station {d.get('station')!r}")
    target = names.index(d["station"])
    st = stations[target]
    if st.is_buffer:
        raise SpecError(f"{f}.station", f"{st.name!r} is a buffer: put the incident on the station its consumers call")
    if kind == "brownout":
        factor = _num(d.get("latency_factor", 1.0), f"{f}.latency_factor", lo=1.0)
        error = _num(d.get("error", 0.0), f"{f}.error", lo=0.0, hi=1.0)
        if factor == 1.0 and error == 0.0:
            raise SpecError(f"{f}.latency_factor", "a brownout needs latency_factor > 1 or error > 0")
        return Incident(kind, st.name, target, start, end, latency_factor=factor, error=error)
    if kind == "instances_lost":
        if st.infinite:
            raise SpecError(f"{f}.station", f"{st.name!r} has unlimited servers: no instance to lose")
        lost = _int(d.get("instances"), f"{f}.instances", lo=1) if "instances" in d else 0
        if not lost:
            raise SpecError(f"{f}.instances", "required")
        if lost > st.instances:
            raise SpecError(f"{f}.instances", f"must be <= the station's instances ({st.instances})")
        return Incident(kind, st.name, target, start, end, instances=lost)
    return Incident(kind, st.name, target, start, end)


def build_network(spec: Mapping[str, Any]) -> Network:
    """Validate a JSON-like spec and build the frozen `Network`; raises `SpecError` naming the bad field."""
    spec = _obj(spec, "", ("arrival", "sources", "stations", "routing", "duration", "drain", "incidents",
                           "windows"))
    raw_stations = spec.get("stations")
    if raw_stations is None:
        raise SpecError("stations", "required")
    raw_stations = _list(raw_stations, "stations")
    if not raw_stations:
        raise SpecError("stations", "needs at least one station")
    stations = tuple(_station(s, f"stations[{i}]") for i, s in enumerate(raw_stations))
    names = [s.name for s in stations]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise SpecError(f"stations[{i}].name", f"duplicate name {name!r}")
    n = len(stations)
    if spec.get("routing") is not None:
        routing = _matrix(spec["routing"], "routing", n)
    else:  # tandem in listed order
        routing = tuple(tuple(1.0 if j == i + 1 else 0.0 for j in range(n)) for i in range(n))

    if ("arrival" in spec) == ("sources" in spec):
        raise SpecError("arrival", "give exactly one of arrival or sources")
    if "arrival" in spec:
        sources: tuple[Source, ...] = (_source(spec["arrival"], "arrival", names, "arrivals"),)
    else:
        raw_sources = _list(spec["sources"], "sources")
        if not raw_sources:
            raise SpecError("sources", "needs at least one source")
        sources = tuple(_source(s, f"sources[{i}]", names, f"source{i}") for i, s in enumerate(raw_sources))
        src_names = [s.name for s in sources]
        for i, name in enumerate(src_names):
            if src_names.index(name) != i:
                raise SpecError(f"sources[{i}].name", f"duplicate name {name!r}")
    for i, src in enumerate(sources):
        f = "arrival" if "arrival" in spec else f"sources[{i}]"
        if src.routing is not None:
            _check_exits(src.routing, src.entry, names, f"{f}.routing")
        else:
            _check_exits(routing, src.entry, names, "routing")

    duration = _num(spec["duration"], "duration", lo=0.0, lo_open=True) if spec.get("duration") is not None else None
    drain = _num(spec.get("drain", 0.0), "drain", lo=0.0)
    incidents = tuple(_incident(raw, f"incidents[{k}]", stations, sources)
                      for k, raw in enumerate(_list(spec.get("incidents", []), "incidents")))
    return Network(stations, sources, routing, duration, drain, incidents=incidents,
                   windows=_windows(spec.get("windows")))


def _windows(raw: Any) -> tuple[tuple[str, float, float], ...]:
    """`{"spike": [t0, t1], ...}`: named windows of arrival time, in time order and not overlapping."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise SpecError("windows", f"must be an object of name: [t0, t1], got {type(raw).__name__}")
    out = []
    for name, bounds in raw.items():
        f = f"windows.{name}"
        pair = _list(bounds, f)
        if len(pair) != 2:
            raise SpecError(f, "must be [t0, t1]")
        t0 = _num(pair[0], f"{f}[0]", lo=0.0)
        t1 = _num(pair[1], f"{f}[1]", lo=0.0)
        if t1 <= t0:
            raise SpecError(f"{f}[1]", "must be > t0")
        out.append((str(name), t0, t1))
    out.sort(key=lambda w: w[1])
    for (a, _, end), (b, start, _) in zip(out, out[1:], strict=False):
        if start < end:
            raise SpecError(f"windows.{b}", f"overlaps windows.{a}")
    return tuple(out)
