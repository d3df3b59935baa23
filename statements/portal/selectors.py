"""Reads for the portal pages, always through an `Access` (never a bare id)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet

from billing.models import BillingPeriod, Charge, Project
from billing.selectors import BILLED_STATES, Basis, billed_amount, unrejected_charges
from billing.selectors.figures import list_or_billed
from chargeback.money import ZERO, round_cents
from statements.models import Statement, StatementLine
from statements.portal.access import Access

TREND_PERIODS = 12
TOP_RESOURCES = 10


def portal_statements(access: Access) -> QuerySet[Statement]:
    """Every version of the statements the user may see (filters choose current or history)."""
    return Statement.objects.filter(access.statements_q()).select_related("period", "pi", "project")


def portal_statement(access: Access, pk: int) -> Statement | None:
    return portal_statements(access).filter(pk=pk).order_by("pk").first()


def portal_statement_lines(st: Statement) -> QuerySet[StatementLine]:
    return st.lines.order_by("position")


def portal_charges(access: Access) -> QuerySet[Charge]:
    """Active, not rejected charges the user may see (flagged ones are shown as under review)."""
    return unrejected_charges().filter(access.charges_q())


def portal_charge(access: Access, pk: int) -> Charge | None:
    # Ordered by pk, not the model's (batch, file, line): a planner without statistics would
    # otherwise walk the batch index over every charge to find one.
    qs = portal_charges(access).filter(pk=pk).select_related("period", "project", "pi", "source")
    return qs.order_by("pk").first()


def portal_projects(access: Access) -> QuerySet[Project]:
    return Project.objects.filter(access.projects_q()).select_related("pi").order_by("code")


def portal_project(access: Access, pk: int) -> Project | None:
    return portal_projects(access).filter(pk=pk).order_by("pk").first()


def portal_periods(access: Access) -> list[str]:
    """Periods with statements or charges the user may see, newest first."""
    with_statements = set(portal_statements(access).order_by().values_list("period__period", flat=True).distinct())
    period_ids = portal_charges(access).order_by().values("period_id").distinct()
    with_charges = set(BillingPeriod.objects.filter(pk__in=period_ids).values_list("period", flat=True))
    return sorted(with_statements | with_charges, reverse=True)


def portal_service_names(access: Access) -> list[str]:
    names = portal_charges(access).exclude(service_name="").order_by().values_list("service_name", flat=True).distinct()
    return sorted(set(names))


@dataclass
class Totals:
    currency: str
    list_total: Decimal = ZERO
    discount_total: Decimal = ZERO
    amount_due: Decimal = ZERO
    statements: int = 0

    @property
    def discount_percent(self) -> str:
        if not self.list_total:
            return "0"
        return f"{(self.discount_total / self.list_total * 100):.1f}"


@dataclass
class TrendBar:
    period: str
    amount: Decimal
    height: int = 0  # of 100
    y: int = 0


@dataclass
class HomeSummary:
    period: str | None
    totals: list[Totals] = field(default_factory=list)
    trend: list[TrendBar] = field(default_factory=list)
    trend_currency: str = ""
    other_currencies: bool = False
    flagged_charges: int = 0
    unbilled_period: str | None = None
    unbilled: list[tuple[str, Decimal]] = field(default_factory=list)


def _current(qs: QuerySet[Statement]) -> QuerySet[Statement]:
    return qs.exclude(status=Statement.Status.SUPERSEDED)


def home_summary(access: Access) -> HomeSummary:
    """The latest period with statements: totals per currency; the last 12 periods' amounts due."""
    current = _current(portal_statements(access))
    rows = list(current.values_list("period__period", "currency", "list_total", "discount_total", "amount_due"))
    periods = sorted({r[0] for r in rows}, reverse=True)
    summary = HomeSummary(period=periods[0] if periods else None)
    by_currency: dict[str, Totals] = {}
    trend: dict[str, Decimal] = defaultdict(lambda: ZERO)
    currency_count: dict[str, int] = defaultdict(int)
    for _period, currency, *_ in rows:
        currency_count[currency] += 1
    main = max(currency_count, key=lambda c: (currency_count[c], c)) if currency_count else ""
    recent = set(periods[:TREND_PERIODS])
    for period, currency, list_total, discount_total, amount_due in rows:
        if period == summary.period:
            t = by_currency.setdefault(currency, Totals(currency=currency))
            t.list_total += list_total
            t.discount_total += discount_total
            t.amount_due += amount_due
            t.statements += 1
        if period in recent:
            if currency == main:
                trend[period] += amount_due
            else:
                summary.other_currencies = True
    summary.totals = sorted(by_currency.values(), key=lambda t: t.currency)
    summary.trend_currency = main
    summary.trend = [TrendBar(period=p, amount=trend[p]) for p in sorted(recent)]
    top = max((b.amount for b in summary.trend), default=ZERO)
    for bar in summary.trend:
        bar.height = int(bar.amount / top * 100) if top > 0 and bar.amount > 0 else 0
        bar.y = 100 - bar.height
    summary.flagged_charges = portal_charges(access).filter(review_state=Charge.ReviewState.FLAGGED).count()
    # The open period (not billed yet): what has been imported so far.
    open_period = BillingPeriod.objects.filter(status=BillingPeriod.Status.OPEN).order_by("-period").first()
    if open_period is not None and open_period.period != summary.period:
        sums = (
            portal_charges(access)
            .filter(period=open_period)
            .values("billing_currency")
            .annotate(billed=billed_amount(Basis.of()))
            .order_by("billing_currency")
        )
        summary.unbilled = [(r["billing_currency"], r["billed"]) for r in sums]
        if summary.unbilled:
            summary.unbilled_period = open_period.period
    return summary


