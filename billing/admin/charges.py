"""Charges and their review: the review queue, approve / reject / fix attribution, charge detail.

Every action calls a service in billing.services.review, the same as `openchargeback review`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern
from django.utils.functional import cached_property
from django.utils.html import format_html
from import_export.admin import ExportMixin

from billing.models import Charge, ImportFile, ReviewDecision
from billing.reasons import reason_words
from billing.resources import FORMATS, ChargeResource
from billing.services.review import charges_approve, charges_reattribute, charges_reject
from chargeback.admin_base import ReadOnlyAdmin, ReadOnlyInline
from chargeback.audit import actor_for
from chargeback.errors import BillingError
from chargeback.formatting import json_table, money, money_html
from chargeback.money import MoneySum
from chargeback.text import refuse_control_characters

from .exports import FilteredExportMixin
from .filters import AmountFilter, FlagReasonFilter, PeriodFilter, PiFilter, ProjectFilter, ReviewFilter
from .review_rows import RowReviewMixin, decided_message, flag_badges

# Amounts shown to the cent with their currency code (the exact value on hover); unit prices and
# quantities exactly, without the stored trailing zeros.
MONEY_FIELDS = ["list_cost", "contracted_cost", "billed_cost", "effective_cost"]
EXACT_FIELDS = ["list_unit_price", "contracted_unit_price", "pricing_quantity", "consumed_quantity"]


def _money_column(name: str, label: str) -> Any:
    @admin.display(description=label)
    def shown(self: Any, obj: Charge) -> str:
        return money_html(getattr(obj, name), obj.billing_currency)

    return shown


def _exact_column(name: str, label: str, unit: str) -> Any:
    @admin.display(description=label)
    def shown(self: Any, obj: Charge) -> str:
        value = getattr(obj, name)
        if value is None:
            return "-"
        return f"{value.normalize():,f} {getattr(obj, unit)}".strip()

    return shown


# The filtered set is counted (for pagination and totals) only up to this many rows: a page of
# a million charges must not wait for a full COUNT(*) or SUM().
COUNT_LIMIT = 10_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_LIMIT + 1 rows; beyond that the count reads as "more than 10,000"."""

    @cached_property
    def count(self) -> int:
        return int(self.object_list.order_by()[: COUNT_LIMIT + 1].count())  # type: ignore[attr-defined]


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)


class ReattributeForm(forms.Form):
    pi_email = forms.EmailField(
        required=False, label="PI email", help_text="Leave empty to keep each charge's PI",
        validators=[refuse_control_characters],
    )  # fmt: skip
    project_code = forms.CharField(
        required=False, label="Project", help_text="Leave empty to keep each project",
        validators=[refuse_control_characters],
    )  # fmt: skip
    fund_org = forms.CharField(
        required=False, label="Fund/org", help_text="Leave empty to keep each fund/org",
        validators=[refuse_control_characters],
    )  # fmt: skip
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), label="Reason")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(k) for k in ("pi_email", "project_code", "fund_org")):
            raise forms.ValidationError("Give a PI, a project or a fund/org to change.")
        return data


class ReviewDecisionInline(ReadOnlyInline):
    model = ReviewDecision
    fields = ("created_at", "decision", "state_before", "state_after", "note", "attribution_change", "actor")
    readonly_fields = fields

    @admin.display(description="Attribution before → after")
    def attribution_change(self, obj: ReviewDecision) -> str:
        if not obj.attribution_before and not obj.attribution_after:
            return "-"
        return format_html("{} → {}", _compact(obj.attribution_before), _compact(obj.attribution_after))


def _compact(data: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (data or {}).items() if v) or "-"


