"""Design + kata → the simulator's network spec (the same JSON the simulator's CLI reads).

How a drawing becomes a queueing network:
- every part but a traffic source is a station named by its node id. A part with a `cores` parameter does its CPU
  work on instances × cores servers and holds at most instances × concurrency requests (its slots: a request beyond
  them is refused, an error); a part without one has instances × concurrency servers; an external part that the
  learner cannot size has its fixed capacity;
- a traffic source becomes a Poisson source entering the one part it feeds, with the kata's rate profile (every
  source runs to the end of the kata's traffic), its caller's deadline, and the steps a request must pass to be done
  (`complete_through`: in ClearPay, a successful call of the external part and then the database write);
- edges become the routing matrix: a part with several outgoing edges splits evenly; a cache forwards only misses,
  and its hit ratio follows from its TTL under the kata's workload where the part defines one (see `ttl_hit_ratio`);
- a queue becomes a buffer whose consumers are the parts that drain it (their total slots), which is what bounds
  the load on whatever those consumers call; writing into it takes the part's service time and may fail at its base
  error; it may acknowledge the request (the async boundary) and retry failed downstream calls with backoff;
- the resilience patterns a kata may offer as part parameters (0 = off, which compiles to nothing): on a queue,
  retry jitter and a retry budget (token bucket of BUDGET_BURST), a dead-letter queue, an idempotency key on the
  retried calls and a circuit breaker on its consumers (BREAKER_* settings); on any other part a caller deadline
  (its work left behind is cancelled) and load shedding at its queue;
- cost is instances × (unit cost + cores × core cost) per hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kata.design import Design, Node, design_validate
from kata.palette import Palette, PartSpec

UTILIZATION_WINDOW_SECONDS = 5.0
BACKOFF_MULTIPLIER = 2.0
MAX_BACKOFF_SECONDS = 30.0
BUDGET_BURST = 100.0  # tokens a queue's retry budget starts with and holds at most
BREAKER_WINDOW_SECONDS = 10.0
BREAKER_MIN_CALLS = 20
BREAKER_OPEN_SECONDS = 5.0
BREAKER_PROBES = 3


@dataclass(frozen=True)
class StationInfo:
    id: str
    label: str
    part: str
    role: str
    servers: int | None
    cost_per_hour: float
    slots: int | None = None
    hit_ratio: float | None = None


@dataclass(frozen=True)
class CompiledDesign:
    spec: dict[str, Any]
    stations: dict[str, StationInfo]
    sources: dict[str, str]
    cost_per_hour: float
    design: Design  # what was compiled: grading asks it graph questions beside the network's figures

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
    """Servers of the part's own work: its cores where it has them, else its concurrency."""
    if node.part.fixed_servers:
        return node.part.fixed_servers
    per_instance = node.param("cores") if node.part.has_cores else node.param("concurrency")
    return int(node.param("instances") * per_instance)


def node_slots(node: Node) -> int:
    """Requests the part holds at once (instances × concurrency), which is what it offers a queue as consumers."""
    if node.part.fixed_servers:
        return node.part.fixed_servers
    return int(node.param("instances") * node.param("concurrency"))


def node_cost_per_hour(node: Node) -> float:
    part = node.part
    if part.fixed_servers:
        return part.unit_cost_per_hour
    cores = node.param("cores") if part.has_cores else 0.0
    return node.param("instances") * (part.unit_cost_per_hour + cores * part.core_cost_per_hour)


def ttl_hit_ratio(*, rate: float, ttl: float, keys: int, zipf: float) -> float:
    """Hit ratio of a TTL cache (an entry is stored on a miss and expires `ttl` later) under Poisson reads at `rate`
    over `keys` keys whose popularity is Zipf(`zipf`): a key read at λ hits with probability λ·ttl / (1 + λ·ttl)
    (each miss opens a window of `ttl` in which every read of it hits), weighted by its share of the reads."""
    if rate <= 0 or ttl <= 0 or keys <= 0:
        return 0.0
    weights = [k ** -zipf for k in range(1, keys + 1)]
    total = sum(weights)
    hit = 0.0
    for w in weights:
        share = w / total
        x = rate * share * ttl
        hit += share * x / (1.0 + x)
    return hit


