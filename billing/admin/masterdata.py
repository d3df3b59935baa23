"""Master data: sources, PIs, projects. Editable, imported and exported as CSV or XLSX
(billing.resources); every edit and import leaves an audit event."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from import_export.admin import ImportExportModelAdmin

from billing.models import PI, Project, Source
from billing.resources import FORMATS, PIResource, ProjectResource, SourceResource, normalise_email
from chargeback.admin_base import AuditedAdminMixin
from chargeback.audit import actor_for, record_delete, record_save, records_imported
from chargeback.text import refuse_control_characters

from .costs import CostColumnsMixin, CostPeriodFilter
from .exports import FilteredExportMixin
from .splits import ProjectFundingInline


class OneLineTextForm(forms.ModelForm):
    """Codes, emails, fund/orgs and names are one line: a control character is a form error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.Textarea):
                field.validators.append(refuse_control_characters)


class MasterDataAdmin(AuditedAdminMixin, FilteredExportMixin, ImportExportModelAdmin):
    """Audited saves and deletes; spreadsheet import (change permission) and export (view)."""

    formats = FORMATS
    form = OneLineTextForm

    def process_result(self, result: Any, request: HttpRequest) -> Any:
        """After a confirmed (not a preview) import: one audit event with the row counts."""
        records_imported(
            model=self.model, actor=actor_for(request), totals=dict(result.totals),
            file_name=request.POST.get("original_file_name", ""),
        )  # fmt: skip
        return super().process_result(result, request)


class SourceForm(OneLineTextForm):
    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip().lower()


class PIForm(OneLineTextForm):
    def clean_email(self) -> str:
        # Before the uniqueness check, which compares exactly: Alice@… is alice@….
        return normalise_email(self.cleaned_data["email"])


@admin.register(Source)
class SourceAdmin(MasterDataAdmin):
    form = SourceForm
    resource_classes = [SourceResource]
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
class PIAdmin(CostColumnsMixin, MasterDataAdmin):
    form = PIForm
    resource_classes = [PIResource]
    finance_url_name = "admin:ocb_pi_finance"
    list_display = [
        "email", "name", "cost_billed", "cost_listed", "cost_discount", "cost_charges", "finance_link", "user",
    ]  # fmt: skip
    list_filter = [CostPeriodFilter]
    search_fields = ["email", "name"]
    raw_id_fields = ["user"]
    show_full_result_count = False


@admin.register(Project)
class ProjectAdmin(CostColumnsMixin, MasterDataAdmin):
    resource_classes = [ProjectResource]
    finance_url_name = "admin:ocb_project_finance"
    list_display = [
        "code", "pi", "title", "cost_billed", "cost_listed", "cost_discount", "cost_charges", "finance_link",
        "fund_org", "active",
    ]  # fmt: skip
    list_filter = [CostPeriodFilter, "active"]
    search_fields = ["code", "title", "fund_org", "pi__email"]
    list_select_related = ["pi"]
    autocomplete_fields = ["pi"]
    show_full_result_count = False
    inlines = [ProjectFundingInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The split's rows are audited like the project itself."""
        actor = actor_for(request)
        for obj in formset.save(commit=False):
            record_save(obj=obj, actor=actor)
        for obj in formset.deleted_objects:
            record_delete(obj=obj, actor=actor)
