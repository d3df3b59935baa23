"""Billing periods and their lifecycle."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import (
    BillingPeriod,
    PeriodTransition,
)

from .base import ReadOnlyAdmin


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
