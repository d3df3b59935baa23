"""Reads for commands, admin and views: querysets and exact aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from billing.models import PI, BillingPeriod, Charge, Reevaluation, Source
from billing.services.periods import period_validate
from billing.services.reevaluation import progress_key
from chargeback.money import MoneySum

FLAGGED = Charge.ReviewState.FLAGGED


def active_charges(*, period: str | None = None) -> QuerySet[Charge]:
    """Charges of applied batches (not replaced, not rolled back)."""
    qs = Charge.objects.filter(active=True)
    if period:
        period_validate(period)
        qs = qs.filter(period__period=period)
    return qs


def billable_charges(*, period: str | None = None) -> QuerySet[Charge]:
    """Active charges that are not rejected: what was imported to be billed (flagged included)."""
    return active_charges(period=period).exclude(review_state=Charge.ReviewState.REJECTED)


def period_summaries() -> list[dict[str, Any]]:
    """Per period: status, charges, billed and list totals (rejected excluded), flagged count and cost."""
    rows = []
    for p in BillingPeriod.objects.order_by("-period"):
        charges = Charge.objects.filter(period=p, active=True).exclude(review_state=Charge.ReviewState.REJECTED)
        totals = charges.aggregate(n=Count("id"), billed=MoneySum("billed_cost"), listed=_list_or_billed_sum())
        flagged = charges.filter(review_state=FLAGGED).aggregate(n=Count("id"), cost=MoneySum("billed_cost"))
        rows.append(
            {
                "period": p.period,
                "status": p.status,
                "charges": totals["n"],
                "billed_cost": totals["billed"],
                "list_cost": totals["listed"],
                "flagged_charges": flagged["n"],
                "flagged_cost": flagged["cost"],
                "currencies": sorted(set(charges.values_list("billing_currency", flat=True).distinct())),
            }
        )
    return rows


def _list_or_billed_sum() -> MoneySum:
    # A line without a list price was billed at list (no discount).
    from django.db.models.functions import Coalesce

    return MoneySum(Coalesce("list_cost", "billed_cost"))


def source_summaries() -> list[dict[str, Any]]:
    counts = dict(
        Charge.objects.filter(active=True).values_list("source").annotate(n=Count("id")).values_list("source", "n")
    )
    return [
        {
            "name": s.name,
            "display_name": s.display_name,
            "file_pattern": s.file_pattern,
            "credit_fund_org": s.credit_fund_org,
            "gl_account": s.gl_account,
            "enabled": s.enabled,
            "charges": counts.get(s.pk, 0),
            "last_import_at": s.last_import_at.isoformat() if s.last_import_at else None,
            "last_import_status": s.last_import_status,
        }
        for s in Source.objects.order_by("name")
    ]


def review_queue(*, period: str | None = None) -> QuerySet[Charge]:
    return (
        active_charges(period=period)
        .filter(review_state=FLAGGED)
        .select_related("pi", "project", "source", "period")
        .order_by("period__period", "id")
    )


def pi_period_summary(*, email: str, period: str) -> dict[str, Any] | None:
    """One PI's charges in a period, per project. None when the PI is unknown."""
    period_validate(period)
    pi = PI.objects.filter(email=email.strip().lower()).first()
    if pi is None:
        return None
    rows = (
        billable_charges(period=period)
        .filter(pi=pi)
        .values("project__code", "fund_org")
        .annotate(
            n=Count("id"),
            listed=_list_or_billed_sum(),
            billed=MoneySum("billed_cost"),
            flagged_count=Count("id", filter=Q(review_state=FLAGGED)),
        )
        .order_by("project__code", "fund_org")
    )
    flagged = {
        (r["project__code"], r["fund_org"]): r["cost"]
        for r in active_charges(period=period)
        .filter(pi=pi, review_state=FLAGGED)
        .values("project__code", "fund_org")
        .annotate(cost=MoneySum("billed_cost"))
    }
    projects = []
    zero = Decimal("0.0000000000")
    for r in rows:
        key = (r["project__code"], r["fund_org"])
        projects.append(
            {
                "project_id": r["project__code"] or "",
                "fund_org": r["fund_org"],
                "charges": r["n"],
                "list_cost": r["listed"],
                "billed_cost": r["billed"],
                "flagged_charges": r["flagged_count"],
                "flagged_cost": flagged.get(key, zero),
            }
        )
    return {
        "pi_email": pi.email,
        "period": period,
        "projects": projects,
        "total_list_cost": sum((p["list_cost"] for p in projects), zero),
        "total_billed_cost": sum((p["billed_cost"] for p in projects), zero),
        "total_flagged_cost": sum((p["flagged_cost"] for p in projects), zero),
    }


@dataclass
class ReevaluationState:
    """The latest re-evaluation of a period, and how far it is while it runs."""

    run: Reevaluation
    done: int | None = None  # charges evaluated so far (while running)
    total: int | None = None

    @property
    def under_way(self) -> bool:
        return self.run.status in (Reevaluation.Status.QUEUED, Reevaluation.Status.RUNNING)


def reevaluation_latest(*, period: BillingPeriod) -> ReevaluationState | None:
    run = Reevaluation.objects.filter(period=period).first()
    if run is None:
        return None
    state = ReevaluationState(run)
    if run.status == Reevaluation.Status.RUNNING:
        progress = cache.get(progress_key(run.pk))
        if progress is not None:
            state.done, state.total = progress
    return state
