"""Portal filters (django-filter). Choices come from what the user may see, nothing more."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.http import QueryDict

from billing.models import Charge
from statements.models import Statement
from statements.portal.access import Access
from statements.portal.selectors import portal_periods, portal_projects, portal_service_names

CURRENT = "current"
STATUS_CHOICES = [
    (CURRENT, "Current versions"),
    (Statement.Status.DRAFT, "Draft (PDF pending)"),
    (Statement.Status.FINAL, "Final"),
    (Statement.Status.SENT, "Sent"),
    (Statement.Status.SUPERSEDED, "Superseded (history)"),
    ("all", "All versions"),
]


class _PortalFilterSet(django_filters.FilterSet):
    def __init__(self, *args: Any, access: Access, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access = access
        periods = portal_periods(access)
        self.filters["period"].extra["choices"] = [(p, p) for p in periods]
        self.filters["project"].queryset = portal_projects(access)


class StatementFilter(_PortalFilterSet):
    period = django_filters.ChoiceFilter(field_name="period__period", label="Period", empty_label="All periods")
    project = django_filters.ModelChoiceFilter(label="Project", empty_label="All projects")
    status = django_filters.ChoiceFilter(
        label="Status", choices=STATUS_CHOICES, method="filter_status", empty_label=None, null_label=None
    )

    class Meta:
        model = Statement
        fields = ["period", "project", "status"]

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # Always bound, so that the default (current versions) applies to a plain visit too.
        data = data.copy() if data is not None else QueryDict(mutable=True)
        if not data.get("status"):
            data["status"] = CURRENT
        super().__init__(data, *args, **kwargs)

    def filter_status(self, qs: QuerySet[Statement], name: str, value: str) -> QuerySet[Statement]:
        if value == "all":
            return qs
        if value in ("", CURRENT):
            return qs.exclude(status=Statement.Status.SUPERSEDED)
        return qs.filter(status=value)


class ChargeFilter(_PortalFilterSet):
    period = django_filters.ChoiceFilter(field_name="period__period", label="Period", empty_label="All periods")
    project = django_filters.ModelChoiceFilter(label="Project", empty_label="All projects")
    service = django_filters.ChoiceFilter(field_name="service_name", label="Service", empty_label="All services")
    resource = django_filters.CharFilter(label="Resource", method="filter_resource")

    class Meta:
        model = Charge
        fields = ["period", "project", "service", "resource"]

    def __init__(self, *args: Any, access: Access, **kwargs: Any) -> None:
        super().__init__(*args, access=access, **kwargs)
        self.filters["service"].extra["choices"] = [(s, s) for s in portal_service_names(access)]
        widget = self.filters["resource"].field.widget
        widget.input_type = "search"
        widget.attrs["placeholder"] = "id or name contains"

    def filter_resource(self, qs: QuerySet[Charge], name: str, value: str) -> QuerySet[Charge]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(resource_id__icontains=value) | Q(resource_name__icontains=value))
