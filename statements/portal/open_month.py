"""Reads for the open month on the portal: charges to date, disputes, budgets and alerts.

The figures are those the statement will show, from `billing.selectors.figures`: *billed*
(what the statement bills) and *flagged* (held for review, the disputed ones among them), never
a second computation. Every read goes through the user's `Access`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import Permission, User
from django.db.models import Count, Max, Q, QuerySet

from billing.models import BillingPeriod, Budget, BudgetAlert, Charge, ImportBatch, Project
from billing.selectors import billed_charges, flagged_charges, unrejected_charges
from billing.selectors.budgets import BudgetStatus, budget_projects, budget_status, budgets_for_projects, open_period
from chargeback.money import ZERO, MoneySum
from statements.models import Dispute, PortalDelegate
from statements.portal.access import Access
from statements.portal.charts import budget_chart


@dataclass
class Money:
    """Billed and pending-review amounts of one currency."""

    currency: str
    billed: Decimal = ZERO
    billed_charges: int = 0
    flagged: Decimal = ZERO
    flagged_charges: int = 0


@dataclass
class ProjectMonth:
    project: Project
    amounts: list[Money] = field(default_factory=list)
    services: list[dict[str, object]] = field(default_factory=list)


@dataclass
class OpenMonth:
    period: str
    as_of: datetime | None
    projects: list[ProjectMonth] = field(default_factory=list)


def data_as_of(month: str) -> datetime | None:
    """When the newest import of the month was applied."""
    return ImportBatch.objects.filter(period__period=month, status=ImportBatch.Status.APPLIED).aggregate(
        newest=Max("created_at")
    )["newest"]


def _amounts(access: Access, month: str, project_ids: list[int]) -> dict[int, dict[str, Money]]:
    rows: dict[int, dict[str, Money]] = defaultdict(dict)
    for qs, kind in ((billed_charges(month=month), "billed"), (flagged_charges(month=month), "flagged")):
        grouped = (
            qs.filter(access.charges_q(), project_id__in=project_ids)
            .values("project_id", "billing_currency")
            .annotate(n=Count("id"), cost=MoneySum("billed_cost"))
            .order_by()
        )
        for r in grouped:
            m = rows[r["project_id"]].setdefault(r["billing_currency"], Money(currency=r["billing_currency"]))
            setattr(m, kind, r["cost"])
            setattr(m, f"{kind}_charges", r["n"])
    return rows


def open_month(access: Access, *, project: Project | None = None) -> OpenMonth | None:
    """The open month's charges to date of the user's projects (or one of them), not yet billed."""
    month = open_period()
    if month is None:
        return None
    projects = Project.objects.filter(access.projects_q()).select_related("pi").order_by("code")
    if project is not None:
        projects = projects.filter(pk=project.pk)
    by_pk = {p.pk: p for p in projects}
    result = OpenMonth(period=month, as_of=data_as_of(month))
    amounts = _amounts(access, month, list(by_pk))
    for pk, currencies in amounts.items():
        if pk in by_pk:
            ordered = sorted(currencies.values(), key=lambda m: m.currency)
            result.projects.append(ProjectMonth(project=by_pk[pk], amounts=ordered))
    result.projects.sort(key=lambda pm: pm.project.code)
    if project is not None and result.projects:
        result.projects[0].services = _services(access, month, project)
    return result


def _services(access: Access, month: str, project: Project) -> list[dict[str, object]]:
    lines: dict[tuple[str, str], dict[str, object]] = {}
    for qs, kind in ((billed_charges(month=month), "billed"), (flagged_charges(month=month), "flagged")):
        grouped = (
            qs.filter(access.charges_q(), project=project)
            .values("service_name", "billing_currency")
            .annotate(n=Count("id"), cost=MoneySum("billed_cost"))
            .order_by()
        )
        for r in grouped:
            line = lines.setdefault(
                (r["service_name"], r["billing_currency"]),
                {"service": r["service_name"], "currency": r["billing_currency"], "billed": ZERO, "flagged": ZERO,
                 "charges": 0},
            )  # fmt: skip
            line[kind] = r["cost"]
            line["charges"] = int(line["charges"]) + r["n"]  # type: ignore[call-overload]
    return sorted(lines.values(), key=lambda s: (str(s["service"]), str(s["currency"])))


def disputable_charges(access: Access, project: Project) -> QuerySet[Charge]:
    """The project's billed or pending charges of open months that the user may see."""
    return unrejected_charges().filter(access.charges_q(), project=project, period__status=BillingPeriod.Status.OPEN)


