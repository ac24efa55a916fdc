"""A design drawn as a small read-only SVG on the server (the admin's reference and must-fail designs), from the
same coordinates the workspace's editor uses: no script, so it shows under any page's CSP."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from kata.palette import Palette

NODE_W, NODE_H = 140, 52
_ROLE_COLOUR = {"source": "#8250df", "load_balancer": "#57606a", "service": "#1f6feb", "worker": "#0969da",
                "queue": "#bf8700", "external": "#cf222e", "database": "#1a7f37", "cache": "#1a7f37"}


def _number(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


# A part's look when `marks` picks it out (a trace's hops: visited, or where a visit failed); unmarked parts fade.
_MARKS = {"ok": ("#1f6feb", "4"), "error": ("#cf222e", "4")}


def design_svg(document: Any, palette: Palette | None = None, marks: dict[str, str] | None = None) -> SafeString:
    """The design as an SVG diagram: a box per part (its label, part name and parameters), an arrow per edge.

    `marks` (node id -> "ok" or "error") highlights those parts and fades the others (a trace's path)."""
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list) or not document["nodes"]:
        return format_html('<p class="help">{}</p>', "No design yet.")
    nodes = {}
    for raw in document["nodes"][:60]:
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            nodes[raw["id"]] = (_number(raw.get("x")), _number(raw.get("y")), raw)
    if not nodes:
        return format_html('<p class="help">{}</p>', "No parts in this design.")
    xs = [x for x, _, _ in nodes.values()]
    ys = [y for _, y, _ in nodes.values()]
    left, top = min(xs) - 20, min(ys) - 20
    width, height = max(xs) - left + NODE_W + 20, max(ys) - top + NODE_H + 20
    edges = []
    for edge in document.get("edges", [])[:200] if isinstance(document.get("edges"), list) else []:
        if not isinstance(edge, dict) or edge.get("source") not in nodes or edge.get("target") not in nodes:
            continue
        (x1, y1, _), (x2, y2, _) = nodes[edge["source"]], nodes[edge["target"]]
        edges.append((x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2))
    boxes = []
    for node_id, (x, y, raw) in nodes.items():
        part = palette.part(str(raw.get("part", ""))) if palette else None
        params = raw.get("params") if isinstance(raw.get("params"), dict) else {}
        shown = " · ".join(f"{k[:4]} {_number(v):g}" for k, v in list(params.items())[:4])
        mark = (marks or {}).get(node_id, "none" if marks else "")
        colour, stroke = _MARKS.get(mark, (_ROLE_COLOUR.get(part.role if part else "", "#57606a"), "2"))
        boxes.append((x, y, colour, str(raw.get("label") or node_id), part.name if part else str(raw.get("part", "?")),
                      shown, node_id, f" diagram__node--{mark}" if mark else "", stroke,
                      ' opacity="0.45"' if mark == "none" else ""))
    arrows = format_html_join(
        "", '<line x1="{}" y1="{}" x2="{}" y2="{}" class="diagram__edge" marker-end="url(#diagram-arrow)"/>',
        ((f"{a:.0f}", f"{b:.0f}", f"{c:.0f}", f"{d:.0f}") for a, b, c, d in edges))
    parts = format_html_join(
        "", '<g class="diagram__node{13}" data-node="{12}"{15}><rect x="{0}" y="{1}" width="{6}" height="{7}" rx="6" '
            'fill="#fff" stroke="{2}" stroke-width="{14}"/><rect x="{0}" y="{1}" width="5" height="{7}" fill="{2}"/>'
            '<text x="{8}" y="{9}" font-weight="600">{3}</text><text x="{8}" y="{10}" class="diagram__muted">{4}'
            '</text><text x="{8}" y="{11}" class="diagram__muted">{5}</text></g>',
        ((f"{x:.0f}", f"{y:.0f}", colour, label[:22], name[:26], shown[:34], NODE_W, NODE_H, f"{x + 10:.0f}",
          f"{y + 16:.0f}", f"{y + 31:.0f}", f"{y + 45:.0f}", node_id, css, stroke, mark_safe(fade))
         for x, y, colour, label, name, shown, node_id, css, stroke, fade in boxes))
    return format_html(
        '<svg class="diagram" role="img" aria-label="{}" viewBox="{} {} {} {}" width="{}" '
        'style="max-width:100%;height:auto;font:11px system-ui,sans-serif"><defs><marker id="diagram-arrow" '
        'viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs><g stroke="#57606a" stroke-width="1.5">'
        '{}</g>{}</svg>',
        f"Diagram of the design: {len(nodes)} parts", f"{left:.0f}", f"{top:.0f}", f"{width:.0f}",
        f"{height:.0f}", f"{min(width, 1100):.0f}", arrows, parts)
