"""Statements and the outbox in the finance workspace.

A period's statement page generates (with a confirmation), shows the progress of the PDFs being
rendered, previews DRAFT PDFs of an open period and sends all unsent email. Statements can be
regenerated one by one; deliveries show their errors and can be resent. Every button calls the
same services as `openchargeback generate` and `openchargeback send`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from billing.models import PI, BillingPeriod, Project
from billing.selectors.data_status import data_status
from chargeback.admin_base import ReadOnlyAdmin, ReadOnlyInline
from chargeback.audit import actor_for
from chargeback.errors import BillingError, DomainError
from chargeback.formatting import money, money_html
from statements.models import Delivery, GenerationRun, Statement, StatementLine
from statements.selectors import generation_progress
from statements.services.delivery import deliveries_queue, delivery_resend, outbox_summary
from statements.services.generate import statements_generate
from statements.services.plan import plan_statements
from statements.services.render import amount_label

GENERATE = "statements.generate_statement"
SEND = "statements.send_statement"


class StatementLineInline(ReadOnlyInline):
    model = StatementLine
    fields = ("position", "kind", "source", "service_name", "fund_org", "account_code", "charge_count",
              "list_amount", "amount", "billed_exact", "amortized", "corrects")  # fmt: skip
    readonly_fields = fields


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    # Narrow enough for 1366 px with the side menu open: Amount due and the PDF always in view.
    list_display = ["numbered", "status", "pi_name", "project", "amount", "pdf_link", "created"]
    list_display_links = ["numbered"]
    list_filter = ["status", "period"]
    list_select_related = ["pi", "project", "period"]
    search_fields = ["=number", "pi__email", "project__code"]
    fields = ("period", "number", "version", "status", "pi", "project", "currency", "cost_basis", "data_status",
              "fund_orgs", "charge_count", "list_exact", "billed_exact", "list_total", "discount_total", "amount_due",
              "pdf_link", "pdf_sha256", "pdf_pages", "supersedes", "generated_by", "created_at", "rendered_at",
              "sent_at")  # fmt: skip
    readonly_fields = fields
    inlines = [StatementLineInline]
    actions = ["regenerate", "send_email"]
    show_full_result_count = False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/pdf/", view(self.pdf_view), name="statements_statement_pdf"),
            path("period/<str:month>/", view(self.period_view), name="statements_statement_period"),
            path(
                "period/<str:month>/preview/<int:pi_id>/<str:project_id>/",
                view(self.preview_view),
                name="statements_statement_preview",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="Cost basis")
    def cost_basis(self, obj: Statement) -> str:
        label = amount_label(list(obj.lines.all()))
        return "Billed cost" if label == "Amount due" else label.removeprefix("Amount due (").rstrip(")").capitalize()

    @admin.display(description="Data status of the month")
    def data_status(self, obj: Statement) -> str:
        provisional = [s for s in data_status(period=obj.period) if s.provisional]
        if not provisional:
            return "final"
        return "provisional: " + "; ".join(f"{s.source} ({', '.join(s.reasons)})" for s in provisional)

    @admin.display(description="Amount due", ordering="amount_due")
    def amount(self, obj: Statement) -> str:
        return money_html(obj.amount_due, obj.currency)

    @admin.display(description="Number", ordering="number")
    def numbered(self, obj: Statement) -> str:
        return f"{obj.number} v{obj.version}"

    @admin.display(description="PI", ordering="pi__email")
    def pi_name(self, obj: Statement) -> str:
        return format_html('<span title="{}">{}</span>', obj.pi.email, obj.pi.name or obj.pi.email)

    @admin.display(description="Generated", ordering="created_at")
    def created(self, obj: Statement) -> str:
        return f"{obj.created_at:%Y-%m-%d}"

    @admin.display(description="PDF")
    def pdf_link(self, obj: Statement) -> str:
        if not obj.pdf:
            return "rendering…" if obj.status == Statement.Status.DRAFT else "—"
        url = reverse("admin:statements_statement_pdf", args=[obj.pk])
        return format_html('<a href="{}">{}.pdf</a> ({} p.)', url, obj.number, obj.pdf_pages)

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        st = get_object_or_404(Statement, pk=pk)
        if not self.has_view_permission(request, st) or not st.pdf:
            raise Http404("no such statement PDF")
        return FileResponse(st.pdf.open("rb"), as_attachment=True, filename=f"statement-{st.number}-v{st.version}.pdf",
                            content_type="application/pdf")  # fmt: skip

    @admin.action(
        description="Regenerate every statement of the selected statements' PIs (a new version each)",
        permissions=["generate"],
    )
    def regenerate(self, request: HttpRequest, queryset: QuerySet[Statement]) -> None:
        done = 0
        for pi_email, period in sorted(set(queryset.values_list("pi__email", "period__period"))):
            try:
                report = statements_generate(month=period, actor=actor_for(request), pi_email=pi_email, force=True)
            except DomainError as exc:
                self.message_user(
                    request, f"{pi_email}, {period}: {exc} ({done} new statement versions made before it are kept)",
                    messages.ERROR,
                )  # fmt: skip
                return
            done += report.new_versions
        self.message_user(request, f"{done} new statement versions; their PDFs are being rendered.", messages.SUCCESS)

    @admin.action(description="Send the selected statements' email (again if already sent)", permissions=["send"])
    def send_email(self, request: HttpRequest, queryset: QuerySet[Statement]) -> None:
        queued = 0
        for pi_email, period in set(queryset.values_list("pi__email", "period__period")):
            try:
                queued += deliveries_queue(
                    month=period, actor=actor_for(request), pi_email=pi_email, resend=True
                ).queued
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
        self.message_user(request, f"{queued} emails queued.", messages.SUCCESS)

    def has_generate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(GENERATE)

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SEND)

    def period_view(self, request: HttpRequest, month: str) -> HttpResponse:
        """A period's statements: generate (confirmed), progress, DRAFT previews, send all unsent."""
        obj = get_object_or_404(BillingPeriod, period=month)
        if not self.has_view_permission(request):
            raise PermissionDenied
        here = reverse("admin:statements_statement_period", args=[month])
        if request.method == "POST":
            action = request.POST.get("action")
            try:
                if action == "generate" and request.POST.get("confirm") == "yes":
                    if not self.has_generate_permission(request):
                        raise PermissionDenied
                    report = statements_generate(month=month, actor=actor_for(request))
                    self.message_user(
                        request,
                        f"{report.statements} statements ({report.new_versions} new or new versions, "
                        f"{report.unchanged} unchanged); {report.excluded_flagged_charges} flagged charges "
                        f"({money(report.excluded_flagged_cost)}) excluded.",
                        messages.SUCCESS,
                    )
                elif action == "send":
                    if not self.has_send_permission(request):
                        raise PermissionDenied
                    result = deliveries_queue(month=month, actor=actor_for(request))
                    self.message_user(
                        request, f"{result.queued} emails queued ({result.skipped} PIs already sent or queued).",
                        messages.SUCCESS,
                    )  # fmt: skip
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(here)
        progress = generation_progress(month=month)
        current = (
            Statement.objects.filter(period=obj).exclude(status=Statement.Status.SUPERSEDED)
            .select_related("pi", "project").order_by("number")
        )  # fmt: skip
        planned, plan_error = [], ""
        if obj.status == BillingPeriod.Status.OPEN:
            try:
                planned = plan_statements(period=obj)
            except BillingError as exc:
                plan_error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Statements for {month}",
            "opts": self.model._meta,
            "period": obj,
            "progress": progress,
            "statements": current,
            "planned": planned,
            "plan_error": plan_error,
            "pis": {p.pk: p for p in PI.objects.filter(pk__in=[p.pi_id for p in planned])},
            "projects": {p.pk: p for p in Project.objects.filter(pk__in=[p.project_id for p in planned])},
            "outbox": outbox_summary(month=month),
            "failed": Delivery.objects.filter(period=obj, status__in=["failed", "sending"]).select_related("pi"),
            "runs": GenerationRun.objects.filter(period=obj)[:5],
            "can_generate": self.has_generate_permission(request) and obj.status == BillingPeriod.Status.CLOSED,
            "can_send": self.has_send_permission(request) and obj.status != BillingPeriod.Status.OPEN,
            "refresh": progress["pending"] > 0,
        }  # fmt: skip
        return TemplateResponse(request, "admin/statements/statement/period.html", context)

    def preview_view(self, request: HttpRequest, month: str, pi_id: int, project_id: str) -> HttpResponse:
        """One statement as it would be today: a DRAFT for an open period. Nothing is saved."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        get_object_or_404(BillingPeriod, period=month)
        pi = get_object_or_404(PI, pk=pi_id)
        if project_id != "none" and not (project_id.isascii() and project_id.isdigit()):
            raise Http404("no such project (a project id or none)")
        try:
            report = statements_generate(month=month, actor=actor_for(request), pi_email=pi.email, dry_run=True)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:statements_statement_period", args=[month]))
        wanted = None if project_id == "none" else int(project_id)
        try:
            for preview in report.previews:
                if preview["project_id"] == wanted:
                    file = Path(preview["file"])
                    return _pdf_response(file.read_bytes(), file.name)
        finally:
            shutil.rmtree(report.output_dir, ignore_errors=True)
        raise Http404("no statement for this PI and project in this period")


def _pdf_response(data: bytes, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response


class DeliveryStatusFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Failed or stuck in sending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        if self.value() == "yes":
            return queryset.filter(status__in=[Delivery.Status.FAILED, Delivery.Status.SENDING])
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "period", "recipient", "status", "attempts", "error", "created_at", "sent_at"]
    list_filter = [DeliveryStatusFilter, "status", "period"]
    list_select_related = ["period", "pi"]
    search_fields = ["recipient"]
    fields = ("period", "pi", "recipient", "copies", "status", "attempts", "last_error", "next_attempt_at", "subject",
              "amount_due", "currency", "statement_numbers", "resend_of", "actor", "created_at", "claimed_at",
              "sent_at")  # fmt: skip
    readonly_fields = fields
    actions = ["resend"]

    @admin.display(description="Last error")
    def error(self, obj: Delivery) -> str:
        # Long enough for a server's whole reply: it is what a person acts on.
        return (obj.last_error[:200] + "…") if len(obj.last_error) > 200 else obj.last_error

    @admin.display(description="Statements")
    def statement_numbers(self, obj: Delivery) -> str:
        return ", ".join(f"{s.number} v{s.version}" for s in obj.statements.order_by("number"))

    @admin.action(description="Resend (a new delivery for each selected PI)", permissions=["send"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        queued = 0
        for d in queryset:
            try:
                queued += delivery_resend(delivery_id=d.pk, actor=actor_for(request)).queued
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
        self.message_user(request, f"{queued} emails queued again.", messages.SUCCESS)

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SEND)


from statements import admin_disputes  # noqa: E402,F401  (disputes and notices)
