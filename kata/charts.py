"""Plotly figures as pure functions of plain data. Templates embed the dicts; the page only extends traces.

Every trace carries `meta.path` (where its y value sits in a streamed point) and `meta.scale`, so the live page
can append points to any figure without knowing what the figure shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LINE = {"color": "#cf222e", "width": 1.5, "dash": "dash"}
COLORS = ["#1f6feb", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#0a3069", "#6e7781", "#bc4c00", "#116329", "#953800"]


def _trace(name: str, path: Sequence[str | int], *, scale: float = 1.0, color: str | None = None,
           dash: str | None = None, fallback: Sequence[str | int] | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"width": 2}
    if color:
        line["color"] = color
    if dash:
        line["dash"] = dash
    meta: dict[str, Any] = {"path": list(path), "scale": scale}
    if fallback is not None:
        meta["fallback"] = list(fallback)  # where a series saved before per-source points kept the (mixed) value
    return {"type": "scatter", "mode": "lines", "name": name, "x": [], "y": [], "line": line, "meta": meta}


def _layout(title: str, y_title: str, *, threshold: float | None = None, threshold_label: str = "",
            y_range: list[float] | None = None) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 50, "r": 12, "t": 36, "b": 30},
        "height": 260,
        "xaxis": {"ticksuffix": " s", "title": {"text": ""}},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "x": 0, "y": -0.12, "yanchor": "top", "font": {"size": 10}},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#fbfcfd",
        "shapes": [],
        "annotations": [],
    }
    if y_range:
        layout["yaxis"]["range"] = y_range
    if threshold is not None:
        layout["shapes"].append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
                                 "line": LINE})
        layout["annotations"].append({"xref": "paper", "x": 1, "y": threshold, "text": threshold_label,
                                      "showarrow": False, "xanchor": "right", "yanchor": "bottom",
                                      "font": {"size": 11, "color": LINE["color"]}})
    return layout


def live_figures(
    *, stations: Sequence[tuple[str, str, str]], budget: float, accept_target_ms: float | None,
    error_target_pct: float | None, sources: Sequence[tuple[str, str]] = (), graded: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Empty figures for a run: `stations` are (node id, label, role) in network order; `sources` (node id, label)
    the traffic sources, `graded` the one the scenarios grade: the latency and error charts show its requests alone
    (the figures the grade reads), and every other source gets a chart of its own."""
    graded_label = next((label for node, label in sources if node == graded), "")
    own = f": {graded_label}" if graded_label else ""

    def of_graded(name: str, path: list[str | int], **style: Any) -> dict[str, Any]:
        """A trace of the graded source's figure at `path` (the mixed one in a series saved before sources)."""
        if graded is None:
            return _trace(name, path, **style)
        return _trace(name, ["src", graded, *path], fallback=path, **style)
    utilization = [
        _trace(label, ["u", node], scale=100, color=COLORS[i % len(COLORS)])
        for i, (node, label, _) in enumerate(stations)
    ]
    queued = [(node, label) for node, label, role in stations if role in {"queue", "external"}] or [
        (node, label) for node, label, _ in stations
    ]
    return {
        "accept": {
            "data": [of_graded(name, ["acc", k], color=color)
                     for k, (name, color) in enumerate((("p50", "#8c959f"), ("p95", "#1f6feb"), ("p99", "#0a3069")))],
            "layout": _layout(f"Accept latency{own}", "ms", threshold=accept_target_ms,
                              threshold_label=f"{accept_target_ms:g} ms target" if accept_target_ms else ""),
        },
        "settle": {
            "data": [of_graded(name, ["set", k], scale=0.001, color=color)
                     for k, (name, color) in enumerate((("p50", "#8c959f"), ("p95", "#1f6feb"), ("p99", "#0a3069")))],
            "layout": _layout(f"Settlement latency{own}", "s"),
        },
        "errors": {
            "data": [of_graded("met an error so far" if graded else "error rate so far", ["err"], color="#cf222e")],
            "layout": _layout(f"Error rate{own}", "%", threshold=error_target_pct,
                              threshold_label=f"{error_target_pct:g} % budget" if error_target_pct else ""),
        },
        "others": _others([(node, label) for node, label in sources if node != graded]),
        "utilization": {
            "data": utilization,
            "layout": {**_layout("Utilization per part", "%", threshold=80, threshold_label="80 %", y_range=[0, 105]),
                       # Many parts: the legend goes beside the plot, which spans the whole row.
                       "legend": {"orientation": "v", "x": 1.01, "y": 1, "font": {"size": 10}},
                       "margin": {"l": 50, "r": 8, "t": 36, "b": 30}},
        },
        "queues": {
            "data": [_trace(label, ["q", node], color=COLORS[i % len(COLORS)])
                     for i, (node, label) in enumerate(queued)],
            "layout": _layout("Queue depth", "waiting"),
        },
        "cost": {
            "data": [_trace("cost per hour", ["cost"], color="#1a7f37")],
            "layout": _layout("Cost", "$ / hour", threshold=budget, threshold_label=f"${budget:.2f}/h budget"),
        },
    }


BAND = {"fillcolor": "rgba(191, 135, 0, 0.16)", "line": {"width": 0}, "layer": "below"}


def incident_bands(figures: dict[str, dict[str, Any]], windows: Sequence[tuple[float, float, str]]
                   ) -> dict[str, dict[str, Any]]:
    """Every figure with a band over each incident's window on its time axis, labelled once (the top chart's)."""
    for k, figure in enumerate(figures.values()):
        layout = figure["layout"]
        for i, (start, end, label) in enumerate(windows):
            layout["shapes"].append({"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": end, "y0": 0,
                                     "y1": 1, "name": label, **BAND})
            if k == 0:
                # At the foot of the band: the top of a chart holds its target's label.
                layout["annotations"].append({"xref": "x", "yref": "paper", "x": start, "y": 0.02 + 0.09 * i,
                                              "text": label, "showarrow": False, "xanchor": "left",
                                              "yanchor": "bottom", "font": {"size": 10, "color": "#7d4e00"},
                                              "bgcolor": "rgba(255, 255, 255, 0.7)"})
        layout["meta"] = {"incidents": [{"start": s, "end": e, "label": label} for s, e, label in windows]}
    return figures


def _others(others: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The traffic the scenarios do not grade (ClearPay's status reads), on its own: its latency per step."""
    if len(others) == 1:
        node, label = others[0]
        data = [_trace(name, ["src", node, "acc", k], color=color)
                for k, (name, color) in enumerate((("p50", "#8c959f"), ("p95", "#1f6feb"), ("p99", "#0a3069")))]
    else:
        data = [_trace(f"{label} p99", ["src", node, "acc", 2], color=COLORS[i % len(COLORS)])
                for i, (node, label) in enumerate(others)]
    title = " and ".join(label for _, label in others) or "Other traffic"
    return {"data": data, "layout": _layout(f"{title}: latency (not graded)", "ms")}


def _value(point: dict[str, Any], path: Sequence[str | int]) -> Any:
    value: Any = point
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)  # type: ignore[call-overload]
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return None
    return value


def fill(figures: dict[str, dict[str, Any]], points: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same figures with every trace filled from a series of points."""
    for figure in figures.values():
        for trace in figure["data"]:
            path, scale = trace["meta"]["path"], trace["meta"]["scale"]
            fallback = trace["meta"].get("fallback")
            trace["x"] = [p["t"] for p in points]
            values = [_value(p, path) if fallback is None or "src" in p else _value(p, fallback) for p in points]
            trace["y"] = [None if v is None else round(v * scale, 4) for v in values]
    return figures