def hit_ratios(design: Design, palette: Palette) -> dict[str, float]:
    """Each cache's hit ratio: its `hit_ratio` parameter, or from its TTL at the normal rate of reads reaching it."""
    rates = {n.id: 0.0 for n in design.nodes}
    ratios: dict[str, float] = {}
    for node in design.topological():
        if node.part.role == "source":
            traffic = palette.traffic_for(node.part.key)
            rates[node.id] = traffic.base_rate if traffic else 0.0
        forwarded = rates[node.id]
        if node.part.role == "cache":
            part = node.part
            if part.cache_keys and part.cache_zipf is not None and part.parameter("ttl_seconds") is not None:
                ratio = ttl_hit_ratio(rate=rates[node.id], ttl=node.param("ttl_seconds"), keys=part.cache_keys,
                                      zipf=part.cache_zipf)
            else:
                ratio = node.param("hit_ratio", 0.0)
            ratios[node.id] = round(ratio, 6)
            forwarded *= 1.0 - ratio
        targets = design.successors(node.id)
        for target in targets:
            rates[target] += forwarded / len(targets)
    return ratios


def _servers_and_slots(design: Design, stations: list[Node]) -> tuple[dict[str, int], dict[str, int]]:
    servers: dict[str, int] = {n.id: _own_servers(n) for n in stations if n.part.role != "queue"}
    slots: dict[str, int] = {n.id: node_slots(n) for n in stations if n.part.role != "queue"}
    # A queue's consumers are the slots of the parts that drain it; walk backwards so chained queues see their
    # consumers first.
    for node in reversed(stations):
        if node.part.role == "queue":
            servers[node.id] = slots[node.id] = sum(slots[s] for s in design.successors(node.id))
    return servers, slots


def _station_errors(part: PartSpec, station: dict[str, Any]) -> None:
    """What may go wrong at a part's own work: its error curve, slowdown and time-out."""
    errors: dict[str, Any] = {"base": part.base_error}
    if part.error_threshold is not None:
        errors.update(threshold=part.error_threshold, max=part.error_max, power=part.error_power,
                      window=UTILIZATION_WINDOW_SECONDS)
    station["errors"] = errors
    if part.slowdown_factor and part.error_threshold is not None:
        station["slowdown"] = {"threshold": part.error_threshold, "factor": part.slowdown_factor}
    if part.timeout_ms:
        station["timeout"] = part.timeout_ms / 1000
    if part.errors_after_work:
        station["errors_after_work"] = part.errors_after_work


def _buffer(node: Node, station: dict[str, Any]) -> None:
    """A queue as a buffer: its write, capacity, acknowledgement and retries."""
    part = node.part
    station["kind"] = "buffer"
    if part.service_mean_ms > 0:
        station["enqueue"] = _service(part)
        if part.base_error:
            station["enqueue_error"] = part.base_error
    station["capacity"] = int(node.param("capacity", 1000))
    station["acknowledge"] = bool(node.param("acknowledges", 1))
    attempts = int(node.param("max_attempts", 1))
    if attempts > 1:
        retry: dict[str, Any] = {
            "max_attempts": attempts,
            "backoff": node.param("backoff_ms", 500) / 1000,
            "multiplier": BACKOFF_MULTIPLIER,
            "max_backoff": MAX_BACKOFF_SECONDS,
        }
        if node.param("retry_jitter", 0):
            retry["jitter"] = float(node.param("retry_jitter"))
        if node.param("retry_budget", 0):
            retry["budget"] = {"ratio": float(node.param("retry_budget")), "burst": BUDGET_BURST}
        station["retry"] = retry
    if node.param("dead_letter", 0):
        station["dead_letter"] = f"{node.id}-dlq"
    if node.param("idempotency_key", 0):
        station["idempotency_key"] = True
    if node.param("breaker_threshold", 0):
        station["breaker"] = {"failure_rate": float(node.param("breaker_threshold")),
                              "window": BREAKER_WINDOW_SECONDS, "min_calls": BREAKER_MIN_CALLS,
                              "open_for": BREAKER_OPEN_SECONDS, "probes": BREAKER_PROBES}


