"""Budget spend and forecast, read from the one definition of the figures.

Spend = *billed* (what the statements bill) + *flagged* (still pending review): the charges
`billing.selectors.figures.unrejected_charges` returns, credits included, in the budget's own
currency (currencies are never added together) and within the budget's own span only: the month
of the charges for a monthly budget, the award's period of performance for an award budget.

Forecast: the month-end figure from the month-to-date run rate by charge days: the month's spend
divided by the days up to the newest charge day, times the days of the month.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate

from billing.models import BillingPeriod, Budget, Charge, Project
from chargeback.money import ZERO, MoneySum

from .figures import unrejected_charges


def budget_award_span(fund_org: str) -> tuple[date | None, date] | None:
    """The award's period of performance of a fund/org: (start, end), start None when unknown.

    Today the end is the latest fund end date of the projects charged to that fund/org by default;
    the Fund model (with the award's start and end) answers this once it is part of the code base.
    """
    ends = [
        d for d in Project.objects.filter(fund_org=fund_org).values_list("fund_end_date", flat=True) if d is not None
    ]
    end = max(ends, default=None)
    return (None, end) if end is not None else None


@dataclass(frozen=True)
class Span:
    """The charges a budget counts: a month (`month`) or an award's dates."""

    key: str
    label: str
    month: str | None = None
    start: date | None = None
    end: date | None = None


def budget_span(budget: Budget, *, month: str) -> Span | None:
    """The span of `budget` that `month` falls in; None when the award's dates are unknown."""
    if budget.span == Budget.Span.MONTH:
        return Span(key=month, label=month, month=month)
    award: tuple[date | None, date] | None = None
    if budget.project_id:
        end = budget.project.fund_end_date if budget.project else None
        award = (None, end) if end is not None else None
    else:
        award = budget_award_span(budget.fund_org)
    if award is None:
        return None
    start, end = award
    return Span(
        key=f"award:{start or ''}..{end}", label=f"award {'from ' + str(start) + ' ' if start else ''}to {end}",
        start=start, end=end,
    )  # fmt: skip


def budget_charges(budget: Budget, span: Span) -> QuerySet[Charge]:
    """The charges the budget counts in `span` (billed and pending review, in its currency)."""
    qs = unrejected_charges(month=span.month).filter(billing_currency=budget.currency)
    qs = qs.filter(project_id=budget.project_id) if budget.project_id else qs.filter(fund_org=budget.fund_org)
    if span.month is None:
        assert span.end is not None
        dated = Q(charge_period_start__isnull=False, charge_period_start__date__lte=span.end)
        undated = Q(charge_period_start__isnull=True, period__period__lte=f"{span.end:%Y-%m}")
        if span.start is not None:
            dated &= Q(charge_period_start__date__gte=span.start)
            undated &= Q(period__period__gte=f"{span.start:%Y-%m}")
        qs = qs.filter(dated | undated)
    return qs


def charge_sum(qs: QuerySet[Charge]) -> Decimal:
    return qs.aggregate(total=MoneySum("billed_cost"))["total"] or ZERO


@dataclass
class RunRate:
    """A month to date: spend per charge day (cumulative) and the month-end forecast."""

    month: str
    days_in_month: int
    spend: Decimal = ZERO
    charge_days: int = 0  # the newest charge day of the month (1-based)
    cumulative: list[tuple[int, Decimal]] = field(default_factory=list)  # (day, spend up to that day)

    @property
    def forecast(self) -> Decimal:
        if not self.charge_days:
            return self.spend
        return self.spend / self.charge_days * self.days_in_month


def month_run_rate(qs: QuerySet[Charge], *, month: str) -> RunRate:
    """`qs`'s charges of `month` by the day they were used."""
    year, number = (int(x) for x in month.split("-"))
    rate = RunRate(month=month, days_in_month=calendar.monthrange(year, number)[1])
    rows = (
        qs.filter(period__period=month)
        .annotate(day=TruncDate("charge_period_start"))
        .values("day")
        .annotate(cost=MoneySum("billed_cost"))
        .order_by("day")
    )
    running = ZERO
    undated = ZERO
    for r in rows:
        day = r["day"]
        if day is None or (day.year, day.month) != (year, number):
            undated += r["cost"]  # no usage date in this month: counted, on the first day
            continue
        running += r["cost"]
        rate.cumulative.append((day.day, running))
        rate.charge_days = max(rate.charge_days, day.day)
    if undated:
        rate.cumulative = [(d, s + undated) for d, s in rate.cumulative]
        if not rate.cumulative or rate.cumulative[0][0] != 1:
            rate.cumulative.insert(0, (1, undated))
        rate.charge_days = max(rate.charge_days, 1)
        running += undated
    rate.spend = running
    return rate


@dataclass
class BudgetStatus:
    budget: Budget
    span: Span | None
    month: str
    spend: Decimal = ZERO
    forecast: Decimal = ZERO
    run_rate: RunRate | None = None

    @property
    def percent(self) -> Decimal:
        return self.spend / self.budget.amount * 100 if self.budget.amount else ZERO

    @property
    def forecast_percent(self) -> Decimal:
        return self.forecast / self.budget.amount * 100 if self.budget.amount else ZERO

    @property
    def reached(self) -> int | None:
        """The highest threshold the spend has reached."""
        return max((t for t in self.budget.thresholds if self.percent >= t), default=None)

    @property
    def level(self) -> str:
        if self.span is None:
            return "unknown"
        if self.percent >= 100:
            return "over"
        return "near" if self.reached is not None or self.forecast_percent >= 100 else "ok"


def budget_status(budget: Budget, *, month: str) -> BudgetStatus:
    """Spend and forecast of `budget` in the span that holds `month`."""
    span = budget_span(budget, month=month)
    status = BudgetStatus(budget=budget, span=span, month=month)
    if span is None:
        return status
    charges = budget_charges(budget, span)
    status.run_rate = month_run_rate(charges, month=month)
    status.spend = status.run_rate.spend if span.month else charge_sum(charges)
    status.forecast = status.spend - status.run_rate.spend + status.run_rate.forecast
    return status


def open_period() -> str | None:
    """The newest open month: the one still being imported and reviewed."""
    return (
        BillingPeriod.objects.filter(status=BillingPeriod.Status.OPEN)
        .order_by("-period")
        .values_list("period", flat=True)
        .first()
    )


def budgets_for_projects(project_ids: list[int]) -> QuerySet[Budget]:
    """Budgets of these projects and of the funds these projects are charged to by default."""
    funds = Project.objects.filter(pk__in=project_ids).exclude(fund_org="").values("fund_org")
    return Budget.objects.filter(Q(project_id__in=project_ids) | Q(fund_org__in=funds)).select_related("project")


def budget_projects(budget: Budget) -> QuerySet[Project]:
    """The projects a budget is about: its project, or those charged to its fund by default."""
    if budget.project_id:
        return Project.objects.filter(pk=budget.project_id)
    return Project.objects.filter(fund_org=budget.fund_org)


def budgets_near_or_over(*, month: str | None = None) -> list[BudgetStatus]:
    """Every budget whose spend reached a threshold or whose forecast passes its amount."""
    month = month or open_period()
    if month is None:
        return []
    statuses = [budget_status(b, month=month) for b in Budget.objects.select_related("project")]
    return sorted((s for s in statuses if s.level in ("near", "over")), key=lambda s: -s.percent)
