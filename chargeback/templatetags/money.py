"""`{{ amount|money:currency }}`: display an exact amount in cents through the one rounding helper."""

from __future__ import annotations

from decimal import Decimal

from django import template

from chargeback.formatting import money as format_money
from chargeback.formatting import money_html

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    return format_money(amount, currency or "")


@register.filter
def money_exact(amount: Decimal | None, currency: str = "") -> str:
    """Like `money`, with the exact stored amount on hover (a `title` attribute)."""
    return money_html(amount, currency or "")
