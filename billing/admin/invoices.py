"""Provider invoices (entered, imported, explained) and the reconciliation section of a period page.

`reconciliation_context` and `admin/billing/billingperiod/_reconciliation.html` are one
self-contained section: the period page includes it, and another page can place it the same way.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from import_export.admin import ImportExportModelAdmin

from billing.models import BillingPeriod, ImportBatch, ProviderInvoice
from billing.resources import FORMATS, ProviderInvoiceResource
from billing.selectors.data_status import data_status
from billing.selectors.reconciliation import month_reconciliation
from billing.services.invoices import batch_mark_final, invoice_explain, invoice_record
from chargeback.audit import actor_for, records_imported
from chargeback.errors import DomainError

from .exports import FilteredExportMixin
from .masterdata import OneLineTextForm


@admin.register(ProviderInvoice)
class ProviderInvoiceAdmin(FilteredExportMixin, ImportExportModelAdmin):
    """Saved through the invoice services, so the admin and the command line record the same events."""

    form = OneLineTextForm
    formats = FORMATS
    resource_classes = [ProviderInvoiceResource]
    list_display = ["invoice_id", "source", "period", "currency", "total", "issuer", "explained"]
    list_filter = ["source", "period"]
    list_select_related = ["source", "period"]
    search_fields = ["invoice_id", "billing_account", "issuer"]
    fields = ["source", "invoice_id", "period", "currency", "total", "issuer", "billing_account", "explanation",
              "explained_by", "explained_at", "recorded_by", "created_at"]  # fmt: skip
    readonly_fields = ["explained_by", "explained_at", "recorded_by", "created_at"]

    @admin.display(boolean=True, description="Explained")
    def explained(self, obj: ProviderInvoice) -> bool:
        return bool(obj.explanation)

    def save_model(self, request: HttpRequest, obj: ProviderInvoice, form: Any, change: bool) -> None:
        actor = actor_for(request)
        saved = invoice_record(
            source=obj.source.name, invoice_id=obj.invoice_id, month=obj.period.period, total=obj.total,
            currency=obj.currency, issuer=obj.issuer, billing_account=obj.billing_account, actor=actor,
        )  # fmt: skip
        if (obj.explanation or "").strip() != saved.explanation:
            saved = invoice_explain(
                month=saved.period.period, invoice_id=saved.invoice_id, source=saved.source.name,
                note=obj.explanation or "", actor=actor,
            )  # fmt: skip
        obj.pk = saved.pk

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        return form.save(commit=False)

    def process_result(self, result: Any, request: HttpRequest) -> Any:
        records_imported(
            model=self.model, actor=actor_for(request), totals=dict(result.totals),
            file_name=request.POST.get("original_file_name", ""),
        )  # fmt: skip
        return super().process_result(result, request)


@admin.action(description="Mark as the provider's final data", permissions=["import"])
def mark_final(modeladmin: Any, request: HttpRequest, queryset: QuerySet[ImportBatch]) -> None:
    done = 0
    for batch in queryset.filter(status=ImportBatch.Status.APPLIED):
        try:
            batch_mark_final(batch_id=batch.pk, actor=actor_for(request))
        except DomainError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
        else:
            done += 1
    modeladmin.message_user(request, f"{done} applied import batch{'es' if done != 1 else ''} marked final.")


def reconciliation_context(period: BillingPeriod) -> dict[str, Any]:
    """What the reconciliation section shows: the month's data status and its three-way match."""
    try:
        reconciliation, problem = month_reconciliation(month=period.period), ""
    except DomainError as exc:
        reconciliation, problem = None, str(exc)
    return {
        "data_status": data_status(period=period),
        "reconciliation": reconciliation,
        "reconciliation_problem": problem,
    }
