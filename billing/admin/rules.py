"""Rules: tag mapping, flag patterns, fund/org patterns.

Editing them needs `billing.manage_rules` on top of the model permission. Each of their lists
has two tools: "Test against a period" (billing.services.rules.rules_preview, read-only) and
"Re-evaluate open period" (after a confirmation page, queued as a task: reevaluation_request; the
period's page shows how far it is).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from billing.models import PATTERN_FIELDS, BillingPeriod, FlagPattern, FundOrgPattern, TagMapping, validate_period
from billing.services.reevaluation import reevaluation_request
from billing.services.rules import rules_preview
from chargeback.admin_base import AuditedAdminMixin
from chargeback.audit import actor_for
from chargeback.errors import BillingError

MANAGE_RULES = "billing.manage_rules"
TEMPLATES = "admin/billing/flagpattern"  # the rule pages, shared by the three rule lists


def may_manage_rules(request: HttpRequest) -> bool:
    return request.user.has_perm(MANAGE_RULES)


class PeriodForm(forms.Form):
    period = forms.CharField(validators=[validate_period], widget=forms.Select)

    def __init__(self, *args: Any, periods: QuerySet[BillingPeriod], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(p.period, f"{p.period} ({p.get_status_display().lower()})") for p in periods]
        self.fields["period"].widget.choices = choices


class RulesAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A rule list: edits need `manage_rules`, saves are audited, two tools on the list."""

    change_list_template = f"{TEMPLATES}/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and may_manage_rules(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and may_manage_rules(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and may_manage_rules(request)

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("test/", self.admin_site.admin_view(self.test_view), name=f"{prefix}_rules_test"),
            path("reevaluate/", self.admin_site.admin_view(self.reevaluate_view), name=f"{prefix}_reevaluate"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"may_manage_rules": may_manage_rules(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def _url(self, name: str) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", current_app=self.admin_site.name)

    def _context(self, request: HttpRequest, title: str, **more: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "changelist_url": self._url("changelist"),
            "test_url": self._url("rules_test"),
            "reevaluate_url": self._url("reevaluate"),
            **more,
        }

    def test_view(self, request: HttpRequest) -> HttpResponse:
        """Pick a period; show what the current rules would flag there. Writes nothing."""
        if not (may_manage_rules(request) and self.has_view_permission(request)):
            raise PermissionDenied
        form = PeriodForm(request.GET or None, periods=BillingPeriod.objects.all())
        report, reason_rows = None, []
        if form.is_valid():
            try:
                report = rules_preview(month=form.cleaned_data["period"])
            except BillingError as exc:
                form.add_error("period", str(exc))
            else:
                reasons = sorted({*report.by_reason_now, *report.by_reason})
                reason_rows = [(r, report.by_reason_now.get(r, 0), report.by_reason.get(r, 0)) for r in reasons]
        context = self._context(
            request, "Test the rules against a period", form=form, report=report, reason_rows=reason_rows
        )
        return TemplateResponse(request, f"{TEMPLATES}/rules_test.html", context)

    def reevaluate_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm, then apply the current rules to an open period's charges (POST only)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        open_periods = BillingPeriod.objects.filter(status=BillingPeriod.Status.OPEN)
        form = PeriodForm(request.POST if request.method == "POST" else None, periods=open_periods)
        if request.method == "POST" and form.is_valid():
            period = form.cleaned_data["period"]
            try:
                run = reevaluation_request(month=period, actor=actor_for(request))
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request, f"Re-evaluation of {period} queued; the period's page shows how far it is.",
                    messages.SUCCESS,
                )  # fmt: skip
                return HttpResponseRedirect(reverse("admin:billing_billingperiod_change", args=[run.period_id]))
        context = self._context(request, "Re-evaluate an open period", form=form, has_open=open_periods.exists())
        return TemplateResponse(request, f"{TEMPLATES}/rules_reevaluate.html", context)


@admin.register(TagMapping)
class TagMappingAdmin(RulesAdmin):
    list_display = ["field", "tag_key", "priority"]
    list_filter = ["field"]
    search_fields = ["tag_key"]


@admin.register(FlagPattern)
class FlagPatternAdmin(RulesAdmin):
    list_display = ["name", "pattern", "fields", "enabled", "description"]
    list_filter = ["enabled"]
    search_fields = ["name", "pattern", "description"]

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if "fields" in form.base_fields:
            field = form.base_fields["fields"]
            field.widget.attrs["size"] = 80
            field.help_text = "Comma-separated charge fields to search: " + ", ".join(PATTERN_FIELDS)
        if "pattern" in form.base_fields:
            form.base_fields["pattern"].widget.attrs["size"] = 80
            form.base_fields["pattern"].help_text = "A Python regular expression, searched case-insensitively"
        return form


@admin.register(FundOrgPattern)
class FundOrgPatternAdmin(RulesAdmin):
    list_display = ["pattern", "description", "enabled"]
    list_filter = ["enabled"]

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if "pattern" in form.base_fields:
            form.base_fields["pattern"].help_text = (
                "A Python regular expression matched case-insensitively at the start of the fund/org "
                "(end it with $ to match the whole value)"
            )
        return form
