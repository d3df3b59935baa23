"""List filters of the review queue."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import BillingPeriod, Charge
from billing.reasons import REASONS as REASON_LABELS

REASONS = list(REASON_LABELS.items())


class ReviewFilter(admin.SimpleListFilter):
    """The queue: flagged charges of current batches unless another state is chosen."""

    title = "review"
    parameter_name = "review"
    STATES = {"flagged", "approved", "rejected", "ok"}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("flagged", "Flagged (the queue)"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("ok", "OK"),
            ("all", "All current charges"),
            ("replaced", "Of replaced or rolled-back batches"),
        ]

    def choices(self, changelist: Any) -> Iterator[Any]:
        current = self.value() or "flagged"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Charge]) -> QuerySet[Charge]:
        value = self.value() or "flagged"
        if value == "replaced":
            return queryset.filter(active=False)
        queryset = queryset.filter(active=True)
        if value in self.STATES:
            return queryset.filter(review_state=value)
        return queryset


class PeriodFilter(admin.SimpleListFilter):
    """Open periods unless another choice is made: charges of closed periods cannot be decided."""

    title = "period"
    parameter_name = "period"
    OPEN, ALL = "open", "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        periods = BillingPeriod.objects.order_by("-period").values_list("period", "status")[:36]
        return [(self.OPEN, "Open periods"), (self.ALL, "All periods")] + [
            (p, p if status == BillingPeriod.Status.OPEN else f"{p} ({status})") for p, status in periods
        ]

    def choices(self, changelist: Any) -> Iterator[Any]:
        current = self.value() or self.OPEN
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Charge]) -> QuerySet[Charge]:
        value = self.value() or self.OPEN
        if value == self.OPEN:
            return queryset.filter(period__status=BillingPeriod.Status.OPEN)
        if value == self.ALL:
            return queryset
        return queryset.filter(period__period=value)


class FlagReasonFilter(admin.SimpleListFilter):
    title = "flag reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return REASONS

    def queryset(self, request: HttpRequest, queryset: QuerySet[Charge]) -> QuerySet[Charge]:
        value = self.value()
        if value not in dict(REASONS):
            return queryset
        # Reasons are stored ",a,b,"; a pattern reason is ",pattern_match:<name>,".
        needle = f",{value}:" if value in ("pattern_match", "outside_award") else f",{value},"
        return queryset.filter(flag_reasons__contains=needle)


class AmountFilter(admin.SimpleListFilter):
    title = "billed amount"
    parameter_name = "amount"
    RANGES = {
        "negative": (None, Decimal(0)),
        "0-100": (Decimal(0), Decimal(100)),
        "100-1000": (Decimal(100), Decimal(1000)),
        "1000-10000": (Decimal(1000), Decimal(10000)),
        "10000+": (Decimal(10000), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("negative", "Below 0"),
            ("0-100", "0 to 100"),
            ("100-1000", "100 to 1,000"),
            ("1000-10000", "1,000 to 10,000"),
            ("10000+", "10,000 and more"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Charge]) -> QuerySet[Charge]:
        bounds = self.RANGES.get(self.value() or "")
        if bounds is None:
            return queryset
        low, high = bounds
        if low is not None:
            queryset = queryset.filter(billed_cost__gte=low)
        if high is not None:
            queryset = queryset.filter(billed_cost__lt=high)
        return queryset


class TextInputFilter(admin.SimpleListFilter):
    """A filter typed in rather than picked from a list (there may be thousands of PIs)."""

    template = "admin/billing/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("", "")]  # the filter must have a choice to be shown

    def choices(self, changelist: Any) -> Iterator[Any]:
        # The hidden inputs keep every other filter of the current URL.
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "others": self._other_params(changelist),
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }

    def _other_params(self, changelist: Any) -> list[tuple[str, str]]:
        others = []
        for key, value in changelist.get_filters_params().items():
            if key != self.parameter_name:
                others.append((key, value[-1] if isinstance(value, list) else str(value)))
        if changelist.query:
            others.append(("q", changelist.query))
        return others


class PiFilter(TextInputFilter):
    title = "PI email"
    parameter_name = "pi"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Charge]) -> QuerySet[Charge]:
        value = (self.value() or "").strip().lower()
        return queryset.filter(pi__email=value) if value else queryset


class ProjectFilter(TextInputFilter):
    title = "project"
    parameter_name = "project"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Charge]) -> QuerySet[Charge]:
        value = (self.value() or "").strip()
        return queryset.filter(project__code=value) if value else queryset
