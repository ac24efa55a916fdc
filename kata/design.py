"""The design document (nodes and edges as JSON) and its one validator.

A design is what the learner draws:
    {"nodes": [{"id": "api", "part": "intent_api", "params": {"instances": 3}, "x": 240, "y": 120}, ...],
     "edges": [{"source": "lb", "target": "api"}, ...]}
Edges follow a request: an edge A → B means A hands the request to B. A part with several outgoing edges splits
its traffic evenly between them (its part type's fan-out says whether it may: "split", or "single" for a part that
feeds at most one); a cache sends only its misses on. Which parts a part may feed is the kata's rule (`feeds`), and
an edge it forbids is refused with the kata's reason, in the learner's words.

`design_validate` returns a `Design` or raises `DesignError` listing every problem it found, each with the path of
the field (`nodes[2].params.instances`) and, where there is one, the node it concerns. Invalid designs never run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from kata.palette import Palette, PartSpec, TrafficSpec

MAX_NODES = 40
MAX_EDGES = 120
MAX_COORDINATE = 10_000
MAX_ID_LENGTH = 40
_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}$")


def design_limits() -> dict[str, int]:
    """The size limits of a design, for the editor page to read (one set, here)."""
    return {"max_nodes": MAX_NODES, "max_edges": MAX_EDGES, "max_coordinate": MAX_COORDINATE,
            "max_id_length": MAX_ID_LENGTH}


@dataclass(frozen=True)
class DesignProblem:
    path: str
    message: str
    node: str | None = None
    # What the learner calls the thing at `path` ("Payment-intent API · Instances"); "" when the message names it.
    subject: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    @property
    def text(self) -> str:
        """The problem in the learner's words: the part by its label, never `nodes[i]`."""
        return f"{self.subject}: {self.message}" if self.subject else self.message


