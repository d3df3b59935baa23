"""Budgets in the admin: set by finance, imported with `openchargeback data import budgets`, and
the budgets near or over (a threshold reached, or a forecast past the amount) listed first."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from import_export.admin import ImportExportMixin

from billing.models import Budget, BudgetAlert
from billing.models.budgets import format_thresholds, parse_thresholds
from billing.resources import FORMATS, BudgetResource
from billing.selectors.budgets import budget_status, budgets_near_or_over, open_period
from chargeback.admin_base import AuditedAdminMixin, ReadOnlyInline
from chargeback.formatting import money


class BudgetForm(forms.ModelForm):
    thresholds = forms.CharField(initial="50/80/100", help_text="Percentages of the amount, e.g. 50/80/100")

    class Meta:
        model = Budget
        fields = ["project", "fund_org", "amount", "currency", "span", "thresholds"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["thresholds"] = format_thresholds(self.instance.thresholds)

    def clean_thresholds(self) -> list[int]:
        return parse_thresholds(self.cleaned_data["thresholds"])


class NearFilter(admin.SimpleListFilter):
    title = "spend"
    parameter_name = "spend"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("near", "Near or over (this month)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Budget]) -> QuerySet[Budget]:
        if self.value() == "near":
            return queryset.filter(pk__in=[s.budget.pk for s in budgets_near_or_over()])
        return queryset


class BudgetAlertInline(ReadOnlyInline):
    model = BudgetAlert
    fields = ("span_key", "threshold", "spend", "forecast", "created_at", "cleared_at")
    readonly_fields = fields


@admin.register(Budget)
class BudgetAdmin(AuditedAdminMixin, ImportExportMixin, admin.ModelAdmin):
    form = BudgetForm
    resource_classes = [BudgetResource]
    formats = FORMATS
    list_display = ["subject", "span", "budget", "spend", "forecast", "level"]
    list_filter = [NearFilter, "span", "set_by"]
    list_select_related = ["project"]
    search_fields = ["project__code", "fund_org"]
    autocomplete_fields = ["project"]
    inlines = [BudgetAlertInline]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        month = open_period()
        near = budgets_near_or_over(month=month) if month else []
        extra = {"title": f"Budgets ({len(near)} near or over in {month})" if month else "Budgets"}
        self._statuses: dict[int, Any] = {}
        self._month = month
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def _status(self, obj: Budget) -> Any:
        if self._month is None:
            return None
        if obj.pk not in self._statuses:
            self._statuses[obj.pk] = budget_status(obj, month=self._month)
        return self._statuses[obj.pk]

    @admin.display(description="Budget")
    def budget(self, obj: Budget) -> str:
        return format_html("{} ({} %)", money(obj.amount, obj.currency), format_thresholds(obj.thresholds))

    @admin.display(description="Spend")
    def spend(self, obj: Budget) -> str:
        s = self._status(obj)
        if s is None or s.span is None:
            return "-"
        return format_html("{} ({} %)", money(s.spend, obj.currency), f"{s.percent:.0f}")

    @admin.display(description="Forecast")
    def forecast(self, obj: Budget) -> str:
        s = self._status(obj)
        return "-" if s is None or s.span is None else format_html("{}", money(s.forecast, obj.currency))

    @admin.display(description="")
    def level(self, obj: Budget) -> str:
        s = self._status(obj)
        if s is None:
            return "-"
        labels = {"over": "over", "near": "near", "ok": "", "unknown": "award dates unknown"}
        return format_html('<strong class="oc-budget-{}">{}</strong>', s.level, labels[s.level])
