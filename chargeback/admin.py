from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent, Organization


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: nothing in the admin can add, edit or delete audit rows."""

    list_display = ["created_at", "actor", "action", "object_repr", "period", "source_ip"]
    list_filter = ["action", "period"]
    search_fields = ["actor", "action", "object_repr", "object_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "expected_currency", "contact_email"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Organization.objects.exists()