class DesignError(ValueError):
    def __init__(self, problems: list[DesignProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Node:
    id: str
    part: PartSpec
    params: dict[str, float]
    x: float
    y: float

    @property
    def label(self) -> str:
        return self.part.name if self.id == self.part.key else f"{self.part.name} ({self.id})"

    def param(self, name: str, fallback: float = 1.0) -> float:
        return self.params.get(name, fallback)


@dataclass(frozen=True)
class Design:
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def successors(self, node_id: str) -> list[str]:
        return [target for source, target in self.edges if source == node_id]

    def predecessors(self, node_id: str) -> list[str]:
        return [source for source, target in self.edges if target == node_id]

    def of_role(self, role: str) -> Iterator[Node]:
        return (n for n in self.nodes if n.part.role == role)

    def reachable(self, start: str) -> list[str]:
        """Every node a request entering at `start` can reach after it, nearest first."""
        seen: list[str] = []
        frontier = list(self.successors(start))
        while frontier:
            current = frontier.pop(0)
            if current not in seen:
                seen.append(current)
                frontier.extend(self.successors(current))
        return seen

    def sync_path(self, start: str) -> list[str]:
        """Nodes a request from `start` passes before it is answered: up to (not into) an acknowledging queue."""
        seen: list[str] = []
        frontier = list(self.successors(start))
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            node = self.node(current)
            if node.part.role == "queue" and node.param("acknowledges", 1):
                continue
            seen.append(current)
            frontier.extend(self.successors(current))
        return seen

    def reached_from(self, starts: Iterator[str] | list[str]) -> set[str]:
        """The nodes `starts` and every node a request entering at one of them can reach."""
        reached: set[str] = set()
        for start in starts:
            reached.add(start)
            reached.update(self.reachable(start))
        return reached

    def waiting_queue(self, start: str) -> str | None:
        """The first queue a request from `start` waits through before it is answered (one that does not
        acknowledge), or None."""
        return next((n for n in self.sync_path(start) if self.node(n).part.role == "queue"), None)

    def nearest_upstream(self, node_id: str, role: str) -> str | None:
        """The nearest part of `role` a request passes before `node_id` (breadth first, against the edges)."""
        frontier, seen = list(self.predecessors(node_id)), set()
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            seen.add(current)
            if self.node(current).part.role == role:
                return current
            frontier.extend(self.predecessors(current))
        return None

    def cycle(self) -> list[str] | None:
        """A cycle of the connections as the node ids along it (the first repeated at the end), or None."""
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node_id: str) -> list[str] | None:
            state[node_id] = 1
            stack.append(node_id)
            for target in self.successors(node_id):
                if state.get(target) == 1:
                    return stack[stack.index(target):] + [target]
                if target not in state:
                    found = visit(target)
                    if found:
                        return found
            stack.pop()
            state[node_id] = 2
            return None

        for node in self.nodes:
            if node.id not in state:
                found = visit(node.id)
                if found:
                    return found
        return None

    def topological(self) -> list[Node]:
        """Nodes in an order where every edge points forward (the validator guarantees there is no cycle)."""
        indegree = {n.id: 0 for n in self.nodes}
        for _, target in self.edges:
            indegree[target] += 1
        ready = [n.id for n in self.nodes if indegree[n.id] == 0]
        order: list[str] = []
        while ready:
            current = ready.pop(0)
            order.append(current)
            for target in self.successors(current):
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        return [self.node(node_id) for node_id in order]

    def step_labels(self, keys: tuple[str, ...], palette: Palette) -> str:
        """The parts that complete a step (any part of `keys`) by their labels here, else by the kata's names."""
        labels = [n.label for n in self.nodes if n.part.key in keys]
        if not labels:
            labels = [p.name for k in keys if (p := palette.part(k)) is not None]
        return " or ".join(labels)

    @classmethod
    def from_saved(cls, document: dict[str, Any], palette: Palette) -> Design:
        """A design document saved after `design_validate` accepted it, read back without checking it again (to
        label what was run). Parts the kata has since removed are left out, with their connections."""
        nodes = []
        for raw in document.get("nodes", []):
            part = palette.part(raw.get("part", ""))
            if part is not None:
                nodes.append(Node(id=raw["id"], part=part, params={**part.defaults(), **raw.get("params", {})},
                                  x=float(raw.get("x", 0)), y=float(raw.get("y", 0))))
        ids = {n.id for n in nodes}
        edges = tuple((e["source"], e["target"]) for e in document.get("edges", [])
                      if e.get("source") in ids and e.get("target") in ids)
        return cls(nodes=tuple(nodes), edges=edges)

    def to_document(self) -> dict[str, Any]:
        return {
            "nodes": [
                {"id": n.id, "part": n.part.key, "params": dict(n.params), "x": n.x, "y": n.y} for n in self.nodes
            ],
            "edges": [{"source": s, "target": t} for s, t in self.edges],
        }


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float (JSON allows any number of digits)
        return False


def _shown(value: Any) -> str:
    """A value as a message may quote it: short, and never a repr of a whole nested structure."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and not isinstance(value, bool) and not _is_number(value):
        return "a number too large"
    return repr(value)[:40]


def _names(parts: Any) -> str:
    return ", ".join(sorted(p.key for p in parts))


def _validate_params(
    index: int, node_id: str, part: PartSpec, raw: Any, problems: list[DesignProblem]
) -> dict[str, float]:
    params = part.defaults()
    if raw is None:
        return params
    if not isinstance(raw, dict):
        problems.append(DesignProblem(f"nodes[{index}].params", "must be an object of parameter → number", node_id))
        return params
    for name, value in raw.items():
        name = str(name)[:40]
        path = f"nodes[{index}].params.{name}"
        spec = part.parameter(name)
        if spec is None:
            allowed = ", ".join(p.name for p in part.parameters) or "none"
            problems.append(DesignProblem(path, f"'{part.name}' has no parameter '{name}' (it has: {allowed})",
                                          node_id))
            continue
        if isinstance(value, bool):
            value = 1.0 if value else 0.0
        if not _is_number(value):
            problems.append(DesignProblem(path, f"must be a number, not {_shown(value)}", node_id))
            continue
        if not spec.learner_editable and value != spec.default:
            problems.append(DesignProblem(path, f"is fixed at {spec.default:g} for '{part.name}'", node_id))
            continue
        if not spec.minimum <= value <= spec.maximum:
            problems.append(DesignProblem(path, f"{value:g} is out of range: choose {spec.minimum:g} to "
                                                f"{spec.maximum:g}", node_id))
            continue
        if not _on_step(value, spec.minimum, spec.step):
            step_text = "a whole number" if spec.step == 1 else f"a step of {spec.step:g} from {spec.minimum:g}"
            problems.append(DesignProblem(path, f"{value:g} is not on the allowed steps: choose {step_text}", node_id))
            continue
        params[spec.name] = float(value)
    return params


def _on_step(value: float, minimum: float, step: float) -> bool:
    if step <= 0:
        return True
    steps = (value - minimum) / step
    return abs(steps - round(steps)) < 1e-6


def _check_document(document: Any) -> tuple[list[Any], list[Any]]:
    """The document's node and edge lists, or `DesignError` when it is not a design of a size we read."""
    if not isinstance(document, dict):
        raise DesignError([DesignProblem("", "a design must be a JSON object with 'nodes' and 'edges'")])
    raw_nodes, raw_edges = document.get("nodes"), document.get("edges", [])
    problems: list[DesignProblem] = []
    if not isinstance(raw_nodes, list):
        problems.append(DesignProblem("nodes", "must be a list of parts"))
    if not isinstance(raw_edges, list):
        problems.append(DesignProblem("edges", "must be a list of connections"))
    if problems:
        raise DesignError(problems)
    assert isinstance(raw_nodes, list) and isinstance(raw_edges, list)
    if len(raw_nodes) > MAX_NODES:
        raise DesignError([DesignProblem("nodes", f"at most {MAX_NODES} parts per design (got {len(raw_nodes)})")])
    if len(raw_edges) > MAX_EDGES:
        raise DesignError(
            [DesignProblem("edges", f"at most {MAX_EDGES} connections per design (got {len(raw_edges)})")]
        )
    return raw_nodes, raw_edges


def _node(index: int, raw: Any, taken: set[str], palette: Palette, problems: list[DesignProblem]) -> Node | None:
    path = f"nodes[{index}]"
    if not isinstance(raw, dict):
        problems.append(DesignProblem(path, "must be an object with id, part, params, x, y"))
        return None
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not _ID.match(node_id):
        problems.append(DesignProblem(f"{path}.id", f"must be 1–{MAX_ID_LENGTH} letters, digits, '-' or '_'"))
        return None
    if node_id in taken:
        problems.append(DesignProblem(f"{path}.id", f"'{node_id}' is used by another part", node_id))
        return None
    part = palette.part(raw.get("part")) if isinstance(raw.get("part"), str) else None
    if part is None:
        problems.append(
            DesignProblem(
                f"{path}.part",
                f"unknown part {_shown(raw.get('part'))} (choose from: {_names(palette.parts)})",
                node_id,
            )
        )
        return None
    coordinates = []
    for axis in ("x", "y"):
        value = raw.get(axis, 0)
        if not _is_number(value) or not 0 <= value <= MAX_COORDINATE:
            problems.append(DesignProblem(f"{path}.{axis}", f"must be a number from 0 to {MAX_COORDINATE}", node_id))
            value = 0
        coordinates.append(float(value))
    params = _validate_params(index, node_id, part, raw.get("params"), problems)
    return Node(id=node_id, part=part, params=params, x=coordinates[0], y=coordinates[1])


def _edge_ends(path: str, raw: Any, by_id: dict[str, Node], problems: list[DesignProblem]) -> tuple[str, str] | None:
    if not isinstance(raw, dict):
        problems.append(DesignProblem(path, "must be an object with source and target"))
        return None
    ends: list[str | None] = []
    for end in ("source", "target"):
        value = raw.get(end)
        if not isinstance(value, str):
            problems.append(DesignProblem(f"{path}.{end}", f"must be the id of a part, not {_shown(value)}"))
            value = None
        elif value not in by_id:
            problems.append(DesignProblem(f"{path}.{end}", f"no part with id {_shown(value)} (dangling connection)"))
        ends.append(value)
    source, target = ends
    if source is None or target is None or source not in by_id or target not in by_id:
        return None
    return source, target


def _edges(
    raw_edges: list[Any], by_id: dict[str, Node], palette: Palette, problems: list[DesignProblem]
) -> list[tuple[str, str]]:
    edges: list[tuple[str, str]] = []
    for index, raw in enumerate(raw_edges):
        path = f"edges[{index}]"
        ends = _edge_ends(path, raw, by_id, problems)
        if ends is None:
            continue
        source, target = ends
        if source == target:
            problems.append(DesignProblem(path, f"'{source}' cannot connect to itself", source))
        elif (source, target) in edges:
            problems.append(DesignProblem(path, f"duplicate connection {source} → {target}", source))
        elif by_id[target].part.role == "source":
            problems.append(
                DesignProblem(
                    f"{path}.target", f"'{by_id[target].label}' is a traffic source; nothing connects into it", target
                )
            )
        elif not by_id[source].part.may_feed(by_id[target].part.key):
            problems.append(
                DesignProblem(path, connection_refusal(by_id[source].part, by_id[target].part, palette), source)
            )
        else:
            edges.append(ends)
    return edges


_PATH = re.compile(r"^(nodes|edges)\[(\d+)\](?:\.params\.(\w+))?")


def _subject(problem: DesignProblem, raw_nodes: list[Any], palette: Palette) -> str:
    """The learner's name for what a problem's path points at; "" when the message already names it."""
    match = _PATH.match(problem.path)
    if match is None or problem.message.startswith(("'", "no path from '")):
        return ""
    kind, index, parameter = match.group(1), int(match.group(2)), match.group(3)
    if kind == "edges":
        return f"Connection {index + 1}"
    raw = raw_nodes[index] if index < len(raw_nodes) and isinstance(raw_nodes[index], dict) else {}
    part = palette.part(raw.get("part")) if isinstance(raw.get("part"), str) else None
    node_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    if part is None:
        return f"Part {index + 1}" + (f" ({node_id})" if node_id else "")
    label = part.name if node_id in (None, part.key) else f"{part.name} ({node_id})"
    spec = part.parameter(parameter) if parameter else None
    return f"{label} · {spec.label}" if spec is not None else label


def _worded(problems: list[DesignProblem], raw_nodes: list[Any], palette: Palette) -> DesignError:
    return DesignError([replace(p, subject=_subject(p, raw_nodes, palette)) for p in problems])


def design_validate(document: Any, palette: Palette) -> Design:
    """Check a design document against a kata's palette; return the design or raise `DesignError`."""
    raw_nodes, raw_edges = _check_document(document)
    problems: list[DesignProblem] = []
    nodes: list[Node] = []
    for index, raw in enumerate(raw_nodes):
        node = _node(index, raw, {n.id for n in nodes}, palette, problems)
        if node is not None:
            nodes.append(node)
    edges = _edges(raw_edges, {n.id: n for n in nodes}, palette, problems)
    if problems:
        raise _worded(problems, list(raw_nodes), palette)

    design = Design(nodes=tuple(nodes), edges=tuple(edges))
    _check_structure(design, palette, problems)
    if problems:
        raise _worded(problems, list(raw_nodes), palette)
    return design


def connection_refusal(source: PartSpec, target: PartSpec, palette: Palette) -> str:
    """Why `source` may not feed `target`, in the kata's words, with what it may feed."""
    allowed = [p.name for key in (source.feeds or ()) if (p := palette.part(key)) is not None]
    reason = source.feeds_reason or f"'{source.name}' cannot hand requests to '{target.name}'."
    if allowed:
        return f"{reason} ({source.name} may connect to: {', '.join(allowed)}.)"
    return f"{reason} ({source.name} ends the path: it connects to nothing.)"


def _check_parts(design: Design, palette: Palette, problems: list[DesignProblem]) -> None:
    """Each part within its own rules (fan-out, slots per core) and the kata's counts of each part."""
    for index, node in enumerate(design.nodes):
        path = f"nodes[{index}]"
        outgoing = design.successors(node.id)
        if node.part.fanout == "single" and node.part.role != "source" and len(outgoing) > 1:
            problems.append(
                DesignProblem(path, f"'{node.label}' feeds at most one part (it feeds {len(outgoing)})", node.id)
            )
        per_core = node.part.concurrency_per_core
        if node.part.has_cores and per_core and node.param("concurrency") > node.param("cores") * per_core:
            most = int(node.param("cores") * per_core)
            problems.append(
                DesignProblem(
                    f"{path}.params.concurrency",
                    f"{node.param('concurrency'):g} requests in flight need more cores: {node.param('cores'):g} "
                    f"{'core holds' if node.param('cores') == 1 else 'cores hold'} at most {most} "
                    f"({per_core} per core). Raise cores or lower concurrency.",
                    node.id,
                )
            )
    for part in palette.parts:
        count = sum(1 for n in design.nodes if n.part.key == part.key)
        if part.required and count == 0:
            problems.append(DesignProblem("nodes", f"the design needs a '{part.name}' ({part.key})"))
        if count > part.max_per_design:
            problems.append(
                DesignProblem("nodes", f"at most {part.max_per_design} '{part.name}' per design (got {count})")
            )


def _check_source(design: Design, palette: Palette, node: Node, path: str, problems: list[DesignProblem]) -> None:
    """A traffic source has its kata's traffic, feeds one part and reaches every step its requests must pass."""
    traffic = palette.traffic_for(node.part.key)
    if traffic is None:
        problems.append(DesignProblem(f"{path}.part", f"the kata defines no traffic for '{node.part.name}'", node.id))
    else:
        _check_steps(design, palette, node, traffic, path, problems)
    if len(design.successors(node.id)) != 1:
        problems.append(
            DesignProblem(
                path, f"'{node.label}' must feed exactly one part (it feeds {len(design.successors(node.id))})", node.id
            )
        )


def _check_steps(design: Design, palette: Palette, node: Node, traffic: TrafficSpec, path: str,
                 problems: list[DesignProblem]) -> None:
    reached = design.reachable(node.id)
    for step in traffic.complete_through:
        names = " or ".join(f"'{p.name}'" for key in step if (p := palette.part(key)) is not None) or str(step)
        if not any(n.part.key in step for n in design.nodes):
            problems.append(DesignProblem(
                "nodes", f"the design needs {names}: every one of the {traffic.noun_many} from '{node.label}' must "
                         f"pass it", node.id))
        elif not any(design.node(n).part.key in step for n in reached):
            problems.append(DesignProblem(
                path, f"no path from '{node.label}' reaches {names}: its {traffic.noun_many} must pass it", node.id))


def _check_structure(design: Design, palette: Palette, problems: list[DesignProblem]) -> None:
    index_of = {n.id: i for i, n in enumerate(design.nodes)}
    _check_parts(design, palette, problems)
    sources = list(design.of_role("source"))
    if not sources:
        problems.append(DesignProblem("nodes", "the design needs a traffic source to send requests into it"))
    for node in sources:
        _check_source(design, palette, node, f"nodes[{index_of[node.id]}]", problems)
    for node in design.of_role("queue"):
        if not design.successors(node.id):
            problems.append(DesignProblem(f"nodes[{index_of[node.id]}]", f"'{node.label}' has no consumer: connect it "
                                          f"to the part that drains it", node.id))
    cycle = design.cycle()
    if cycle:
        problems.append(DesignProblem("edges", "the connections form a cycle " + " → ".join(cycle)
                                      + "; requests must flow one way", cycle[0]))
        return
    reached = design.reached_from([n.id for n in sources])
    for node in design.nodes:
        if node.id not in reached:
            problems.append(DesignProblem(f"nodes[{index_of[node.id]}]",
                                          f"'{node.label}' is not connected to any traffic source", node.id))