def open_month_charges(access: Access, project: Project, month: str) -> QuerySet[Charge]:
    """The project's charges of the open month the user may see: billed and pending review."""
    billed = billed_charges(month=month).filter(access.charges_q(), project=project)
    flagged = flagged_charges(month=month).filter(access.charges_q(), project=project)
    return Charge.objects.filter(Q(pk__in=billed.values("pk")) | Q(pk__in=flagged.values("pk")))


def open_disputes(*, month: str | None = None) -> QuerySet[Dispute]:
    qs = Dispute.objects.filter(status=Dispute.Status.OPEN)
    return qs.filter(period__period=month) if month else qs


def portal_disputes(access: Access) -> QuerySet[Dispute]:
    return Dispute.objects.filter(access.charges_q()).select_related("project", "period").order_by("-created_at")


def charge_disputes(access: Access, charge: Charge) -> QuerySet[Dispute]:
    return portal_disputes(access).filter(charges=charge)


def reviewer_emails() -> list[str]:
    """Active staff who may resolve disputes (their role, their own permissions, or superusers)."""
    perm = Permission.objects.filter(content_type__app_label="statements", codename="resolve_dispute").first()
    q = Q(is_superuser=True)
    if perm is not None:
        q |= Q(groups__permissions=perm) | Q(user_permissions=perm)
    users = User.objects.filter(q, is_active=True, is_staff=True).exclude(email="").distinct()
    return sorted({u.email.lower() for u in users})


# Budgets --------------------------------------------------------------------------------------


def portal_budgets(access: Access, project: Project, *, month: str) -> list[BudgetStatus]:
    """The budgets of a project the user may see (its own and its default fund's), with spend and forecast."""
    if not Project.objects.filter(access.projects_q(), pk=project.pk).exists():
        return []
    return [budget_status(b, month=month) for b in budgets_for_projects([project.pk]).order_by("pk")]


def portal_alerts(access: Access) -> QuerySet[BudgetAlert]:
    """Standing alerts of budgets on the user's projects (or their projects' default funds)."""
    project_ids = list(Project.objects.filter(access.projects_q()).values_list("pk", flat=True))
    budgets = budgets_for_projects(project_ids)
    return BudgetAlert.objects.filter(budget__in=budgets, cleared_at__isnull=True).select_related(
        "budget", "budget__project"
    )


def project_viewers(project: Project) -> list[str]:
    """Who sees a project on the portal: its PI and the PI's delegates for all or this project."""
    if project.pi_id is None or project.pi is None:
        return []
    delegates = PortalDelegate.objects.filter(pi_id=project.pi_id).filter(Q(all_projects=True) | Q(projects=project))
    return sorted({project.pi.email, *delegates.values_list("email", flat=True)})


def budget_viewers(budget: Budget) -> list[str]:
    emails: set[str] = set()
    for p in budget_projects(budget).select_related("pi"):
        emails.update(project_viewers(p))
    return sorted(emails)


def budget_rows(access: Access, project: Project, month: str | None) -> list[tuple[object, str]]:
    """(status, SVG) of the project's budgets in the open month."""
    if month is None:
        return []
    return [(s, budget_chart(s)) for s in portal_budgets(access, project, month=month)]


def project_budgets(access: Access, project: Project) -> dict[str, object]:
    """The project page's budget pictures, for the open month."""
    month = open_month(access, project=project)
    return {"budgets": budget_rows(access, project, month.period if month else None), "open_month": month}
