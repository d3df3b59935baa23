"""One settings page for finance admins: the organization, the rules, the sources, the system.

Everything the import rules read is on one page (tag mapping, flag patterns, fund/org patterns,
expected currency), with help for the regular expressions and examples from this installation's
own charges (`billing.selectors.examples`). **Test against a period** runs `rules_preview` with the
rules as edited on the page: they are saved inside a transaction that is rolled back, so the
preview is the import's own code on exactly what would be saved, and nothing is kept. **Save**
keeps every change, each with its audit event (`record_save` / `record_delete`), or none when a
row is invalid. The sections a user may not change are shown read-only; the page is for those who
may change the organization or the rules.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.forms import BaseModelFormSet, modelformset_factory
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from billing.admin.masterdata import OneLineTextForm, SourceForm
from billing.admin.rules import PeriodForm
from billing.models import PATTERN_FIELDS, BillingPeriod, FlagPattern, FundOrgPattern, Source, TagMapping
from billing.selectors.examples import pattern_examples
from billing.services.rules import RulesReport, rules_preview
from chargeback.admin import OrganizationForm
from chargeback.audit import Actor, actor_for, record_delete, record_save
from chargeback.errors import BillingError
from chargeback.models import Organization
from chargeback.system_info import system_info

MANAGE_RULES = "billing.manage_rules"
TEMPLATE = "admin/settings.html"


def may_open_settings(request: HttpRequest) -> bool:
    """Those who may change the organization or the rules (finance admins)."""
    user = request.user
    return bool(user.has_perm("chargeback.change_organization") or user.has_perm(MANAGE_RULES))


class FlagPatternForm(OneLineTextForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fields"].help_text = "Comma-separated: " + ", ".join(PATTERN_FIELDS)


# (prefix, heading, model, form, fields, is a rule (needs manage_rules), rows may be deleted)
SETS: tuple[tuple[str, str, type[Model], type[forms.ModelForm], list[str], bool, bool], ...] = (
    ("tags", "Tag mapping", TagMapping, OneLineTextForm, ["field", "tag_key", "priority"], True, True),
    (
        "flags",
        "Flag patterns",
        FlagPattern,
        FlagPatternForm,
        ["name", "pattern", "fields", "description", "enabled"],
        True,
        True,
    ),  # fmt: skip
    ("funds", "Fund/org patterns", FundOrgPattern, OneLineTextForm, ["pattern", "description", "enabled"], True, True),
    (
        "sources",
        "Sources",
        Source,
        SourceForm,
        ["name", "display_name", "file_pattern", "credit_fund_org", "gl_account", "enabled"],
        False,
        False,
    ),  # fmt: skip
)


class SettingsPage:
    """The page's forms, bound to a POST or not, each editable only with its permissions."""

    def __init__(self, request: HttpRequest) -> None:
        user = request.user
        data = request.POST if request.method == "POST" else None
        files = request.FILES if request.method == "POST" else None
        self.org = Organization.current()
        self.org_editable = user.has_perm("chargeback.change_organization")
        self.org_form = OrganizationForm(data, files, instance=self.org, prefix="org")
        if not user.has_perm(MANAGE_RULES):
            self.org_form.fields["expected_currency"].disabled = True
        if not self.org_editable:
            for field in self.org_form.fields.values():
                field.disabled = True
        self.sets: list[dict[str, Any]] = []
        for prefix, heading, model, form, fields, is_rule, deletable in SETS:
            perm = f"{model._meta.app_label}.{{}}_{model._meta.model_name}"
            may = (not is_rule or user.has_perm(MANAGE_RULES)) and user.has_perm(perm.format("change"))
            may_add = may and user.has_perm(perm.format("add"))
            may_delete = may and deletable and user.has_perm(perm.format("delete"))
            formset_class = modelformset_factory(
                model, form=form, fields=fields, extra=1 if may_add else 0, can_delete=may_delete
            )
            formset = formset_class(data, queryset=model._default_manager.all(), prefix=prefix)
            if not may:
                for f in formset.forms:
                    for field in f.fields.values():
                        field.disabled = True
            self.sets.append({"prefix": prefix, "heading": heading, "formset": formset, "editable": may})

    def is_valid(self) -> bool:
        valid = self.org_form.is_valid()
        for s in self.sets:
            valid = s["formset"].is_valid() and valid
        return valid

    def save(self, actor: Actor, *, rules_only: bool = False) -> int:
        """Every change with its audit event, in one transaction; the number of records changed."""
        changed = 0
        with transaction.atomic():
            if self.org_form.has_changed() and (self.org_editable or rules_only):
                org = self.org_form.save(commit=False)
                if rules_only:  # a test keeps no file: only the rule the import reads
                    org = Organization.objects.get(pk=self.org.pk)
                    org.expected_currency = self.org_form.cleaned_data["expected_currency"]
                record_save(obj=org, actor=actor)
                changed += 1
            for s in self.sets:
                if s["editable"] and not (rules_only and s["prefix"] == "sources"):
                    changed += _save_formset(s["formset"], actor)
        return changed

    def test(self, month: str) -> RulesReport:
        """`rules_preview` of the period under the rules as edited here; nothing is kept."""
        with transaction.atomic():
            self.save(Actor.system("settings-test"), rules_only=True)
            report = rules_preview(month=month)
            transaction.set_rollback(True)
        return report


def _save_formset(formset: BaseModelFormSet, actor: Actor) -> int:
    changed = 0
    deleted = {id(f) for f in formset.deleted_forms}
    for form in formset.forms:
        if id(form) in deleted:
            if form.instance.pk is not None:
                record_delete(obj=form.instance, actor=actor)
                changed += 1
        elif form.has_changed():
            record_save(obj=form.save(commit=False), actor=actor)
            changed += 1
    return changed


def settings_view(request: HttpRequest) -> HttpResponse:
    if not may_open_settings(request):
        raise PermissionDenied
    currency_before = Organization.current().expected_currency
    page = SettingsPage(request)
    testing = request.method == "POST" and "_test" in request.POST
    period_form = PeriodForm(request.POST if testing else None, periods=BillingPeriod.objects.all(), prefix="test")
    report = None
    if request.method == "POST":
        if not page.is_valid():
            messages.error(request, "Nothing was saved: correct the fields marked below.")
        elif testing:
            if period_form.is_valid():
                try:
                    report = page.test(period_form.cleaned_data["period"])
                except BillingError as exc:
                    period_form.add_error("period", str(exc))
        else:
            changed = page.save(actor_for(request))
            messages.success(request, f"Settings saved ({changed} change{'s' if changed != 1 else ''}).")
            if Organization.current().expected_currency != currency_before:
                messages.info(
                    request, "Re-evaluate the open period (Flag patterns → Re-evaluate open period) to flag charges "
                    "already imported in another currency.",
                )  # fmt: skip
            return HttpResponseRedirect(reverse("admin:ocb_settings"))
    reason_rows = []
    if report is not None:
        reasons = sorted({*report.by_reason_now, *report.by_reason})
        reason_rows = [(r, report.by_reason_now.get(r, 0), report.by_reason.get(r, 0)) for r in reasons]
    context = {
        **admin.site.each_context(request),
        "title": "Settings",
        "page": page,
        "period_form": period_form,
        "report": report,
        "reason_rows": reason_rows,
        "examples": pattern_examples(),
        "system": system_info(),
        "reevaluate_url": reverse("admin:billing_flagpattern_reevaluate"),
    }
    return TemplateResponse(request, TEMPLATE, context)
