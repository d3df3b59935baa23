"""Billing periods: close, reopen (with a reason) and finalize, each a confirmation page that
calls billing.services.periods, the same as `openchargeback periods`. The period page and each
move's page list the period's blockers and warnings (`billing.selectors.readiness`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from billing.models import BillingPeriod, PeriodTransition
from billing.selectors import reevaluation_latest
from billing.selectors.readiness import NotReady, period_readiness
from billing.services.periods import period_close, period_finalize, period_reopen
from chargeback.admin_base import ReadOnlyAdmin, ReadOnlyInline
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


class PeriodTransitionInline(ReadOnlyInline):
    model = PeriodTransition
    fields = ("created_at", "from_status", "to_status", "reason", "actor")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BillingPeriod)
class BillingPeriodAdmin(ReadOnlyAdmin):
    list_display = ["period", "status", "closed_at", "finalized_at"]
    list_filter = ["status"]
    fields = ("period", "status", "notes", "created_at", "closed_at", "finalized_at")
    readonly_fields = fields
    inlines = [PeriodTransitionInline]
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
            extra["moves"] = self.allowed_moves(request, period)
            extra["reevaluation"] = reevaluation_latest(period=period)
            if period.status != Status.FINALIZED:
                extra["readiness"] = period_readiness(period)
            extra.update(reconciliation_context(period))
        return super().change_view(request, object_id, form_url, extra)

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
                    service(period=period.period, actor=actor_for(request), reason=reason)
                else:
                    service(period=period.period, actor=actor_for(request), notes=reason)
            except NotReady as exc:
                self.message_user(request, str(exc), messages.ERROR)
                refused = exc.readiness
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
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
