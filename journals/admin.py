"""Journal formats, the export page of a period (format, preview, export, reconciliation) and the history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from billing.models import BillingPeriod
from chargeback.admin_base import ReadOnlyAdmin
from chargeback.audit import actor_for
from chargeback.errors import BillingError
from chargeback.formatting import money
from journals.models import JournalExport, JournalFormat
from journals.selectors import period_reconciliation
from journals.services import JournalProblems, journal_export, journal_preview
from journals.services.export import BUILT_IN

EXPORT_PERM = "journals.export_journal"
PREVIEW_LINES = 20


@admin.register(JournalFormat)
class JournalFormatAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "group_by", "default_account", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "description"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "description", "enabled"]}),
        ("Fund/org and accounts", {"fields": [
            "fund_org_regex", "account_code_regex", "default_account", "group_by", "program", "activity", "location",
        ]}),
        ("Descriptions, dates and numbers", {"fields": [
            "debit_description", "credit_description", "max_description_length", "date_format", "number_format",
        ]}),
        ("Template", {"fields": ["header_template", "row_template"], "description": (
            "Django template language, one row per journal line. Fields: date period journal_number reference_id "
            "line_number side dc fund orgn program activity location account fund_org source pi_email project_id "
            "statement service line_kind description debit credit amount amount_abs currency; header: date period "
            "journal_number currency line_count debit_total credit_total. Text values arrive quoted and "
            "formula-escaped for CSV."
        )}),
    ]  # fmt: skip


def format_choices() -> list[tuple[str, str]]:
    rows = {f.name: f"{f.name} — {f.get_kind_display()}" for f in JournalFormat.objects.filter(enabled=True)}
    for kind in BUILT_IN:
        rows.setdefault(kind, f"{kind} — {JournalFormat.Kind(kind).label} (built in)")
    return sorted(rows.items())


class ExportForm(forms.Form):
    journal_format = forms.ChoiceField(label="Format")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["journal_format"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = format_choices()
        field.initial = "gl"


@admin.register(JournalExport)
class JournalExportAdmin(ReadOnlyAdmin):
    list_display = [
        "number", "period", "format_name", "debits", "credits", "line_count", "statement_count", "actor",
        "created_at", "download",
    ]  # fmt: skip
    list_filter = ["format_kind", "period__status"]
    search_fields = ["number", "period__period", "format_name"]
    list_select_related = ["period"]
    fields = (
        "number", "period", "format_name", "format_kind", "currency", "statement_count", "statements_due",
        "debit_total", "credit_total", "debit_lines", "credit_lines", "line_count", "sha256", "statements_sha256",
        "actor", "created_at", "download",
    )  # fmt: skip
    readonly_fields = fields
    change_list_template = "admin/journals/journalexport/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("period/<int:period_id>/", self.admin_site.admin_view(self.export_view), name="journals_export"),
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view), name="journals_download"),
        ]
        return own + super().get_urls()

    @admin.display(description="Debits")
    def debits(self, obj: JournalExport) -> str:
        return money(obj.debit_total, obj.currency)

    @admin.display(description="Credits")
    def credits(self, obj: JournalExport) -> str:
        return money(obj.credit_total, obj.currency)

    @admin.display(description="File")
    def download(self, obj: JournalExport) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:journals_download", args=[obj.pk]), obj.file.name)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = dict(extra_context or {})
        if request.user.has_perm(EXPORT_PERM):
            extra["export_periods"] = BillingPeriod.objects.exclude(status=BillingPeriod.Status.OPEN)[:24]
        return super().changelist_view(request, extra)

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        if not request.user.has_perm("journals.view_journalexport"):
            raise PermissionDenied
        export = get_object_or_404(JournalExport, pk=pk)
        name = (export.file.name or "").rsplit("/", 1)[-1]
        return FileResponse(export.file.open("rb"), as_attachment=True, filename=name, content_type="text/csv")

    def export_view(self, request: HttpRequest, period_id: int) -> HttpResponse:
        """Pick a format, preview the first lines and totals, export; with the reconciliation panel."""
        if not request.user.has_perm(EXPORT_PERM):
            raise PermissionDenied
        period = get_object_or_404(BillingPeriod, pk=period_id)
        here = reverse("admin:journals_export", args=[period.pk])
        form = ExportForm(request.POST if request.method == "POST" else None)
        preview: dict[str, Any] | None = None
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            name = form.cleaned_data["journal_format"]
            try:
                if "export" in request.POST:
                    report = journal_export(month=period.period, format_name=name, actor=actor_for(request))
                    self.message_user(
                        request,
                        f"Exported journal {report.number}: {report.lines} lines, debits "
                        f"{money(report.debit_total, report.currency)} = credits "
                        f"{money(report.credit_total, report.currency)}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(here)
                journal, head = journal_preview(month=period.period, format_name=name, limit=PREVIEW_LINES)
                preview = {
                    "format": name, "text": head, "lines": len(journal.lines),
                    "shown": min(len(journal.lines), PREVIEW_LINES),
                    "debits": money(journal.debit_total, journal.currency),
                    "credits": money(journal.credit_total, journal.currency),
                    "due": money(journal.statements_due, journal.currency), "statements": journal.statements,
                }  # fmt: skip
            except JournalProblems as exc:
                problems = exc.problems
                self.message_user(request, str(exc).split(":", 1)[0] + ": see the problems below.", messages.ERROR)
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        rec = period_reconciliation(period)
        history: QuerySet[JournalExport] = JournalExport.objects.filter(period=period).order_by("-sequence")
        currency = rec.currencies[0] if len(rec.currencies) == 1 else ""
        context = {
            **self.admin_site.each_context(request),
            "title": f"Journal export {period.period}",
            "opts": self.model._meta,
            "period": period,
            "form": form,
            "preview": preview,
            "problems": problems,
            "rec": rec,
            "figures": [
                {
                    "label": f.label,
                    "amount": money(f.amount, currency),
                    "charges": f.charges,
                    "difference": "" if f.difference is None else money(f.difference, currency),
                    "ok": f.ok,
                    "note": f.note,
                }  # fmt: skip
                for f in rec.figures()
            ],
            "history": history,
            "period_url": reverse("admin:billing_billingperiod_change", args=[period.pk]),
        }
        return TemplateResponse(request, "admin/journals/journalexport/export.html", context)
