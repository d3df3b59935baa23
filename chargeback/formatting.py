"""Human formatting of amounts for command output (the stored values stay exact)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.utils.html import format_html

from chargeback.money import round_cents


def money(amount: Decimal | None, currency: str = "") -> str:
    """`1,234.57 USD`: rounded to cents for display only."""
    if amount is None:
        return "-"
    text = f"{round_cents(amount):,.2f}"
    return f"{text} {currency}".strip()


def pretty_json(value: Any) -> str:
    """JSON data (tags, audit before/after) as an indented, escaped block for admin pages."""
    if value is None:
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)