@admin.register(Charge)
class ChargeAdmin(RowReviewMixin, FilteredExportMixin, ExportMixin, ReadOnlyAdmin):
    """The review queue (flagged charges of open periods by default) and every charge's detail;
    export of the filtered charges as CSV or XLSX (formula-escaped)."""

    resource_classes = [ChargeResource]
    formats = FORMATS

    # What a reviewer decides on, narrow enough for 1366 px with the side menu open.
    list_display = ["period_name", "pi_name", "project_code", "service", "billed", "flags"]
    list_display_links = ["period_name"]
    list_filter = [ReviewFilter, PeriodFilter, "source", FlagReasonFilter, AmountFilter, PiFilter, ProjectFilter]
    search_fields = ["resource_id", "pi__email", "project__code", "fund_org"]  # exact matches, see below
    search_help_text = "A resource id, PI email, project code or fund/org (exact)"
    ordering = ["-id"]
    list_select_related = ["period", "source", "pi", "project"]
    list_per_page = 100
    show_full_result_count = False
    paginator = CappedPaginator
    actions = ["approve_selected", "reject_selected", "reattribute_selected"]
    inlines = [ReviewDecisionInline]
    change_list_template = "admin/billing/charge/change_list.html"
    change_form_template = "admin/billing/charge/change_form.html"
    fieldsets = [
        ("Attribution", {"fields": [
            "pi_label", "project", "fund_org", "cost_center", "account_code", "reference_1", "reference_2",
            "attribution_rule",
        ]}),
        ("Review", {"fields": ["review_state", "reasons", "origin"]}),
        ("Amounts", {"fields": [
            "billing_currency", "list_cost_shown", "list_unit_price_shown", "contracted_cost_shown",
            "contracted_unit_price_shown", "billed_cost_shown", "effective_cost_shown", "pricing_quantity_shown",
            "consumed_quantity_shown",
        ]}),
        ("Charge", {"fields": [
            "charge_category", "charge_class", "charge_frequency", "charge_description",
            "billing_period_start", "billing_period_end", "charge_period_start", "charge_period_end",
        ]}),
        ("Service and resource", {"fields": [
            "provider_name", "publisher_name", "invoice_issuer_name", "service_category", "service_subcategory",
            "service_name", "resource_id", "resource_name", "resource_type", "region_id", "region_name",
            "availability_zone", "sku_id", "sku_price_id", "invoice_id",
        ]}),
        ("Accounts", {"fields": [
            "billing_account_id", "billing_account_name", "sub_account_id", "sub_account_name",
        ]}),
        ("Everything else in the file", {"fields": ["tags_pretty", "focus_extra_pretty", "extensions_pretty"]}),
    ]  # fmt: skip
    readonly_fields = [
        "pi_label", "reasons", "origin", "tags_pretty", "focus_extra_pretty", "extensions_pretty",
        *(f"{name}_shown" for name in MONEY_FIELDS + EXACT_FIELDS),
    ]  # fmt: skip

    list_cost_shown = _money_column("list_cost", "List cost")
    contracted_cost_shown = _money_column("contracted_cost", "Contracted cost")
    billed_cost_shown = _money_column("billed_cost", "Billed cost")
    effective_cost_shown = _money_column("effective_cost", "Effective cost")
    list_unit_price_shown = _exact_column("list_unit_price", "List unit price", "billing_currency")
    contracted_unit_price_shown = _exact_column("contracted_unit_price", "Contracted unit price", "billing_currency")
    pricing_quantity_shown = _exact_column("pricing_quantity", "Pricing quantity", "pricing_unit")
    consumed_quantity_shown = _exact_column("consumed_quantity", "Consumed quantity", "consumed_unit")

    # -- columns ----------------------------------------------------------------------------
    # Sorted through the index on (period, billed_cost): offered once a period is chosen.
    @admin.display(description="Billed", ordering="billed_cost")
    def billed(self, obj: Charge) -> str:
        return money_html(obj.billed_cost, obj.billing_currency)

    @admin.display(description="Period")
    def period_name(self, obj: Charge) -> str:
        return obj.period.period

    @admin.display(description="PI")
    def pi_name(self, obj: Charge) -> str:
        if obj.pi is None:
            return "-"
        return format_html('<span title="{}">{}</span>', obj.pi.email, obj.pi.name or obj.pi.email)

    @admin.display(description="PI")
    def pi_label(self, obj: Charge) -> str:
        return f"{obj.pi.name} <{obj.pi.email}>" if obj.pi and obj.pi.name else (obj.pi.email if obj.pi else "-")

    @admin.display(description="Project")
    def project_code(self, obj: Charge) -> str:
        return obj.project.code if obj.project else "-"

    @admin.display(description="Service")
    def service(self, obj: Charge) -> str:
        resource = obj.resource_name or obj.resource_id
        return format_html(
            '{}<br><span class="oc-quiet" title="{}">{}</span>',
            obj.service_name or obj.source.display_name, resource, resource[:40],
        )  # fmt: skip

    @admin.display(description="Flags")
    def flags(self, obj: Charge) -> str:
        return self._with_dispute(obj, flag_badges(obj))

    @admin.display(description="Flag reasons")
    def reasons(self, obj: Charge) -> str:
        return self._with_dispute(obj, ", ".join(reason_words(r) for r in obj.flag_reason_list) or "-")

    @staticmethod
    def _with_dispute(obj: Charge, shown: str) -> str:
        """A disputed charge shows what the PI wrote, from its own review history (few are disputed)."""
        if "disputed" not in obj.flag_reason_list:
            return shown
        dispute = obj.decisions.filter(decision=ReviewDecision.Decision.DISPUTE).order_by("-id").first()
        return format_html('{} <q class="oc-dispute">{}</q>', shown, dispute.note if dispute else "")

    @admin.display(description="From")
    def origin(self, obj: Charge) -> str:
        files = list(obj.batch.files.filter(role=ImportFile.Role.FOCUS).order_by("id"))
        name = files[obj.file_index].name if obj.file_index < len(files) else "?"
        state = "" if obj.active else " (batch no longer applied)"
        return format_html(
            '<a href="../../../importbatch/{}/change/">batch {}</a>, {} line {}{}',
            obj.batch_id, obj.batch_id, name, obj.line_number, state,
        )  # fmt: skip

    @admin.display(description="Tags")
    def tags_pretty(self, obj: Charge) -> str:
        return json_table(obj.tags or {})

    @admin.display(description="Other FOCUS columns")
    def focus_extra_pretty(self, obj: Charge) -> str:
        return json_table(obj.focus_extra or {})

    @admin.display(description="Extension (x_*) and unknown columns")
    def extensions_pretty(self, obj: Charge) -> str:
        return json_table(obj.extensions or {})

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if self.has_approve_permission(request):
            columns.append(self.row_actions_column(request))
        return columns

    def get_urls(self) -> list[URLPattern]:
        return self.row_review_urls() + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_review": self.has_approve_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_sortable_by(self, request: HttpRequest) -> Any:
        sortable = super().get_sortable_by(request)
        return sortable if request.GET.get("period") else [f for f in sortable if f != "billed"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Charge], search_term: str
    ) -> tuple[QuerySet[Charge], bool]:
        """Exact matches only: a LIKE '%…%' over a million charges would take seconds. PIs and
        projects are looked up first so the charge query uses their indexes."""
        term = search_term.strip()
        if not term:
            return queryset, False
        from django.db.models import Q

        from billing.models import PI, Project

        pi_ids = list(PI.objects.filter(email=term.lower()).values_list("id", flat=True))
        project_ids = list(Project.objects.filter(code=term).values_list("id", flat=True))
        if pi_ids or project_ids:
            return queryset.filter(Q(pi_id__in=pi_ids) | Q(project_id__in=project_ids)), False
        if Charge.objects.filter(resource_id=term).exists():  # indexed
            return queryset.filter(resource_id=term), False
        return queryset.filter(fund_org=term), False  # indexed (fund_org, period)

    # -- the changelist: totals of the filtered set ------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            cl = response.context_data["cl"]
            count = cl.paginator.count
            if count <= COUNT_LIMIT:
                rows = cl.queryset.order_by().values("billing_currency").annotate(total=MoneySum("billed_cost"))
                response.context_data["filtered_totals"] = {
                    "count": count,
                    "amounts": [money(r["total"], r["billing_currency"]) for r in rows.order_by("billing_currency")],
                }
                flagged_view = request.GET.get("review", "flagged") == "flagged"
                if count and flagged_view and self.has_approve_permission(request) and cl.result_list:
                    # The admin's own "select all N, then an action", in one button.
                    response.context_data["approve_all"] = {"count": count, "any": cl.result_list[0].pk}
            else:
                response.context_data["filtered_totals"] = {"count": None, "limit": COUNT_LIMIT}
        return response

    # -- permissions ----------------------------------------------------------------------------
    def has_approve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.approve_charge"))

    # -- actions ------------------------------------------------------------------------------
    @admin.action(description="Approve selected charges…", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Charge]) -> HttpResponse | None:
        return self._decision(request, queryset, "approve")

    @admin.action(description="Reject selected charges…", permissions=["approve"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Charge]) -> HttpResponse | None:
        return self._decision(request, queryset, "reject")

    @admin.action(description="Fix attribution of selected charges…", permissions=["approve"])
    def reattribute_selected(self, request: HttpRequest, queryset: QuerySet[Charge]) -> HttpResponse | None:
        return self._reattribute(request, queryset)

    def review_decide(self, request: HttpRequest, queryset: QuerySet[Charge], kind: str) -> HttpResponse | None:
        """approve / reject / reattribute `queryset`: the confirmation page, or None once done."""
        if kind == "reattribute":
            return self._reattribute(request, queryset)
        return self._decision(request, queryset, kind)

    def _reattribute(self, request: HttpRequest, queryset: QuerySet[Charge]) -> HttpResponse | None:
        form = ReattributeForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            ids = list(queryset.values_list("pk", flat=True))
            try:
                result = charges_reattribute(
                    ids=ids, actor=actor_for(request), reason=form.cleaned_data["reason"],
                    pi_email=form.cleaned_data["pi_email"] or None,
                    project_code=form.cleaned_data["project_code"] or None,
                    fund_org=form.cleaned_data["fund_org"] or None,
                )  # fmt: skip
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                f"Fixed the attribution of {result.charges} charges: {result.now_ok} now ok, "
                f"{result.now_flagged} still flagged.",
                messages.SUCCESS,
            )
            return None
        return self._confirmation(request, queryset, "reattribute_selected", "Fix attribution", form)

    def _decision(self, request: HttpRequest, queryset: QuerySet[Charge], decision: str) -> HttpResponse | None:
        action = f"{decision}_selected"
        form = NoteForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            ids = list(queryset.values_list("pk", flat=True))
            note = form.cleaned_data["note"]
            try:
                if decision == "approve":
                    result = charges_approve(ids=ids, actor=actor_for(request), note=note)
                else:
                    result = charges_reject(ids=ids, actor=actor_for(request), note=note)
            except BillingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            verb = {"approve": "Approved", "reject": "Rejected"}[decision]
            self.message_user(
                request, decided_message(verb, result.charges, result.cost, len(result.skipped)), messages.SUCCESS
            )
            return None
        title = {"approve": "Approve charges", "reject": "Reject charges"}[decision]
        return self._confirmation(request, queryset, action, title, form)

    def _confirmation(
        self, request: HttpRequest, queryset: QuerySet[Charge], action: str, title: str, form: forms.Form
    ) -> TemplateResponse:
        count = queryset.count()
        totals = queryset.order_by().values("billing_currency").annotate(total=MoneySum("billed_cost"))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action": action,
            "form": form,
            "count": count,
            "totals": [money(t["total"], t["billing_currency"]) for t in totals],
            "sample": [
                (charge, [reason_words(r) for r in charge.flag_reason_list])
                for charge in queryset.select_related("pi", "project", "period")[:20]
            ],
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/billing/charge/confirm_action.html", context)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "charge", "decision", "state_before", "state_after", "actor"]
    list_filter = ["decision"]
    raw_id_fields = ["charge"]
    show_full_result_count = False
