"""Read-mostly admin for the billing data (the review workflow lives in its own pages)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from chargeback.formatting import money

from .models import (
    PI,
    BillingPeriod,
    Charge,
    FlagPattern,
    FundOrgPattern,
    ImportBatch,
    ImportFile,
    PeriodTransition,
    Project,
    ReviewDecision,
    Source,
    TagMapping,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: browsable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "display_name",
        "file_pattern",
        "credit_fund_org",
        "gl_account",
        "enabled",
        "last_import_at",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "display_name"]
    readonly_fields = ["last_import_status", "last_import_at", "created_at"]


class PeriodTransitionInline(admin.TabularInline):
    model = PeriodTransition
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "from_status",
        "to_status",
        "reason",
        "actor",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BillingPeriod)
class BillingPeriodAdmin(ReadOnlyAdmin):
    list_display = ["period", "status", "closed_at", "finalized_at"]
    list_filter = ["status"]
    inlines = [PeriodTransitionInline]


@admin.register(PI)
class PIAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "user", "created_at"]
    search_fields = ["email", "name"]
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["code", "pi", "title", "fund_org", "active", "fund_end_date"]
    list_filter = ["active"]
    search_fields = ["code", "title", "fund_org", "pi__email"]
    list_select_related = ["pi"]
    autocomplete_fields = ["pi"]


class ImportFileInline(admin.TabularInline):
    model = ImportFile
    extra = 0
    can_delete = False
    fields = (
        "name",
        "sha256",
        "size",
        "rows",
        "stored",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "source", "period", "status", "row_count", "billed_total", "flagged_rows", "actor", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "source", "period"]
    list_select_related = ["source", "period"]
    inlines = [ImportFileInline]


class ReviewDecisionInline(admin.TabularInline):
    model = ReviewDecision
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "decision",
        "state_before",
        "state_after",
        "note",
        "actor",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "period", "source", "pi", "project", "fund_org", "service_name", "billed", "review_state", "reasons",
    ]  # fmt: skip
    list_filter = ["review_state", "active", "source", "period"]
    search_fields = ["resource_id", "resource_name", "pi__email", "project__code", "fund_org"]
    list_select_related = ["period", "source", "pi", "project"]
    show_full_result_count = False
    inlines = [ReviewDecisionInline]

    @admin.display(description="Billed", ordering="billed_cost")
    def billed(self, obj: Charge) -> str:
        return format_html("{}", money(obj.billed_cost, obj.billing_currency))

    @admin.display(description="Flag reasons")
    def reasons(self, obj: Charge) -> str:
        return ", ".join(obj.flag_reason_list)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "charge", "decision", "state_before", "state_after", "actor"]
    list_filter = ["decision"]
    raw_id_fields = ["charge"]


@admin.register(TagMapping)
class TagMappingAdmin(admin.ModelAdmin):
    list_display = ["field", "tag_key", "priority"]
    list_filter = ["field"]


@admin.register(FlagPattern)
class FlagPatternAdmin(admin.ModelAdmin):
    list_display = ["name", "pattern", "fields", "enabled"]
    list_filter = ["enabled"]


@admin.register(FundOrgPattern)
class FundOrgPatternAdmin(admin.ModelAdmin):
    list_display = ["pattern", "description", "enabled"]
    list_filter = ["enabled"]
