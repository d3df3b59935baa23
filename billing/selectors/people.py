"""Reads for the finance views of projects and PIs: cost in a period, flags and decisions.

Cost is the *billed* figure of `billing.selectors.figures` (what the statements bill), with its
list cost and charge count, per project or per PI. The changelists sort by it: the sort key is a
float sum made for ordering only, while the amounts shown are exact sums (`MoneySum`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Count, FloatField, IntegerField, Max, Min, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Cast

from billing.models import PI, BillingPeriod, Charge, Project, ReviewDecision
from chargeback.money import MoneySum

from .figures import billed_charges, list_or_billed

State = Charge.ReviewState


def cost_periods() -> list[str]:
    """Periods to pick the cost of, newest first."""
    return list(BillingPeriod.objects.order_by("-period").values_list("period", flat=True)[:36])


def with_period_cost(queryset: QuerySet[Any], *, period: BillingPeriod, by: str) -> QuerySet[Any]:
    """Projects (`by="project"`) or PIs (`by="pi"`) annotated with their billed figures of `period`:
    `cost_charges`, `cost_billed`, `cost_listed` (exact), `cost_rank` (for sorting) and the
    currency (`cost_currency`, None when the charges are in several: amounts are never added
    across currencies, the finance page shows them apart)."""
    mine = billed_charges(period=period).filter(**{by: OuterRef("pk")}).order_by().values(by)

    def one(expression: Any, output: Any) -> Subquery:
        return Subquery(mine.annotate(v=expression).values("v"), output_field=output)

    return queryset.annotate(
        cost_currency_min=one(Min("billing_currency"), CharField()),
        cost_currency_max=one(Max("billing_currency"), CharField()),
        cost_charges=one(Count("id"), IntegerField()),
        cost_billed=one(MoneySum("billed_cost"), MoneySum("billed_cost").output_field),
        cost_listed=one(list_or_billed(), MoneySum("billed_cost").output_field),
        cost_rank=one(Sum(Cast("billed_cost", FloatField())), FloatField()),
    )


@dataclass
class ReviewSummary:
    """Per period: charges by review state other than ok; and the latest decisions."""

    periods: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[ReviewDecision] = field(default_factory=list)


def review_summary(*, project: Project | None = None, pi: PI | None = None, latest: int = 10) -> ReviewSummary:
    """The flags and decisions of a project's or a PI's current charges."""
    where = {"project": project} if project is not None else {"pi": pi}
    counts = (
        Charge.objects.filter(active=True, **where)
        .exclude(review_state=State.OK)
        .values("period__period", "review_state")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows: dict[str, dict[str, Any]] = {}
    for r in counts:
        row = rows.setdefault(r["period__period"], {"period": r["period__period"], **dict.fromkeys(State.values, 0)})
        row[r["review_state"]] = r["n"]
    decisions = (
        ReviewDecision.objects.filter(**{f"charge__{k}": v for k, v in where.items()})
        .select_related("charge", "charge__period")
        .order_by("-id")[:latest]
    )
    periods = sorted(rows.values(), key=lambda r: r["period"], reverse=True)
    return ReviewSummary(periods=periods, decisions=list(decisions))
