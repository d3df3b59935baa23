"""The review queue's per-row decisions: Approve / Reject / Fix on each flagged charge and on
the charge's own page, each a confirmation page (with the charge's flag reasons and a note)
that calls the same services as the queue's actions and `openchargeback review`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from billing.models import Charge
from billing.reasons import reason_words
from chargeback.formatting import money

# decision in the URL: (button and page title, the queue action that does the same)
DECISIONS = {
    "approve": ("Approve charge", "approve"),
    "reject": ("Reject charge", "reject"),
    "fix": ("Fix attribution", "reattribute"),
}
State = Charge.ReviewState


def flag_badges(charge: Charge) -> str:
    """The charge's flag reasons as short badges in words; its state when it is not flagged."""
    reasons = charge.flag_reason_list
    if charge.review_state != State.FLAGGED or not reasons:
        return format_html('<span class="oc-badge">{}</span>', charge.get_review_state_display())
    return format_html_join("", '<span class="oc-badge">{}</span>', ((reason_words(r),) for r in reasons))


class RowReviewMixin:
    """For ChargeAdmin: the per-row buttons and their confirmation pages."""

    admin_site: Any

    def row_review_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/review/<str:decision>/",
                self.admin_site.admin_view(self.row_review_view),
                name="billing_charge_review",
            )
        ]

    def row_actions_column(self, request: HttpRequest) -> Any:
        """A list column of Approve / Reject / Fix links that bring the user back to this view."""
        back = urlencode({"filters": request.GET.urlencode()}) if request.GET else ""

        def decide(obj: Charge) -> str:
            if not obj.active:
                return "-"
            wanted = ["approve", "reject", "fix"] if obj.review_state == State.FLAGGED else ["fix"]
            links = (
                (f"{reverse('admin:billing_charge_review', args=[obj.pk, d])}{'?' + back if back else ''}", d, label)
                for d, label in (("approve", "Approve"), ("reject", "Reject"), ("fix", "Fix"))
                if d in wanted
            )
            return format_html(
                '<span class="oc-row-actions">{}</span>',
                format_html_join("", '<a href="{}" class="oc-{}">{}</a>', links),
            )

        decide.short_description = "Decide"  # type: ignore[attr-defined]
        return decide

    def row_review_view(self, request: HttpRequest, pk: int, decision: str) -> HttpResponse:
        if decision not in DECISIONS:
            raise Http404("no such decision (approve, reject or fix)")
        if not request.user.has_perm("billing.approve_charge"):
            raise PermissionDenied
        get_object_or_404(Charge, pk=pk)
        title, kind = DECISIONS[decision]
        queryset = Charge.objects.filter(pk=pk)
        done = self.review_decide(request, queryset, kind)  # type: ignore[attr-defined]
        if isinstance(done, HttpResponse):
            response: HttpResponse = done
            if hasattr(response, "context_data") and response.context_data is not None:
                response.context_data.update({"single": True, "title": title, "filters": _filters(request)})
            return response
        changelist = reverse("admin:billing_charge_changelist")
        filters = _filters(request)
        return HttpResponseRedirect(f"{changelist}?{filters}" if filters else changelist)


def _filters(request: HttpRequest) -> str:
    """The queue's query string to go back to (only ever appended to the queue's own path)."""
    raw = request.POST.get("filters") if request.method == "POST" else request.GET.get("filters")
    return forms.CharField(required=False, max_length=2000).clean(raw or "").replace("\n", "")


def decided_message(verb: str, charges: int, cost: Any, skipped: int) -> str:
    text = f"{verb} {charges} charge{'' if charges == 1 else 's'} ({money(cost)})."
    if skipped:
        text += f" {skipped} were already in that state and were left alone."
    return text
