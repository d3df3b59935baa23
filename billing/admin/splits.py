"""A project's split across funds, edited inline on the project."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from billing.models import ProjectFunding
from billing.selectors.funding import FundingRow, split_problems


class SplitFormSet(forms.BaseInlineFormSet):
    """The project's rows must add up to 100 % on every day one is in force; refused with the dates."""

    def clean(self) -> None:
        super().clean()
        rows = [
            FundingRow(f.cleaned_data["fund"].fund_org, f.cleaned_data["percent"], f.cleaned_data["effective_from"],
                       f.cleaned_data.get("effective_to"))
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("fund")
            and f.cleaned_data.get("percent") is not None and f.cleaned_data.get("effective_from")
        ]  # fmt: skip
        problems = split_problems(rows)
        if problems:
            raise forms.ValidationError(f"the funding does not add up to 100% on every day: {'; '.join(problems)}")


class ProjectFundingInline(admin.TabularInline):
    model = ProjectFunding
    formset = SplitFormSet
    extra = 0
    autocomplete_fields = ["fund"]
    fields = ["fund", "percent", "effective_from", "effective_to"]
