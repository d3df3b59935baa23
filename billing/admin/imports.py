"""Import batches and their files."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import (
    ImportBatch,
    ImportFile,
)

from .base import ReadOnlyAdmin


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
