"""Filters for statement PDFs and emails."""

from __future__ import annotations

import re
from decimal import Decimal

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

register = template.Library()

_BREAK_AFTER = re.compile(r"(?<=[@./_\-:])")


@register.filter
def breakable(value: object, width: int = 36) -> str:
    """Long emails, ids and ARNs wrapped onto lines of at most `width` characters.

    The PDF engine only wraps at spaces, so a long address would run into the next column;
    this breaks after @ . / _ - : (or anywhere, for a run with none of them), leaving the
    characters themselves untouched so they copy out of the PDF as written.
    """
    text = str(value or "")
    if len(text) <= width:
        return conditional_escape(text)
    lines: list[str] = []
    current = ""
    for piece in _BREAK_AFTER.split(text):
        while len(piece) > width:  # no break point for too long: cut it
            if current:
                lines.append(current)
                current = ""
            lines.append(piece[:width])
            piece = piece[width:]
        if len(current) + len(piece) > width:
            lines.append(current)
            current = ""
        current += piece
    if current:
        lines.append(current)
    return mark_safe("<br/>".join(conditional_escape(line) for line in lines))  # noqa: S308 - each line escaped


@register.filter
def cents(value: Decimal | None) -> str:
    """An amount already in cents, with thousands separators (negative with a minus sign)."""
    if value is None:
        return ""
    return f"{value:,.2f}"


@register.filter
def qty(value: Decimal | None) -> str:
    """A usage quantity without trailing zeros."""
    if value is None:
        return ""
    text = f"{value:,.4f}".rstrip("0").rstrip(".")
    return text or "0"


@register.filter
def get_item(mapping: dict[object, object], key: object) -> object:
    return mapping.get(key)
