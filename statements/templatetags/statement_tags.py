"""Filters for statement emails and admin pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


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
