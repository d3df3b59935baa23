"""Rates, subsidies and account mappings: editable, audited, imported and exported as CSV/XLSX.

They feed the converters (rates and subsidies price Slurm and storage usage) and the import
(account mappings attribute rows whose tags name no project). Overlapping rates and impossible
subsidies are refused by the models' own checks, in the form and in a spreadsheet import alike.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from billing.models import AccountMapping, Rate, SubsidyRule, SubsidyUsage
from billing.resources import AccountMappingResource, RateResource, SubsidyRuleResource
from chargeback.admin_base import ReadOnlyInline
from chargeback.formatting import money

from .masterdata import MasterDataAdmin


@admin.register(AccountMapping)
class AccountMappingAdmin(MasterDataAdmin):
    resource_classes = [AccountMappingResource]
    list_display = ["kind", "value", "project", "fund_org", "enabled", "note"]
    list_filter = ["kind", "enabled"]
    search_fields = ["value", "project__code", "note"]
    list_select_related = ["project"]
    autocomplete_fields = ["project"]


@admin.register(Rate)
class RateAdmin(MasterDataAdmin):
    resource_classes = [RateResource]
    list_display = ["name", "kind", "applies_to", "unit", "unit_price", "effective_from", "effective_to"]
    list_filter = ["kind", "name"]
    search_fields = ["name", "applies_to", "description"]
    fieldsets = [
        (None, {"fields": ["name", "description", "kind", "applies_to", "unit", "price"]}),
        ("Dates", {"fields": ["effective_from", "effective_to"]}),
        ("Slurm", {"fields": ["multiplier"]}),
        ("Storage", {"fields": ["free_quantity", "basis"]}),
    ]

    @admin.display(description="Price", ordering="price")
    def unit_price(self, obj: Rate) -> str:
        return f"{obj.price:f} per {obj.unit}"


class SubsidyUsageInline(ReadOnlyInline):
    model = SubsidyUsage
    fields = ("window", "period", "source", "amount", "updated_at")
    readonly_fields = fields
    verbose_name_plural = "Used so far (one row per converted source and period)"


@admin.register(SubsidyRule)
class SubsidyRuleAdmin(MasterDataAdmin):
    resource_classes = [SubsidyRuleResource]
    list_display = ["code", "label", "scope", "percent", "cap_amount", "cap_period", "effective_from",
                    "effective_to", "enabled"]  # fmt: skip
    list_filter = ["enabled", "cap_period", "source"]
    search_fields = ["code", "label", "partition", "service_name", "project__code", "pi__email"]
    list_select_related = ["source", "project", "pi"]
    autocomplete_fields = ["project", "pi"]
    inlines = [SubsidyUsageInline]
    fieldsets = [
        (None, {"fields": ["code", "label", "enabled", "priority"]}),
        ("Scope (blank matches everything)", {"fields": ["source", "service_name", "partition", "project", "pi"]}),
        ("Amount", {"fields": ["percent", "cap", "cap_period", "fiscal_year_start_month"]}),
        ("Dates", {"fields": ["effective_from", "effective_to"]}),
    ]

    @admin.display(description="Scope")
    def scope(self, obj: SubsidyRule) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("source", obj.source.name if obj.source else ""), ("service", obj.service_name),
                ("partition", obj.partition), ("project", obj.project.code if obj.project else ""),
                ("PI", obj.pi.email if obj.pi else ""),
            )
            if value
        ]  # fmt: skip
        return format_html("{}", ", ".join(parts) or "everything")

    @admin.display(description="Cap", ordering="cap")
    def cap_amount(self, obj: SubsidyRule) -> str:
        return money(obj.cap, "") if obj.cap is not None else "—"
