"""Master data: sources, PIs, projects."""

from __future__ import annotations

from django.contrib import admin

from billing.models import (
    PI,
    Project,
    Source,
)


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
