"""A run's request traces: recorded after the run (its seeds replayed with tracing on), listed, picked for a failing
scenario, and drawn as a waterfall.

Recording (`run_traces_record`, a write) replays the streamed seed and every failing scenario's worst seed on the pure
engine with tracing on (`kata.runs.tracing`), in the warm pool in the web server or right there in a worker, after the
grade is out; a replay whose results are not the run's, to the last bit, is refused, so a trace is always of the run
it is shown with. What is kept is bounded (`tracing.CAPS` per traced seed and graded source).

The reads and the figure are pure functions of the stored dict (`trace_lists`, `scenario_trace`, `waterfall_figure`,
`trace_marks`), so a page, a test or a command reads them alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.urls import reverse
from django.utils import timezone

from kata.compiler import CompiledDesign
from kata.models import Run, RunTraces
from kata.palette import Palette
from kata.runs.tracing import HOP_FIELDS, results_digest
from kata.versions import palette_for_run

log = logging.getLogger(__name__)

# A strategy: (spec, seed, sources) -> {"digest", "traces"}; see kata.runs.seeds.trace_in_pool / trace_here.
TraceSeed = Callable[[dict[str, Any], int, list[str]], dict[str, Any]]
Nouns = Callable[[str, int], str]  # (source, count) -> "payments"

# The lists a run page shows, in order: (category, title with {nouns}).
LISTS = (
    ("slowest", "{count} slowest {nouns}"),
    ("slow_accept", "slowest {nouns} to acknowledge"),
    ("error", "{nouns} answered with an error"),
    ("failed", "{nouns} that failed after acknowledgement"),
    ("dropped", "dropped {nouns}"),
    ("recovered", "{nouns} a retry recovered"),
    ("sample", "a uniform sample"),
)
# The categories that show a scenario's failure, best first, by the scenario's metric.
SCENARIO_CATEGORIES: dict[str, tuple[str, ...]] = {
    "accept_p99_ms": ("slow_accept",),
    "settle_p99_ms": ("slowest",),
    "dropped": ("dropped", "failed"),  # out of retries after acknowledgement counts as dropped too
    "error_rate_pct": ("error", "failed", "recovered"),
    "recovery": ("failed", "error", "recovered"),
    "peak_utilization_pct": ("slowest",),
}
HOP_COLOURS = {"ok": "#1f6feb", "error": "#cf222e", "timeout": "#cf222e", "rejected": "#cf222e",
               "gave up": "#bc4c00", "unfinished": "#6e7781"}


class ReplayDiffered(Exception):
    """The traced replay's results are not the run's: its traces would be of another run."""


def graded_sources(compiled: CompiledDesign, palette: Palette) -> list[str]:
    """The sources (design node ids) whose requests the scenarios grade: their traffic's, else the kata's default."""
    keys = {s.source for s in palette.scenarios if s.source}
    if not keys and palette.graded_traffic is not None:
        keys = {palette.graded_traffic.part}
    nodes = [node for node, key in compiled.sources.items() if key in keys]
    return nodes or list(compiled.sources)[:1]


def traced_seeds(seeds: list[int], grade: dict[str, Any]) -> list[int]:
    """The streamed seed, then each failing scenario's worst seed (at most every seed once)."""
    out = [seeds[0]]
    for scenario in grade.get("scenarios", []):
        worst = scenario.get("worst_seed")
        if not scenario.get("passed") and worst in seeds and worst not in out:
            out.append(worst)
    return out


def run_traces_record(*, run_id: int, compiled: CompiledDesign, results: dict[int, dict[str, Any]],
                      grade: dict[str, Any], trace: TraceSeed) -> RunTraces:
    """Replay the run's seeds that matter with tracing on and keep their traces (or say why not)."""
    run = Run.objects.select_related("version", "attempt__kata").get(pk=run_id)
    seeds = traced_seeds([int(s) for s in run.seeds], grade)
    spec = compiled.spec
    record, _ = RunTraces.objects.update_or_create(run_id=run_id, defaults={
        "status": RunTraces.Status.RECORDING, "seeds": seeds, "data": {}, "error_message": "", "finished_at": None})
    sources = graded_sources(compiled, palette_for_run(run))
    data: dict[str, Any] = {}
    try:
        for seed in seeds:
            answer = trace(spec, seed, sources)
            if answer["digest"] != results_digest(results[seed]):
                raise ReplayDiffered(f"the replay of seed {seed} gave other results than the run")
            data[str(seed)] = answer["traces"]
    except Exception as exc:  # a run's grade stands without its traces: say why they are missing
        log.exception("run %s: its traces could not be recorded", run_id)
        record.status, record.error_message = RunTraces.Status.FAILED, f"The traces could not be recorded: {exc}"
    else:
        record.status, record.data = RunTraces.Status.READY, data
    record.finished_at = timezone.now()
    record.save(update_fields=["status", "data", "error_message", "finished_at"])
    return record


# ---------------------------------------------------------------------------------------------- reads (pure)
def trace_get(data: dict[str, Any], seed: int, number: int) -> dict[str, Any] | None:
    """One stored trace, its hops as dicts (`tracing.HOP_FIELDS`)."""
    trace = data.get(str(seed), {}).get("traces", {}).get(str(number))
    if trace is None:
        return None
    return {**trace, "hops": [dict(zip(HOP_FIELDS, hop, strict=True)) for hop in trace["hops"]]}


def trace_url(run_id: int, seed: int, number: int) -> str:
    return reverse("trace_detail", args=[run_id, seed, number])


