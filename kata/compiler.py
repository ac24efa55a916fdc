"""Design + kata → the simulator's network spec (the same JSON the simulator's CLI reads).

How a drawing becomes a queueing network:
- every part but a traffic source is a station named by its node id; its servers are instances × concurrency, or the
  fixed capacity of an external part that the learner cannot size;
- a traffic source becomes a Poisson source entering the one part it feeds, with the kata's rate profile;
- edges become the routing matrix: a part with several outgoing edges splits evenly; a cache forwards only misses;
- a queue becomes a buffer whose consumers are the parts that drain it (their total concurrency), which is what bounds
  the load on whatever those consumers call; it may acknowledge the request (the async boundary) and retry failed
  downstream calls with exponential backoff;
- cost is instances × unit cost per hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kata.design import Design, Node
from kata.palette import Palette, PartSpec

UTILIZATION_WINDOW_SECONDS = 5.0
BACKOFF_MULTIPLIER = 2.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class StationInfo:
    id: str
    label: str
    part: str
    role: str
    servers: int | None
    cost_per_hour: float


@dataclass(frozen=True)
class CompiledDesign:
    spec: dict[str, Any]
    stations: dict[str, StationInfo]
    sources: dict[str, str]
    cost_per_hour: float

    def stations_of_role(self, role: str) -> list[StationInfo]:
        return [s for s in self.stations.values() if s.role == role]


def _service(part: PartSpec) -> dict[str, Any]:
    mean = part.service_mean_ms / 1000
    dist = part.service_distribution
    if dist == "lognormal":
        return {"dist": "lognormal", "mean": mean, "scv": part.service_scv}
    if dist == "erlang":
        return {"dist": "erlang", "mean": mean, "k": part.service_k}
    if dist == "jitter":
        return {"dist": "jitter", "base": mean, "mean_jitter": (part.jitter_mean_ms or 0) / 1000}
    return {"dist": dist, "mean": mean}


def _own_servers(node: Node) -> int:
    if node.part.fixed_servers:
        return node.part.fixed_servers
    return int(node.param("instances") * node.param("concurrency"))


def compile_design(design: Design, palette: Palette) -> CompiledDesign:
    stations = [n for n in design.topological() if n.part.role != "source"]
    index = {n.id: i for i, n in enumerate(stations)}
    servers: dict[str, int] = {n.id: _own_servers(n) for n in stations if n.part.role != "queue"}
    # A queue's consumers are the parts that drain it; walk backwards so chained queues see their consumers first.
    for node in reversed(stations):
        if node.part.role == "queue":
            servers[node.id] = sum(servers[s] for s in design.successors(node.id))

    specs, infos, total_cost = [], {}, 0.0
    for node in stations:
        part = node.part
        instances = 1 if part.fixed_servers else int(node.param("instances"))
        cost = instances * part.unit_cost_per_hour
        total_cost += cost
        station: dict[str, Any] = {
            "name": node.id,
            "servers": servers[node.id],
            "service": _service(part),
            "instances": instances,
            "unit_cost": part.unit_cost_per_hour,
        }
        if part.role != "queue":
            # A buffer only holds messages; failures belong to the parts its consumers call.
            errors: dict[str, Any] = {"base": part.base_error}
            if part.error_threshold is not None:
                errors.update(threshold=part.error_threshold, max=part.error_max, power=part.error_power,
                              window=UTILIZATION_WINDOW_SECONDS)
            station["errors"] = errors
            if part.slowdown_factor and part.error_threshold is not None:
                station["slowdown"] = {"threshold": part.error_threshold, "factor": part.slowdown_factor}
            if part.timeout_ms:
                station["timeout"] = part.timeout_ms / 1000
        else:
            station["kind"] = "buffer"
            station["capacity"] = int(node.param("capacity", 1000))
            station["acknowledge"] = bool(node.param("acknowledges", 1))
            attempts = int(node.param("max_attempts", 1))
            if attempts > 1:
                station["retry"] = {
                    "max_attempts": attempts,
                    "backoff": node.param("backoff_ms", 500) / 1000,
                    "multiplier": BACKOFF_MULTIPLIER,
                    "max_backoff": MAX_BACKOFF_SECONDS,
                }
        specs.append(station)
        infos[node.id] = StationInfo(
            id=node.id, label=node.label, part=part.key, role=part.role, servers=servers[node.id], cost_per_hour=cost
        )

    routing = [[0.0] * len(stations) for _ in stations]
    for node in stations:
        targets = design.successors(node.id)
        if not targets:
            continue
        forwarded = 1.0 - node.param("hit_ratio", 0.0) if node.part.role == "cache" else 1.0
        for target in targets:
            routing[index[node.id]][index[target]] = forwarded / len(targets)

    sources, source_specs = {}, []
    for node in design.of_role("source"):
        traffic = palette.traffic_for(node.part.key)
        assert traffic is not None, "the validator rejects sources without traffic"
        sources[node.id] = node.part.key
        source_specs.append({"name": node.id, "entry": design.successors(node.id)[0], "profile": traffic.profile()})

    spec = {
        "sources": source_specs,
        "stations": specs,
        "routing": routing,
        "duration": palette.duration,
        "drain": float(palette.drain_seconds),
    }
    return CompiledDesign(spec=spec, stations=infos, sources=sources, cost_per_hour=round(total_cost, 6))
