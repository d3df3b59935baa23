from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .admin_base import AuditedAdminMixin
from .formatting import json_table
from .models import AuditEvent, Organization

MANAGE_RULES = "billing.manage_rules"
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class ActorFilter(admin.SimpleListFilter):
    """The people and programs that acted (the most recent first, at most `LIMIT`)."""

    title = "actor"
    parameter_name = "actor"
    LIMIT = 50

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        seen: list[str] = []
        # Newest events first: a long-gone actor drops off the list, today's are on it.
        for actor in AuditEvent.objects.order_by("-id").values_list("actor", flat=True)[: self.LIMIT * 200]:
            if actor not in seen:
                seen.append(actor)
                if len(seen) == self.LIMIT:
                    break
        value = self.value()
        if value and value not in seen:
            seen.append(value)
        return [(a, a) for a in sorted(seen)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(actor=value) if value else queryset


class ObjectTypeFilter(admin.SimpleListFilter):
    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        types = AuditEvent.objects.exclude(object_type="").order_by("object_type").values_list("object_type", flat=True)
        return [(t, t) for t in types.distinct()[:100]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(object_type=value) if value else queryset


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()[:200]
        return [(a, a) for a in actions]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(action=value) if value else queryset


class PeriodFilter(admin.SimpleListFilter):
    title = "period"
    parameter_name = "period"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        periods = AuditEvent.objects.exclude(period="").order_by("-period").values_list("period", flat=True)
        return [(p, p) for p in periods.distinct()[:60]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(period=value) if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: nothing in the admin can add, edit or delete audit rows."""

    list_display = ["created_at", "actor", "action", "object_label", "period", "ip"]
    list_filter = [ActorFilter, ActionFilter, ObjectTypeFilter, PeriodFilter]
    search_fields = ["actor", "action", "object_repr", "object_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = readonly_fields = (
        "created_at", "actor", "user", "ip", "action", "object_type", "object_id", "object_repr", "period",
        "before_data", "after_data",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Links to one object's history: ?object_type=billing.billingperiod&object_id=3
        return lookup == "object_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Source IP", ordering="source_ip")
    def ip(self, obj: AuditEvent) -> str:
        return obj.source_ip or "-"

    @admin.display(description="Object")
    def object_label(self, obj: AuditEvent) -> str:
        # The type under the name, so the log fits a laptop screen without a column per part.
        return format_html('{}<br><span class="oc-quiet">{}</span>', obj.object_repr or "-", obj.object_type)

    @admin.display(description="Before")
    def before_data(self, obj: AuditEvent) -> str:
        return json_table(obj.before)

    @admin.display(description="After")
    def after_data(self, obj: AuditEvent) -> str:
        return json_table(obj.after)


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = [
            "name", "expected_currency", "address", "contact_name", "contact_email", "contact_phone", "website", "logo",
            "payment_instructions", "footer_text", "statement_email_subject", "statement_email_intro",
        ]  # fmt: skip

    def clean_expected_currency(self) -> str:
        value = self.cleaned_data["expected_currency"].strip()
        if not CURRENCY_RE.match(value):
            raise forms.ValidationError("Use an ISO 4217 currency code: three upper-case letters, such as USD or EUR.")
        return value


@admin.register(Organization)
class OrganizationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Branding and billing defaults. The expected currency is a rule: only `manage_rules` edits it."""

    form = OrganizationForm
    list_display = ["name", "expected_currency", "contact_email"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Organization.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm(MANAGE_RULES):
            readonly.append("expected_currency")
        return readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "expected_currency" in form.changed_data and change:
            self.message_user(
                request,
                f"Charges not in {obj.expected_currency} are flagged from the next import on; re-evaluate the "
                "open period (from the flag pattern list) to apply it to charges already imported.",
                messages.INFO,
            )
