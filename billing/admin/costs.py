"""Cost for a chosen period on the project and PI lists: billed, list, discount, charges.

The period is a list filter (the newest period unless another is chosen); the columns are the
billed figures of `billing.selectors.people.with_period_cost`, sortable by billed cost. Each row
links to its finance page (cost per period, statements, flags and decisions), which the admin
site adds (`admin:ocb_project_finance`, `admin:ocb_pi_finance`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from billing.models import BillingPeriod
from billing.selectors.people import cost_periods, with_period_cost
from chargeback.formatting import money


class CostPeriodFilter(admin.SimpleListFilter):
    """The period whose cost the list shows; never "all" (costs of different months are not added)."""

    title = "cost in period"
    parameter_name = "cost_period"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(p, p) for p in cost_periods()]

    def value(self) -> str | None:
        chosen = super().value()
        known = [p for p, _ in self.lookup_choices]
        if chosen in known:
            return chosen
        return known[0] if known else None

    def choices(self, changelist: Any) -> Iterator[Any]:
        current = self.value()
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        period = BillingPeriod.objects.filter(period=self.value()).first()
        if period is None:
            return queryset
        by = "project" if queryset.model._meta.model_name == "project" else "pi"
        return with_period_cost(queryset, period=period, by=by)


class CostColumnsMixin:
    """Columns of the billed figures of the chosen period, and a link to the finance page."""

    finance_url_name = ""  # set by the admin that uses the mixin

    @admin.display(description="Charges", ordering="cost_charges")
    def cost_charges(self, obj: Any) -> int:
        return getattr(obj, "cost_charges", None) or 0

    @admin.display(description="Billed", ordering="cost_rank")
    def cost_billed(self, obj: Any) -> str:
        return _amount(obj, getattr(obj, "cost_billed", None))

    @admin.display(description="List")
    def cost_listed(self, obj: Any) -> str:
        return _amount(obj, getattr(obj, "cost_listed", None))

    @admin.display(description="Discount")
    def cost_discount(self, obj: Any) -> str:
        billed, listed = getattr(obj, "cost_billed", None), getattr(obj, "cost_listed", None)
        return _amount(obj, listed - billed if billed is not None and listed is not None else None)

    @admin.display(description="Finance")
    def finance_link(self, obj: Any) -> str:
        return format_html('<a href="{}">cost and statements</a>', reverse(self.finance_url_name, args=[obj.pk]))


def _amount(obj: Any, amount: Any) -> str:
    low, high = getattr(obj, "cost_currency_min", None), getattr(obj, "cost_currency_max", None)
    if low is None:
        return "-"
    if low != high:
        return "several currencies"
    return money(amount, low)