@dataclass
class ProjectRow:
    project: Project
    latest_period: str | None = None
    latest_amount: Decimal | None = None
    currency: str = ""
    statements: int = 0


def project_rows(access: Access) -> list[ProjectRow]:
    projects = list(portal_projects(access))
    rows = {p.pk: ProjectRow(project=p) for p in projects}
    current = _current(portal_statements(access)).filter(project_id__in=list(rows))
    for project_id, period, currency, amount in current.order_by("period__period").values_list(
        "project_id", "period__period", "currency", "amount_due"
    ):
        row = rows[project_id]
        row.statements += 1
        row.latest_period, row.latest_amount, row.currency = period, amount, currency
    return list(rows.values())


def period_costs(access: Access, *, project: Project | None = None) -> list[dict[str, Any]]:
    """Per period and currency, newest first: the billed charges (count, list and billed cost, the
    discount, and `list_total` as a statement shows it), the charges under review, and the amount
    due of the current statements (None before there is one).

    The portal's project page and the finance pages of a project and of a PI all read this, so a PI
    and finance see the same figures. Billed cost means what the statements bill
    (`billing.selectors.figures`); a PI with several projects has one statement per project.
    """
    basis = Basis.of()
    charges = portal_charges(access).exclude(basis.off_bill())
    current = _current(portal_statements(access))
    if project is not None:
        charges, current = charges.filter(project=project), current.filter(project=project)
    per_period: dict[tuple[str, str], dict[str, Any]] = {}
    grouped = (
        charges.values("period__period", "billing_currency", "review_state")
        .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
        .order_by()
    )
    for r in grouped:
        key = (r["period__period"], r["billing_currency"])
        row = per_period.setdefault(
            key, {"period": key[0], "currency": key[1], "charges": 0, "list_cost": ZERO, "billed_cost": ZERO,
                  "flagged_charges": 0},
        )  # fmt: skip
        if r["review_state"] in BILLED_STATES:
            row["charges"] += r["n"]
            row["list_cost"] += r["listed"]
            row["billed_cost"] += r["billed"]
        else:
            row["flagged_charges"] += r["n"]
    due: dict[tuple[str, str], Decimal] = {}
    statements: dict[tuple[str, str], int] = defaultdict(int)
    for p, c, amount in current.values_list("period__period", "currency", "amount_due"):
        due[(p, c)] = due.get((p, c), ZERO) + amount
        statements[(p, c)] += 1
    periods = sorted(per_period.values(), key=lambda r: (r["period"], r["currency"]))
    periods.sort(key=lambda r: r["period"], reverse=True)
    for row in periods:
        key = (row["period"], row["currency"])
        row["discount"] = row["list_cost"] - row["billed_cost"]
        # The list price as a statement shows it: amount due plus discount, each rounded once.
        row["list_total"] = round_cents(row["billed_cost"]) + round_cents(row["discount"])
        row["statement_amount"] = due.get(key)
        row["statements"] = statements[key]
    return periods


@dataclass
class ProjectDetail:
    project: Project
    period: str | None
    periods: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    fund_orgs: list[str] = field(default_factory=list)


def project_detail(access: Access, project: Project, month: str | None = None) -> ProjectDetail:
    """Spend per period (the billed charges, those under review, and the statement), by service and top
    resources. Billed cost means what the statements bill (`billing.selectors.figures`)."""
    basis = Basis.of()
    charges = portal_charges(access).filter(project=project).exclude(basis.off_bill())
    periods = period_costs(access, project=project)
    period_names = [p["period"] for p in periods]
    chosen = month if month in period_names else (period_names[0] if period_names else None)
    detail = ProjectDetail(project=project, period=chosen, periods=periods)
    if chosen is None:
        return detail
    in_period = charges.filter(period__period=chosen, review_state__in=BILLED_STATES)
    services = (
        in_period.values("service_name", "billing_currency")
        .annotate(n=Count("id"), billed=billed_amount(basis))
        .order_by("service_name", "billing_currency")
    )
    rows = [
        {"service": s["service_name"], "currency": s["billing_currency"], "charges": s["n"], "billed_cost": s["billed"]}
        for s in services
    ]
    detail.services = sorted(rows, key=lambda s: -s["billed_cost"])
    # MoneySum cannot be ordered by in SQL on SQLite; a project's resources in a month are few.
    resources = (
        in_period.values("resource_id", "resource_name", "service_name", "billing_currency")
        .annotate(n=Count("id"), billed=billed_amount(basis))
        .order_by()
    )
    ranked = sorted(resources, key=lambda r: -r["billed"])[:TOP_RESOURCES]
    detail.resources = [
        {
            "resource_id": r["resource_id"],
            "resource_name": r["resource_name"],
            "service": r["service_name"],
            "currency": r["billing_currency"],
            "charges": r["n"],
            "billed_cost": r["billed"],
        }
        for r in ranked
    ]
    fund_orgs = in_period.exclude(fund_org="").order_by().values_list("fund_org", flat=True).distinct()
    detail.fund_orgs = sorted(set(fund_orgs))
    return detail
