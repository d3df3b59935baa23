"""A budget picture drawn on the server: month-to-date spend, the budget line and the forecast.

Plain SVG built from numbers (every text escaped), so the portal needs no JavaScript and no
build step. The x axis is the days of the month; the spend line climbs by charge day; a dashed
line runs from the newest charge day to the month-end forecast; a horizontal line marks the budget.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from billing.selectors.budgets import BudgetStatus
from chargeback.formatting import money

WIDTH, HEIGHT = 480, 180
LEFT, RIGHT, TOP, BOTTOM = 8, 8, 16, 24


def _xy(day: float, value: Decimal, days: int, top: Decimal) -> tuple[float, float]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = LEFT + plot_w * (day / days)
    y = TOP + plot_h * (1 - float(value / top)) if top > 0 else TOP + plot_h
    return round(x, 1), round(y, 1)


def budget_chart(status: BudgetStatus) -> SafeString:
    """The SVG of one budget's month; empty when the budget's span is unknown."""
    rate, budget = status.run_rate, status.budget
    if rate is None or status.span is None:
        return SafeString("")
    base = status.spend - rate.spend  # an award budget: what the award spent before this month
    days = rate.days_in_month
    points = [(0.0, base)] + [(float(day), base + cum) for day, cum in rate.cumulative]
    top = max([budget.amount, status.forecast, *[v for _, v in points]]) * Decimal("1.1")
    spend_path = " ".join("{},{}".format(*_xy(d, v, days, top)) for d, v in points)
    last_day, last_value = points[-1]
    fx1, fy1 = _xy(last_day, last_value, days, top)
    fx2, fy2 = _xy(days, status.forecast, days, top)
    bx1, by = _xy(0, budget.amount, days, top)
    bx2, _ = _xy(days, budget.amount, days, top)
    currency = budget.currency
    label = (
        f"{budget.subject}, {status.span.label}: spend {money(status.spend, currency)} of a budget of "
        f"{money(budget.amount, currency)}; forecast {money(status.forecast, currency)} by the end of {rate.month}"
    )
    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="oc-budget-chart oc-budget-{}" viewBox="0 0 {} {}" '
            'width="{}" height="{}" role="img" aria-label="{}" data-testid="budget-chart">',
            status.level,
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT,
            label,
        ),  # fmt: skip
        format_html("<title>{}</title>", label),
        format_html(
            '<line class="budget" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#b00020" stroke-width="1.5"/>',
            bx1,
            by,
            bx2,
            by,
        ),  # fmt: skip
        format_html(
            '<text x="{}" y="{}" font-size="11" fill="#b00020">budget {}</text>',
            LEFT + 2,
            by - 4,
            money(budget.amount, currency),
        ),  # fmt: skip
        format_html('<polyline class="spend" points="{}" fill="none" stroke="#1f5fa8" stroke-width="2"/>', spend_path),
        format_html(
            '<line class="forecast" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1f5fa8" stroke-width="1.5" '
            'stroke-dasharray="5,4"/>',
            fx1,
            fy1,
            fx2,
            fy2,
        ),  # fmt: skip
        format_html(
            '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#1f5fa8">forecast {}</text>',
            WIDTH - RIGHT,
            max(fy2 - 4, 11),
            money(status.forecast, currency),
        ),  # fmt: skip
        format_html('<text x="{}" y="{}" font-size="10" fill="#555">1</text>', LEFT, HEIGHT - 6),
        format_html(
            '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#555">{}</text>',
            WIDTH - RIGHT,
            HEIGHT - 6,
            f"{rate.month}-{days:02d}",
        ),  # fmt: skip
        mark_safe("</svg>"),  # noqa: S308 (a constant)
    ]
    return SafeString("".join(str(p) for p in parts))
