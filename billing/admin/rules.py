"""Rules: tag mapping, flag patterns, fund/org patterns."""

from __future__ import annotations

from django.contrib import admin

from billing.models import (
    FlagPattern,
    FundOrgPattern,
    TagMapping,
)


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
