"""The shape of a draft: what autosave may store, whatever JSON the request carried.

A draft may be an unfinished design (unknown parts, dangling connections, values out of range: `design_validate`
tells the learner about those), but not a different kind of document. Its shape is checked field by field, so every
stored draft can be read back, validated and drawn:

    {"nodes": [{"id": str, "part": str, "params": {str: number | bool}, "x": number, "y": number}, ...],
     "edges": [{"source": str, "target": str}, ...]}

with at most MAX_NODES nodes, MAX_EDGES edges and 20 parameters per node (kata/design.py's limits), strings of at
most MAX_ID_LENGTH characters and numbers a float
holds, at most 1e9 in size. `params`, `x` and `y` may be left out; nothing else may be added.
"""

from __future__ import annotations

import math
from typing import Any

from kata.design import MAX_EDGES, MAX_ID_LENGTH, MAX_NODES, DesignProblem

MAX_PARAMS = 20
MAX_STRING = MAX_ID_LENGTH  # ids and part keys: the validator's own limit
MAX_MAGNITUDE = 1e9
NODE_FIELDS = ("id", "part", "params", "x", "y")
EDGE_FIELDS = ("source", "target")


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE
    except OverflowError:  # an integer too large for a float
        return False


def _string(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_STRING


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _unknown_fields(path: str, noun: str, raw: dict[str, Any], allowed: tuple[str, ...]) -> list[DesignProblem]:
    extra = sorted(repr(str(key)[:MAX_STRING]) for key in raw if key not in allowed)
    if not extra:
        return []
    return [DesignProblem(path, f"unknown field {', '.join(extra[:3])} (a {noun} has: {', '.join(allowed)})")]


def _node_problems(index: int, raw: Any) -> list[DesignProblem]:
    path = f"nodes[{index}]"
    if not isinstance(raw, dict):
        return [DesignProblem(path, f"must be an object with {', '.join(NODE_FIELDS)}, not {_kind(raw)}")]
    problems = _unknown_fields(path, "part", raw, NODE_FIELDS)
    for field in ("id", "part"):
        if not _string(raw.get(field)):
            problems.append(DesignProblem(f"{path}.{field}", f"must be a string of at most {MAX_STRING} characters, "
                                                             f"not {_kind(raw.get(field))}"))
    for axis in ("x", "y"):
        if axis in raw and not _number(raw[axis]):
            problems.append(DesignProblem(f"{path}.{axis}", f"must be a number of at most {MAX_MAGNITUDE:g}, "
                                                            f"not {_kind(raw[axis])}"))
    params = raw.get("params")
    if params is None:
        return problems
    if not isinstance(params, dict) or len(params) > MAX_PARAMS:
        return [*problems, DesignProblem(f"{path}.params", f"must be an object of at most {MAX_PARAMS} "
                                                           "parameter → number")]
    for name, value in params.items():
        label = str(name)[:MAX_STRING]
        if len(name) > MAX_STRING:
            problems.append(DesignProblem(f"{path}.params", f"a parameter name is longer than {MAX_STRING} characters"))
        elif not (_number(value) or isinstance(value, bool)):
            problems.append(
                DesignProblem(f"{path}.params.{label}", f"must be a number or a boolean, not {_kind(value)}")
            )
    return problems


def _edge_problems(index: int, raw: Any) -> list[DesignProblem]:
    path = f"edges[{index}]"
    if not isinstance(raw, dict):
        return [DesignProblem(path, f"must be an object with source and target, not {_kind(raw)}")]
    problems = _unknown_fields(path, "connection", raw, EDGE_FIELDS)
    for end in EDGE_FIELDS:
        if not _string(raw.get(end)):
            problems.append(
                DesignProblem(f"{path}.{end}", f"must be the id of a part (a string), not {_kind(raw.get(end))}")
            )
    return problems


def draft_shape_problems(document: Any) -> list[DesignProblem]:
    """Why `document` cannot be stored as a draft (empty when it can). Total: never raises on any value."""
    if not isinstance(document, dict):
        return [DesignProblem(
            "", f"a design is a JSON object with a 'nodes' list and an 'edges' list, not {_kind(document)}"
        )]
    problems = [DesignProblem(str(key)[:MAX_STRING], "unknown field (a design has: nodes, edges)")
                for key in document if key not in ("nodes", "edges")][:3]
    nodes, edges = document.get("nodes"), document.get("edges")
    if not isinstance(nodes, list):
        problems.append(DesignProblem("nodes", f"must be a list of parts, not {_kind(nodes)}"))
    elif len(nodes) > MAX_NODES:
        problems.append(DesignProblem("nodes", f"at most {MAX_NODES} parts per design (got {len(nodes)})"))
    else:
        problems += [p for index, raw in enumerate(nodes) for p in _node_problems(index, raw)]
    if not isinstance(edges, list):
        problems.append(DesignProblem("edges", f"must be a list of connections, not {_kind(edges)}"))
    elif len(edges) > MAX_EDGES:
        problems.append(DesignProblem("edges", f"at most {MAX_EDGES} connections per design (got {len(edges)})"))
    else:
        problems += [p for index, raw in enumerate(edges) for p in _edge_problems(index, raw)]
    return problems
