from __future__ import annotations

from django import template

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
def make_list_words(value: str) -> list[str]:
    return value.split()
