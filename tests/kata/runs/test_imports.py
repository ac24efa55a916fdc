"""The run machinery's import graph: no cycle, and the consumer stays off the execution stack."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXECUTION = ["kata.runs.execute", "kata.runs.seeds", "kata.runs.pool", "kata.runs.submit", "kata.runs.worker",
             "kata.tasks", "kata.grading", "simulator"]


def _modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "kata").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Every `kata` module and the `kata` modules it imports, at the top or inside a function."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from kata.runs import pool` imports the module kata.runs.pool; `from kata.runs.lease import x`
                # imports kata.runs.lease.
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                           for alias in node.names]
            else:
                continue
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph` (one path per strongly connected component of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_run_machinery_imports_no_cycle():
    graph = import_graph()
    runs = [name for name in graph if name.startswith("kata.runs")]
    assert {"kata.runs.publish", "kata.runs.lease", "kata.runs.execute", "kata.runs.pool", "kata.runs.submit",
            "kata.runs.worker"} <= set(runs)
    touching = [c for c in cycles(graph) if any(m.startswith("kata.runs") or m in ("kata.tasks", "kata.services",
                                                                                   "kata.consumers") for m in c)]
    assert touching == []
    assert "kata.runs.submit" not in graph["kata.runs.execute"], "one execution knows nothing of where it runs"
    assert not graph["kata.runs.pool"], "the seed processes import no Django and nothing of kata"


def test_the_consumer_imports_no_execution_module():
    script = ("import json, sys, django; django.setup(); import kata.consumers; "
              f"print(json.dumps([m for m in {EXECUTION!r} if m in sys.modules]))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert "kata.runs.publish" in import_graph()["kata.consumers"]