def trace_lists(data: dict[str, Any], seed: int, *, run_id: int, nouns: Nouns,
                count: int = 20) -> list[dict[str, Any]]:
    """The run page's lists for one traced seed: per graded source and category, its title and rows."""
    seeded = data.get(str(seed), {})
    lists = []
    for source, categories in seeded.get("kept", {}).items():
        for category, title in LISTS:
            numbers = categories.get(category, [])
            if not numbers:
                continue
            rows = [_row(seeded["traces"][str(n)], seed, run_id) for n in numbers[:count]]
            seen = seeded.get("seen", {}).get(source, {}).get(category, len(numbers))
            lists.append({"source": source, "category": category, "rows": rows, "seen": seen,
                          "title": title.format(count=len(rows), nouns=nouns(source, len(rows))).capitalize()})
    return lists


def _row(trace: dict[str, Any], seed: int, run_id: int) -> dict[str, Any]:
    return {"number": trace["number"], "outcome": trace["outcome"], "reason": trace["reason"],
            "sojourn_ms": 1000 * trace["sojourn"], "accept_ms": None if trace["accept"] is None else
            1000 * trace["accept"], "hops": len(trace["hops"]), "entered": trace["entered"],
            "url": trace_url(run_id, seed, trace["number"])}


def scenario_trace(data: dict[str, Any], scenario: dict[str, Any],
                   prefer: frozenset[str] = frozenset()) -> tuple[int, int] | None:
    """(seed, number) of one request that shows why `scenario` failed: from its worst seed when traced, and among
    the kept ones one whose failed visit was at a part of `prefer` (the external parts, say) when there is one."""
    categories = SCENARIO_CATEGORIES.get(scenario.get("metric", ""), ())
    seeds = [str(scenario.get("worst_seed")), *data]
    for seed in seeds:
        seeded = data.get(seed, {})
        for category in categories:
            for kept in seeded.get("kept", {}).values():
                numbers = kept.get(category, [])
                if not numbers:
                    continue
                for n in numbers if prefer else ():
                    hops = seeded.get("traces", {}).get(str(n), {}).get("hops", [])
                    if any(hop[0] in prefer and hop[4] != "ok" for hop in hops):
                        return int(seed), int(n)
                return int(seed), int(numbers[0])
    return None


def trace_marks(trace: dict[str, Any]) -> dict[str, str]:
    """Each visited part's mark on the diagram: "error" where a visit failed, else "ok"."""
    marks: dict[str, str] = {}
    for hop in trace["hops"]:
        bad = hop["result"] not in ("ok",)
        marks[hop["station"]] = "error" if bad or marks.get(hop["station"]) == "error" else "ok"
    return marks


def waterfall_figure(trace: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """A request's hops as a waterfall (Plotly): per hop its wait and its service, in ms from the request's arrival;
    a retry's backoff before its hop; the acknowledgement as a line."""
    t0 = trace["entered"]
    names: list[str] = []
    bars: dict[str, dict[str, list[Any]]] = {}

    def bar(kind: str, row: str, start: float, end: float, colour: str, text: str) -> None:
        b = bars.setdefault(kind, {"y": [], "x": [], "base": [], "color": [], "text": []})
        b["y"].append(row)
        b["base"].append(round(1000 * (start - t0), 3))
        b["x"].append(max(round(1000 * (end - start), 3), 0.4))  # a zero-time hop still shows
        b["color"].append(colour)
        b["text"].append(text)

    for i, hop in enumerate(trace["hops"], start=1):
        label = labels.get(hop["station"], hop["station"])
        attempt = f" · try {hop['attempt']}" if hop.get("attempt") else ""
        row = f"{i}. {label}{attempt}"
        names.append(row)
        arrived, started, ended = hop["arrived"], hop["started"], hop["ended"]
        if hop.get("backoff"):
            bar("backoff", row, arrived - hop["backoff"], arrived, "#d0d7de", f"backoff {1000 * hop['backoff']:.0f} ms")
        end = ended if ended is not None else trace["ended"]
        if started is not None:
            bar("wait", row, arrived, started, "#f2cc60", f"waited {1000 * (started - arrived):.1f} ms")
            bar("service", row, started, end, HOP_COLOURS.get(hop["result"], "#1f6feb"),
                f"{hop['result']} after {1000 * (end - started):.1f} ms")
        else:
            bar("service", row, arrived, end, HOP_COLOURS.get(hop["result"], "#cf222e"), hop["result"])
    titles = {"backoff": "retry backoff", "wait": "waiting", "service": "in service (red: failed)"}
    data = [{"type": "bar", "orientation": "h", "name": titles[kind], "y": b["y"], "x": b["x"], "base": b["base"],
             "marker": {"color": b["color"]}, "text": b["text"], "hoverinfo": "text+y", "textposition": "none"}
            for kind, b in bars.items()]
    shapes, annotations = [], []
    if trace.get("accept") is not None:
        x = round(1000 * trace["accept"], 3)
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"color": "#1a7f37", "width": 1.5, "dash": "dot"}})
        annotations.append({"xref": "x", "yref": "paper", "x": x, "y": 1, "text": f"acknowledged {x:.0f} ms",
                            "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                            "font": {"size": 11, "color": "#1a7f37"}})
    return {"data": data, "layout": {
        "barmode": "overlay", "height": 80 + 28 * max(1, len(names)),
        "margin": {"l": 190, "r": 16, "t": 28, "b": 40},
        "xaxis": {"title": {"text": "ms since it arrived"}, "rangemode": "tozero"},
        "yaxis": {"autorange": "reversed", "categoryorder": "array", "categoryarray": names, "automargin": True},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": 10}},
        "shapes": shapes, "annotations": annotations,
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#fbfcfd",
    }}
