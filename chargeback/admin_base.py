"""Shared admin pieces: read-only admins for service-written records, audited edits for the rest."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .audit import actor_for, record_delete, record_save


class AuditedAdminMixin:
    """Saves and deletes made in the admin each write an audit event naming who and what changed."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        record_save(obj=obj, actor=actor_for(request))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_delete(obj=obj, actor=actor_for(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            record_delete(obj=obj, actor=actor_for(request))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: browsable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """A record's history or parts, shown on its page and never edited there."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