def _station_spec(node: Node, servers: int, slots: int) -> dict[str, Any]:
    part = node.part
    instances = 1 if part.fixed_servers else int(node.param("instances"))
    cost = node_cost_per_hour(node)
    station: dict[str, Any] = {
        "name": node.id,
        "servers": servers,
        "instances": instances,
        "unit_cost": cost / instances if instances else 0.0,
    }
    if part.role == "queue":
        _buffer(node, station)
        return station
    station["service"] = _service(part)
    if part.has_cores and not part.fixed_servers:
        station["capacity"] = slots
    # A buffer only holds messages; failures belong to the parts its consumers call.
    _station_errors(part, station)
    if node.param("deadline_ms", 0):
        station["deadline"] = node.param("deadline_ms") / 1000
    if node.param("shed_wait_ms", 0):
        station["shed_wait"] = node.param("shed_wait_ms") / 1000
    return station


def _routing(design: Design, stations: list[Node], ratios: dict[str, float]) -> list[list[float]]:
    index = {n.id: i for i, n in enumerate(stations)}
    routing = [[0.0] * len(stations) for _ in stations]
    for node in stations:
        targets = design.successors(node.id)
        if not targets:
            continue
        forwarded = 1.0 - ratios[node.id] if node.part.role == "cache" else 1.0
        for target in targets:
            routing[index[node.id]][index[target]] = forwarded / len(targets)
    return routing


def _source_specs(
    design: Design, stations: list[Node], palette: Palette
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    sources: dict[str, str] = {}
    source_specs: list[dict[str, Any]] = []
    horizon = palette.duration
    for node in design.of_role("source"):
        traffic = palette.traffic_for(node.part.key)
        assert traffic is not None, "the validator rejects sources without traffic"
        sources[node.id] = node.part.key
        source: dict[str, Any] = {"name": node.id, "entry": design.successors(node.id)[0],
                                  "profile": traffic.profile(horizon)}
        if traffic.deadline_ms:
            source["deadline"] = traffic.deadline_ms / 1000
        if traffic.complete_through:
            source["complete_through"] = [
                [n.id for n in stations if n.part.key in step] or [f"missing:{step[0]}"]
                for step in traffic.complete_through
            ]
        source_specs.append(source)
    return sources, source_specs


def compile_design(design: Design, palette: Palette) -> CompiledDesign:
    stations = [n for n in design.topological() if n.part.role != "source"]
    servers, slots = _servers_and_slots(design, stations)
    ratios = hit_ratios(design, palette)
    specs = [_station_spec(node, servers[node.id], slots[node.id]) for node in stations]
    infos = {
        node.id: StationInfo(
            id=node.id, label=node.label, part=node.part.key, role=node.part.role, servers=servers[node.id],
            cost_per_hour=node_cost_per_hour(node), slots=slots[node.id], hit_ratio=ratios.get(node.id),
        )
        for node in stations
    }
    total_cost = sum(info.cost_per_hour for info in infos.values())
    routing = _routing(design, stations, ratios)
    sources, source_specs = _source_specs(design, stations, palette)

    spec = {
        "sources": source_specs,
        "stations": specs,
        "routing": routing,
        "duration": palette.duration,
        "drain": float(palette.drain_seconds),
    }
    graded = palette.graded_traffic
    spike = graded.spike_window if graded is not None else None
    if spike is not None:
        # The results give the graded traffic's figures for the payday spike alone, beside the whole run's.
        spec["windows"] = {"spike": [spike[0], spike[1]]}
    return CompiledDesign(spec=spec, stations=infos, sources=sources, cost_per_hour=round(total_cost, 6),
                          design=design)


def compile_document(document: Any, palette: Palette) -> CompiledDesign:
    """A saved design document, validated and compiled: the one way from what a learner drew to a network."""
    return compile_design(design_validate(document, palette), palette)
