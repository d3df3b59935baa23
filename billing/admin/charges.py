"""Charges and their review."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from billing.models import (
    Charge,
    ReviewDecision,
)
from chargeback.formatting import money

from .base import ReadOnlyAdmin


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
