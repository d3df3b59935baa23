"""Portal delegates in the admin: a finance admin grants or withdraws a PI's portal access."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.models import SocialApp, SocialToken
from django import forms
from django.contrib import admin
from django.http import HttpRequest

from chargeback.audit import Actor, audit_record
from statements.models import PortalDelegate

# The single sign-on provider is configured in settings (OIDC_*), never in the database, and
# provider tokens are not stored: neither table belongs in the admin.
for _model in (SocialApp, SocialToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class PortalDelegateForm(forms.ModelForm):
    class Meta:
        model = PortalDelegate
        fields = ["pi", "email", "all_projects", "projects", "email_statements", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        pi, projects = data.get("pi"), data.get("projects")
        if pi is not None and projects and any(p.pi_id != pi.pk for p in projects):
            raise forms.ValidationError("Only projects of this PI can be shared.")
        if not data.get("all_projects") and not projects:
            raise forms.ValidationError("Choose all projects or at least one project.")
        if pi is not None and data.get("email", "").strip().lower() == pi.email:
            raise forms.ValidationError("A PI already sees their own projects.")
        return data


def _snapshot(d: PortalDelegate) -> dict[str, Any]:
    return {
        "pi": d.pi.email,
        "email": d.email,
        "all_projects": d.all_projects,
        "projects": sorted(d.projects.values_list("code", flat=True)),
        "email_statements": d.email_statements,
        "note": d.note,
    }


@admin.register(PortalDelegate)
class PortalDelegateAdmin(admin.ModelAdmin):
    form = PortalDelegateForm
    list_display = [
        "email", "pi", "all_projects", "shared_projects", "email_statements", "note", "created_by", "created_at"
    ]  # fmt: skip
    list_select_related = ["pi"]
    list_filter = ["all_projects"]
    search_fields = ["email", "pi__email", "pi__name", "projects__code"]
    autocomplete_fields = ["pi"]
    filter_horizontal = ["projects"]
    readonly_fields = ["created_by", "created_at"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("projects")

    @admin.display(description="Projects")
    def shared_projects(self, obj: PortalDelegate) -> str:
        return "all" if obj.all_projects else ", ".join(p.code for p in obj.projects.all())

    def save_model(self, request: HttpRequest, obj: PortalDelegate, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = Actor.for_user(request.user).label
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        action = "portal.delegate_update" if change else "portal.delegate_grant"
        actor = Actor.for_user(request.user, request.META.get("REMOTE_ADDR"))
        audit_record(actor=actor, action=action, obj=form.instance, after=_snapshot(form.instance))

    def delete_model(self, request: HttpRequest, obj: PortalDelegate) -> None:
        actor = Actor.for_user(request.user, request.META.get("REMOTE_ADDR"))
        audit_record(actor=actor, action="portal.delegate_revoke", obj=obj, before=_snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
