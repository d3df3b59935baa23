"""Disputes in the admin: reviewers see what PIs disputed and resolve it with a reply; notices sent.

Resolving calls `statements.services.disputes.dispute_resolve`, which approves, re-attributes
or rejects the charges through billing's review services, as the review queue does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from chargeback.admin_base import ReadOnlyAdmin
from chargeback.audit import actor_for
from chargeback.errors import DomainError
from chargeback.formatting import money
from chargeback.text import refuse_control_characters
from statements.models import Dispute, Notice
from statements.services.disputes import dispute_resolve

RESOLVE = "statements.resolve_dispute"


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(choices=Dispute.Outcome.choices, widget=forms.RadioSelect)
    reply = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 70}), label="Reply to the PI")
    pi_email = forms.EmailField(required=False, label="PI email", help_text="Fix attribution only; empty keeps it",
                                validators=[refuse_control_characters])  # fmt: skip
    project_code = forms.CharField(required=False, label="Project", help_text="Fix attribution only; empty keeps it",
                                   validators=[refuse_control_characters])  # fmt: skip
    fund_org = forms.CharField(required=False, label="Fund/org", help_text="Fix attribution only; empty keeps it",
                               validators=[refuse_control_characters])  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        fixing = any(data.get(k) for k in ("pi_email", "project_code", "fund_org"))
        if data.get("outcome") == Dispute.Outcome.REATTRIBUTE and not fixing:
            raise forms.ValidationError("Give the PI, project or fund/org the charges belong to.")
        if data.get("outcome") != Dispute.Outcome.REATTRIBUTE and fixing:
            raise forms.ValidationError("A PI, project or fund/org is only changed when fixing the attribution.")
        return data


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open (to resolve)"), ("resolved", "Resolved"), ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {"selected": current == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}  # fmt: skip

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        value = self.value() or "open"
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ["id", "period", "project", "raised_by", "what", "comment_short", "status", "outcome", "resolve"]
    list_filter = [OpenFilter, "period"]
    list_select_related = ["period", "project"]
    search_fields = ["project__code", "raised_by"]
    fields = ("period", "project", "pi", "raised_by", "created_at", "service_name", "comment", "charge_list",
              "status", "outcome", "reply", "resolved_by", "resolved_at")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Disputed")
    def what(self, obj: Dispute) -> str:
        return f"service {obj.service_name}" if obj.service_name else f"{obj.charges.count()} charges"

    @admin.display(description="Comment")
    def comment_short(self, obj: Dispute) -> str:
        return obj.comment if len(obj.comment) <= 120 else obj.comment[:120] + "…"

    @admin.display(description="")
    def resolve(self, obj: Dispute) -> str:
        if obj.status != Dispute.Status.OPEN:
            return "-"
        return format_html('<a class="button" href="{}">Resolve</a>', reverse("admin:statements_dispute_resolve",
                                                                                args=[obj.pk]))  # fmt: skip

    @admin.display(description="Charges")
    def charge_list(self, obj: Dispute) -> str:
        rows = [
            format_html('<a href="{}">#{}</a> {} {} ({})', reverse("admin:billing_charge_change", args=[c.pk]), c.pk,
                        c.service_name, money(c.billed_cost, c.billing_currency), c.get_review_state_display())
            for c in obj.charges.order_by("pk")[:50]
        ]  # fmt: skip
        return format_html("<br>".join(["{}"] * len(rows)), *rows) if rows else "-"

    def get_urls(self) -> list[URLPattern]:
        extra = [path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view),
                      name="statements_dispute_resolve")]  # fmt: skip
        return extra + super().get_urls()

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm(RESOLVE):
            raise PermissionDenied
        dispute = get_object_or_404(Dispute.objects.select_related("period", "project", "pi"), pk=pk)
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                dispute_resolve(
                    dispute_id=dispute.pk, outcome=data["outcome"], reply=data["reply"], actor=actor_for(request),
                    pi_email=data["pi_email"] or None, project_code=data["project_code"] or None,
                    fund_org=data["fund_org"] or None,
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Dispute {dispute.pk} resolved; the PI is told by email.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:statements_dispute_changelist"))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"Resolve dispute {pk}",
            "dispute": dispute, "charges": dispute.charges.select_related("source").order_by("pk"), "form": form,
        }  # fmt: skip
        return TemplateResponse(request, "admin/statements/dispute/resolve.html", context)


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "recipient", "subject", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    search_fields = ["recipient"]
    fields = ("key", "kind", "recipient", "subject", "body", "status", "attempts", "last_error", "created_at",
              "sent_at")  # fmt: skip
    readonly_fields = fields
