"""Portal pages of the open month: charges to date, disputes, budgets (each through `Access`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from billing.models import Budget, Project
from billing.models.budgets import format_thresholds, parse_thresholds
from billing.services.budgets import budget_save
from chargeback.audit import actor_for
from chargeback.errors import DomainError
from chargeback.models import Organization
from statements.portal import selectors
from statements.portal.access import Access
from statements.portal.open_month import (
    budget_rows,
    open_month,
    open_month_charges,
    portal_alerts,
    portal_disputes,
)
from statements.portal.views import _context, portal_page
from statements.services.disputes import dispute_raise

CHARGES_SHOWN = 500


@portal_page
def open_month_page(request: HttpRequest, access: Access) -> HttpResponse:
    month = open_month(access)
    alerts = list(portal_alerts(access).order_by("budget__project__code", "threshold"))
    context = _context(request, access, "open", "This month, not yet billed", month=month, alerts=alerts)
    return render(request, "portal/open_month.html", context)


def _project(access: Access, pk: int) -> Project:
    project = selectors.portal_project(access, pk)
    if project is None:
        raise Http404("No such project")
    return project


@portal_page
def project_open(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    project = _project(access, pk)
    month = open_month(access, project=project)
    period = month.period if month else None
    charges = []
    if period:
        qs = open_month_charges(access, project, period).select_related("source").order_by("service_name", "pk")
        charges = list(qs[:CHARGES_SHOWN])
    disputes = list(portal_disputes(access).filter(project=project, period__period=period)) if period else []
    disputed = {c.pk for d in disputes if d.status == "open" for c in d.charges.all()}
    context = _context(
        request, access, "open", f"{project} this month", project=project, month=month,
        line=month.projects[0] if month and month.projects else None, charges=charges, disputes=disputes,
        disputed=disputed, budgets=budget_rows(access, project, period),
        may_set_budget=_may_set_budget(access, project),
    )  # fmt: skip
    return render(request, "portal/project_open.html", context)


@require_POST
@portal_page
def dispute_create(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    project = _project(access, pk)
    try:
        ids = [int(v) for v in request.POST.getlist("charge")]
    except ValueError:
        raise Http404("No such charge") from None
    try:
        dispute_raise(
            access=access, project=project, comment=request.POST.get("comment", ""), actor=actor_for(request),
            charge_ids=ids or None, service_name=request.POST.get("service") or None,
        )  # fmt: skip
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Your dispute is with the billing team; these charges are held until they reply.")
    return redirect("portal:project_open", pk=pk)


def _may_set_budget(access: Access, project: Project) -> bool:
    own = access.own_pi
    return bool(own and project.pi_id == own.pk and Organization.current().pis_set_budgets)


class BudgetForm(forms.Form):
    amount = forms.CharField(label="Amount")
    currency = forms.CharField(max_length=3, initial="USD")
    span = forms.ChoiceField(choices=Budget.Span.choices)
    thresholds = forms.CharField(initial="50/80/100", help_text="Alert at these percentages of the amount")

    def clean_amount(self) -> Decimal:
        try:
            return Decimal(self.cleaned_data["amount"].strip().replace(",", ""))
        except InvalidOperation:
            raise forms.ValidationError("Give an amount such as 1500 or 1500.00") from None

    def clean_thresholds(self) -> list[int]:
        return parse_thresholds(self.cleaned_data["thresholds"])


@portal_page
def budget_edit(request: HttpRequest, access: Access, pk: int) -> HttpResponse:
    project = _project(access, pk)
    if not _may_set_budget(access, project):
        context = _context(request, access, "projects", "Budgets are set by the billing office")
        return render(request, "portal/budget_not_allowed.html", context, status=403)
    current = Budget.objects.filter(project=project, span=request.GET.get("span") or Budget.Span.MONTH).first()
    initial = {"currency": Organization.current().expected_currency, "span": Budget.Span.MONTH}
    if current is not None:
        initial = {"amount": f"{current.amount:f}", "currency": current.currency, "span": current.span,
                   "thresholds": format_thresholds(current.thresholds)}  # fmt: skip
    form = BudgetForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            budget_save(
                project=project, amount=data["amount"], currency=data["currency"].strip().upper(), span=data["span"],
                thresholds=data["thresholds"], set_by=Budget.SetBy.PI, actor=actor_for(request),
            )  # fmt: skip
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Budget saved.")
            return redirect("portal:project_open", pk=pk)
    context = _context(request, access, "projects", f"Budget of {project}", project=project, form=form)
    return render(request, "portal/budget_form.html", context)
