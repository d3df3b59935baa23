"""The delegate form of the portal (the admin has its own)."""

from __future__ import annotations

from typing import Any

from django import forms

from billing.models import PI, Project


class DelegateForm(forms.Form):
    email = forms.EmailField(label="Email address", help_text="They sign in with this address and a code sent to it.")
    all_projects = forms.BooleanField(label="All my projects, including future ones", required=False, initial=False)
    projects = forms.ModelMultipleChoiceField(
        label="Or only these projects",
        queryset=Project.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(label="Role (optional)", max_length=200, required=False, help_text="e.g. lab manager")

    def __init__(self, *args: Any, pi: PI, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["projects"].queryset = Project.objects.filter(pi=pi).order_by("code")  # type: ignore[attr-defined]
        if editing:
            self.fields["email"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("all_projects") and not data.get("projects"):
            raise forms.ValidationError("Choose all projects or at least one project.")
        return data
