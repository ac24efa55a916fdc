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
           dash: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"width": 2}
    if color:
        line["color"] = color
    if dash:
        line["dash"] = dash
    return {"type": "scatter", "mode": "lines", "name": name, "x": [], "y": [], "line": line,
            "meta": {"path": list(path), "scale": scale}}


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
    error_target_pct: float | None,
) -> dict[str, dict[str, Any]]:
    """Empty figures for a run: `stations` are (node id, label, role) in network order."""
    utilization = [
        _trace(label, ["u", node], scale=100, color=COLORS[i % len(COLORS)])
        for i, (node, label, _) in enumerate(stations)
    ]
    queued = [(node, label) for node, label, role in stations if role in {"queue", "external"}] or [
        (node, label) for node, label, _ in stations
    ]
    return {
        "accept": {
            "data": [_trace("p50", ["acc", 0], color="#8c959f"), _trace("p95", ["acc", 1], color="#1f6feb"),
                     _trace("p99", ["acc", 2], color="#0a3069")],
            "layout": _layout("Accept latency", "ms", threshold=accept_target_ms,
                              threshold_label=f"{accept_target_ms:g} ms target" if accept_target_ms else ""),
        },
        "settle": {
            "data": [_trace("p50", ["set", 0], scale=0.001, color="#8c959f"),
                     _trace("p95", ["set", 1], scale=0.001, color="#1f6feb"),
                     _trace("p99", ["set", 2], scale=0.001, color="#0a3069")],
            "layout": _layout("Settlement latency", "s"),
        },
        "errors": {
            "data": [_trace("error rate so far", ["err"], color="#cf222e")],
            "layout": _layout("Error rate", "%", threshold=error_target_pct,
                              threshold_label=f"{error_target_pct:g} % budget" if error_target_pct else ""),
        },
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
            trace["x"] = [p["t"] for p in points]
            trace["y"] = [None if (v := _value(p, path)) is None else round(v * scale, 4) for p in points]
    return figures
