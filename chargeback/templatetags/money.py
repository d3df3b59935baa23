"""`{{ amount|money:currency }}`: display an exact amount in cents through the one rounding helper."""

from __future__ import annotations

from decimal import Decimal

from django import template

from chargeback.formatting import money as format_money

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    return format_money(amount, currency or "")
