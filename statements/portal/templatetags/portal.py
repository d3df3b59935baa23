"""The portal's server-rendered bar chart (inline SVG, no script)."""

from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from chargeback.formatting import money
from statements.portal.selectors import TrendBar

register = template.Library()

BAR = 40
GAP = 12
HEIGHT = 100
LABEL = 18
SLOTS = 12  # the chart is always 12 bars wide, so one billed period is one bar, not the whole width


@register.simple_tag
def trend_chart(bars: Sequence[TrendBar], currency: str) -> SafeString:
    """Bars of the amount due per period; each bar has a title with its amount for pointer and screen readers."""
    width = max(len(bars), SLOTS) * (BAR + GAP) + GAP
    items = []
    for i, bar in enumerate(bars):
        x = GAP + i * (BAR + GAP)
        height = max(bar.height, 1 if bar.amount else 0)
        items.append((x, HEIGHT - height, BAR, height, f"{bar.period}: {money(bar.amount, currency)}",
                      x + BAR // 2, HEIGHT + LABEL - 4, bar.period[2:]))  # fmt: skip
    body = format_html_join(
        "",
        '<g class="bar"><rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>'
        '<text x="{}" y="{}" text-anchor="middle">{}</text></g>',
        items,
    )
    return format_html(
        '<svg class="portal-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="trend-title" '
        'preserveAspectRatio="xMinYMin meet"><title id="trend-title">Amount due per period in {}</title>'
        '<line class="axis" x1="0" y1="{}" x2="{}" y2="{}"></line>{}</svg>',
        width, HEIGHT + LABEL, currency, HEIGHT, width, HEIGHT, body,
    )  # fmt: skip
