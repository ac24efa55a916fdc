"""Numbers and lists in the learner's words: durations in ms below a second and s above, percentages without
e-notation, counts with thousands separators and the right plural, lists joined with "and"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def duration(seconds: float) -> str:
    """114 ms, 1.2 s, 503 s, 1,250 s."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:,.0f} s"


def percent(value: float) -> str:
    """A percentage already in % units: 0 %, 0.04 %, 2.3 %, 84 %."""
    if value == 0:
        return "0 %"
    if abs(value) < 0.01:
        return "< 0.01 %"
    if abs(value) < 1:
        return f"{value:.2f} %"
    if abs(value) < 10:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def count_of(count: int, one: str, many: str) -> str:
    """1 payment, 4,012 payments."""
    return f"{count:,} {one if count == 1 else many}"


def join_and(items: Sequence[str]) -> str:
    """a; a and b; a, b and c."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def scenarios_phrase(orders: Sequence[int]) -> str:
    """scenario 2; scenarios 1 and 3; scenarios 1, 2 and 3."""
    numbers = [str(o) for o in orders]
    return ("scenario " if len(numbers) == 1 else "scenarios ") + join_and(numbers)


def overload(label: str, flag: dict[str, Any]) -> str:
    """A station's `unstable` figure in words: "Payment gateway was overloaded from 312 s to 890 s: offered 1.3×
    its capacity (178/s against 100/s, slowed down by its own load)"."""
    t0, t1 = flag["window"]
    offered, capacity = float(flag["offered"]), float(flag["capacity"] or 0.0)
    reason = str(flag.get("reason", ""))
    if reason.startswith("offered load") and capacity > 0:
        slowed = ", slowed down by its own load" if "slowed down" in reason else ""
        text = (f"{label} was overloaded from {t0:,.0f} s to {t1:,.0f} s: offered {offered / capacity:.1f}× its "
                f"capacity ({offered:,.0f}/s against {capacity:,.0f}/s{slowed})")
        if "at the end" in reason:
            text += ", and never caught up before the end"
        return text
    state = "still growing" if "growing" in reason else "not cleared"
    return (f"{label} never caught up: from {t0:,.0f} s on it took {offered:,.0f}/s and passed on {capacity:,.0f}/s, "
            f"and its backlog was {state} at the end")
