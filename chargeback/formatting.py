"""Human formatting of amounts for command output (the stored values stay exact)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.utils.html import format_html, format_html_join

from chargeback.money import round_cents


def money(amount: Decimal | None, currency: str = "") -> str:
    """`1,234.57 USD`: rounded to cents for display only."""
    if amount is None:
        return "-"
    text = f"{round_cents(amount):,.2f}"
    return f"{text} {currency}".strip()


def money_html(amount: Decimal | None, currency: str = "") -> str:
    """Money for admin pages: to the cent with its currency code, the exact stored value on hover."""
    if amount is None:
        return "-"
    exact = f"{amount.normalize():f} {currency}".strip()
    return format_html('<span class="oc-money" title="{}">{}</span>', exact, money(amount, currency))


def json_table(value: Any) -> str:
    """JSON data (tags, audit before/after) as a key–value table; nested values stay compact JSON."""
    if value is None or value == {} or value == []:
        return "—"
    if not isinstance(value, dict):
        return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False))
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td>{}</td></tr>',
        ((key, _scalar(value[key])) for key in sorted(value, key=str)),
    )
    return format_html('<table class="oc-kv"><tbody>{}</tbody></table>', rows)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
