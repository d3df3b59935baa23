"""Filters for statement PDFs and emails."""

from __future__ import annotations

import re
from decimal import Decimal

from django import template

register = template.Library()

BREAKABLE_MIN = 30
_BREAK_AFTER = re.compile(r"([@./_\-:])")


@register.filter
def breakable(value: object) -> str:
    """Long emails, ids and ARNs may wrap after @ . / _ - : instead of overlapping their neighbours.

    Short values are left alone so that they copy out of the PDF exactly as written.
    """
    text = str(value or "")
    if len(text) <= BREAKABLE_MIN:
        return text
    return _BREAK_AFTER.sub("\\1\u200b", text)


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
