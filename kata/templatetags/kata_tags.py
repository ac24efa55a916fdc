from __future__ import annotations

from django import template

from kata.format import duration, percent
from kata.whatif import incident_label

register = template.Library()


@register.filter
def pct(value: float | None, digits: int = 0) -> str:
    """0.734 → '73 %' (a fraction shown as a percentage)."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f} %"


@register.filter
def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


@register.filter
def signed(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+,.4g}"


@register.filter
def change(value: float | None, unit: str) -> str:
    """A difference in its scenario's unit, signed, never in e-notation: −503 s, +0.12 %, 0 ms."""
    if value is None:
        return "—"
    if value == 0:
        return measure(0.0, unit)
    return ("+" if value > 0 else "−") + measure(abs(value), unit)


@register.filter
def make_list_words(value: str) -> list[str]:
    return value.split()


@register.filter
def measure(value: float | None, unit: str) -> str:
    """A scenario's value in its unit, readable at any size: 498107 ms → '498 s', 0.0381 % → '0.04 %'."""
    if value is None:
        return "—"
    if unit == "ms":  # ms below a second, s above: 117 ms, 1.4 s, 498 s
        return duration(value / 1000) if abs(value) >= 1000 else f"{value:,.0f} ms"
    if unit == "$/h":
        return f"${value:,.2f}/h"
    if unit in ("payments", ""):
        return f"{value:,.0f}{' ' + unit if unit else ''}"
    return f"{value:,.2f} {unit}" if abs(value) < 100 else f"{value:,.0f} {unit}"


@register.filter
def duration_ms(value: float | None) -> str:
    """Milliseconds in the learner's units: 114 ms, 1.2 s."""
    if value is None:
        return "—"
    return duration(value / 1000)


@register.filter
def share(value: float | None) -> str:
    """A percentage already in % units, without e-notation: 0.17 %, < 0.01 %, 44 %."""
    if value is None:
        return "—"
    return percent(value)


@register.filter
def incident_text(incident: dict[str, object]) -> str:
    """A what-if's incident in words: 'gateway brown-out latency ×2, 420–540 s'."""
    return incident_label(incident)


@register.filter
def words(name: str) -> str:
    """'spike_rate' → 'spike rate' (a field's name as the page says it)."""
    return str(name).replace("_", " ")
