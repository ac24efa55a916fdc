from __future__ import annotations

from django import template

from kata.brief import brief_render
from kata.palette import Palette

register = template.Library()


@register.filter
def brief(text: str, palette: Palette) -> str:
    """An instructor's brief text with its placeholders ({threshold:1}, {rule:1}, {budget}, {scenarios}) filled."""
    return brief_render(str(text or ""), palette)
