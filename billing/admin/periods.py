"""Billing periods. A period's page is the month's cockpit: its figures, imports per source, what
blocks its next step and its warnings (`billing.selectors.readiness`, the list `periods check`
prints), the sections the apps above billing contribute (statements, journal; see
`billing.cockpit`), the reconciliation with the provider's bill, the transition history and the
next moves as buttons. Close, reopen (with a reason) and finalize call billing.services.periods,
the same as `openchargeback periods`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from billing import cockpit
from billing.models import BillingPeriod
from billing.selectors import reevaluation_latest
from billing.selectors.checklist import Check, period_checklist
from billing.selectors.dashboard import dashboard_figures, dashboard_periods
from billing.selectors.readiness import NotReady, period_readiness
from billing.services.periods import period_close, period_finalize, period_reopen
from chargeback.admin_base import ReadOnlyAdmin
from chargeback.audit import actor_for
from chargeback.errors import BillingError

from .invoices import reconciliation_context

Status = BillingPeriod.Status
# to-status: (permission, button label, whether the reason is required, service)
MOVES: dict[str, tuple[str, str, bool, Any]] = {
    "closed": ("billing.close_period", "Close period", False, period_close),
    "open": ("billing.close_period", "Reopen period", True, period_reopen),
    "finalized": ("billing.finalize_period", "Finalize period", False, period_finalize),
}


class TransitionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False, label="Reason / notes"
    )


@admin.register(BillingPeriod)
class BillingPeriodAdmin(ReadOnlyAdmin):
    list_display = ["period", "status", "closed_at", "finalized_at"]
    list_filter = ["status"]
    fields = ("period", "status", "notes", "created_at", "closed_at", "finalized_at")
    readonly_fields = fields
    change_form_template = "admin/billing/billingperiod/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/move/<str:to_status>/",
                self.admin_site.admin_view(self.transition_view),
                name="billing_billingperiod_move",
            )
        ]
        return own + super().get_urls()

    def allowed_moves(self, request: HttpRequest, period: BillingPeriod) -> list[tuple[str, str]]:
        """The moves this user may make from the period's status: (to_status, label)."""
        moves = []
        for (from_status, to_status), _ in BillingPeriod.TRANSITIONS.items():
            perm, label, _, _ = MOVES[to_status]
            if from_status == period.status and request.user.has_perm(perm):
                moves.append((to_status, label))
        return moves

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        period = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if period is not None:
            extra.update(self.cockpit_context(request, period))
        return super().change_view(request, object_id, form_url, extra)

    def cockpit_context(self, request: HttpRequest, period: BillingPeriod) -> dict[str, Any]:
        figures = dashboard_figures(period=period, periods=dashboard_periods())
        return {
            "moves": self.allowed_moves(request, period),
            "figures": figures,
            "checklist": [(check, self.fix_url(request, period, check)) for check in period_checklist(figures)],
            "sections": cockpit.sections(request, period),
            "transitions": period.transitions.order_by("-created_at", "-id")[:50],
            "reevaluation": reevaluation_latest(period=period),
            "can_import": request.user.has_perm("billing.import_charges"),
            "readiness": period_readiness(period) if period.status != Status.FINALIZED else None,
            **reconciliation_context(period),
        }

    def fix_url(self, request: HttpRequest, period: BillingPeriod, check: Check) -> str | None:
        """Where to fix a checklist line the user may fix; None when it is fine or not theirs."""
        if check.ok:
            return None
        user = request.user
        if check.key == "flagged" and user.has_perm("billing.view_charge"):
            return f"{reverse('admin:billing_charge_changelist')}?period={period.period}"
        if check.key == "imports" and period.status == Status.OPEN and user.has_perm("billing.import_charges"):
            return reverse("admin:billing_importbatch_import")
        return None

    def transition_view(self, request: HttpRequest, pk: int, to_status: str) -> HttpResponse:
        period = get_object_or_404(BillingPeriod, pk=pk)
        if to_status not in MOVES:
            raise Http404("no such move")
        perm, label, reason_required, service = MOVES[to_status]
        if not request.user.has_perm(perm):
            raise PermissionDenied
        change_url = reverse("admin:billing_billingperiod_change", args=[period.pk])
        form = TransitionForm(request.POST if request.method == "POST" else None)
        form.fields["reason"].required = reason_required
        refused = None
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                if to_status == "open":
                    service(month=period.period, actor=actor_for(request), reason=reason)
                else:
                    service(month=period.period, actor=actor_for(request), notes=reason)
            except NotReady as exc:
                self.message_user(request, exc.web_message, messages.ERROR)
                if "cockpit" in request.POST:  # the period page lists the blockers itself
                    return HttpResponseRedirect(change_url)
                refused = exc.readiness
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                if "cockpit" in request.POST:  # a button of the period page: back to it, the reason named
                    return HttpResponseRedirect(change_url)
            else:
                self.message_user(request, f"Period {period.period} is now {to_status}.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label} {period.period}",
            "opts": self.model._meta,
            "original": period,
            "form": form,
            "label": label,
            "to_status": to_status,
            "reason_required": reason_required,
            "readiness": refused or (period_readiness(period) if to_status != "open" else None),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/billing/billingperiod/transition.html", context)
