"""Funds (with their awards) and the split of a project across them (an inline on the project)."""

from __future__ import annotations

from django.contrib import admin

from billing.models import Fund, ProjectFunding
from billing.resources import FundResource, ProjectFundingResource

from .masterdata import MasterDataAdmin


@admin.register(Fund)
class FundAdmin(MasterDataAdmin):
    resource_classes = [FundResource]
    list_display = ["fund_org", "title", "sponsor", "federal", "award_start", "award_end"]
    list_filter = ["federal"]
    search_fields = ["fund_org", "title", "sponsor"]
    readonly_fields = ["created_at"]


@admin.register(ProjectFunding)
class ProjectFundingAdmin(MasterDataAdmin):
    """Import and export of every project's split (`data import funding FILE` in the admin)."""

    resource_classes = [ProjectFundingResource]
    list_display = ["project", "fund", "percent", "effective_from", "effective_to"]
    search_fields = ["project__code", "fund__fund_org"]
    list_select_related = ["project", "fund"]
    autocomplete_fields = ["project", "fund"]
