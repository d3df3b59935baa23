"""Human formatting of amounts for command output (the stored values stay exact)."""

from __future__ import annotations

from decimal import Decimal

from chargeback.money import round_cents


def money(amount: Decimal | None, currency: str = "") -> str:
    """`1,234.57 USD`: rounded to cents for display only."""
    if amount is None:
        return "-"
    text = f"{round_cents(amount):,.2f}"
    return f"{text} {currency}".strip()
