"""Reads for commands, admin and views: querysets and exact aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Count, QuerySet

from billing.models import PI, BillingPeriod, Charge, ImportBatch, Reevaluation, Source, period_validate
from billing.services.reevaluation import progress_key
from chargeback.money import quantize

from .basis import Basis
from .figures import (
    BILLED_STATES,
    Amounts,
    Figures,
    active_charges,
    billed_amount,
    billed_charges,
    flagged_charges,
    list_or_billed,
    period_cells,
    unrejected_charges,
)

__all__ = [
    "BILLED_STATES", "Basis", "active_charges", "batch_replacement", "billed_amount", "billed_charges",
    "flagged_charges", "period_summaries", "pi_period_summary", "reevaluation_latest", "review_queue",
    "source_summaries", "unrejected_charges",
]  # fmt: skip

FLAGGED = Charge.ReviewState.FLAGGED


def period_summaries() -> list[dict[str, Any]]:
    """Per period, newest first: status and the four figures (see `billing.selectors.figures`).

    `charges`, `billed_cost` and `list_cost` are the billed charges (what the statements bill);
    the imported, flagged and rejected charges are given beside them.
    """
    periods = list(BillingPeriod.objects.order_by("-period"))
    cells = period_cells(period_ids=[p.pk for p in periods])
    rows = []
    for p in periods:
        figures = Figures()
        currencies = set()
        for (period_id, _source_id, currency), cell in cells.items():
            if period_id == p.pk and cell.imported.charges:
                figures.add(cell)
                currencies.add(currency)
        billed = figures.billed
        rows.append(
            {
                "period": p.period,
                "status": p.status,
                "charges": billed.charges,
                "billed_cost": quantize(billed.cost),
                "list_cost": quantize(billed.listed),
                "flagged_charges": figures.flagged.charges,
                "flagged_cost": quantize(figures.flagged.cost),
                "rejected_charges": figures.rejected.charges,
                "rejected_cost": quantize(figures.rejected.cost),
                "imported_charges": figures.imported.charges,
                "imported_cost": quantize(figures.imported.cost),
                "currencies": sorted(currencies),
            }
        )
    return rows


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
            "billing_basis": s.billing_basis,
            "enabled": s.enabled,
            "charges": counts.get(s.pk, 0),
            "last_import_at": s.last_import_at.isoformat() if s.last_import_at else None,
            "last_import_status": s.last_import_status,
        }
        for s in Source.objects.order_by("name")
    ]


def batch_replacement(batch: ImportBatch) -> dict[str, Any]:
    """What replacing `batch` takes away: its rows, what it bills now and the charges reviewed in it."""
    charges = Charge.objects.filter(batch=batch)
    billed = billed_charges().filter(batch=batch).aggregate(n=Count("id"), cost=billed_amount(Basis.of()))
    return {
        "batch_id": batch.pk,
        "rows": batch.row_count,
        "imported_cost": batch.billed_total,
        "billed_charges": billed["n"],
        "billed_cost": billed["cost"],
        "decided_charges": charges.filter(decisions__isnull=False).values("pk").distinct().count(),
        "imported_at": batch.created_at.isoformat(),
    }


def review_queue(*, month: str | None = None) -> QuerySet[Charge]:
    return (
        active_charges(month=month)
        .filter(review_state=FLAGGED)
        .select_related("pi", "project", "source", "period")
        .order_by("period__period", "id")
    )


def pi_period_summary(*, email: str, month: str) -> dict[str, Any] | None:
    """One PI's charges in a period, per project and fund/org. None when the PI is unknown.

    `charges`, `list_cost` and `billed_cost` are the billed charges (what the statements bill);
    flagged and rejected charges are counted beside them.
    """
    period_validate(month)
    pi = PI.objects.filter(email=email.strip().lower()).first()
    if pi is None:
        return None
    basis = Basis.of()
    rows = (
        active_charges(month=month)
        .filter(pi=pi)
        .exclude(basis.off_bill())
        .values("project__code", "fund_org", "review_state")
        .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
        .order_by()
    )
    groups: dict[tuple[str, str], Figures] = {}
    for r in rows:
        figures = groups.setdefault((r["project__code"] or "", r["fund_org"]), Figures())
        amounts = Amounts(r["n"], r["billed"], r["listed"])
        figures.imported.add(amounts)
        if r["review_state"] == FLAGGED:
            figures.flagged.add(amounts)
        elif r["review_state"] == Charge.ReviewState.REJECTED:
            figures.rejected.add(amounts)
    projects: list[dict[str, Any]] = []
    total = Figures()
    for (project, fund_org), figures in sorted(groups.items()):
        total.add(figures)
        billed = figures.billed
        projects.append(
            {
                "project_id": project,
                "fund_org": fund_org,
                "charges": billed.charges,
                "list_cost": quantize(billed.listed),
                "billed_cost": quantize(billed.cost),
                "flagged_charges": figures.flagged.charges,
                "flagged_cost": quantize(figures.flagged.cost),
                "rejected_charges": figures.rejected.charges,
                "rejected_cost": quantize(figures.rejected.cost),
            }
        )
    return {
        "pi_email": pi.email,
        "period": month,
        "projects": projects,
        "total_list_cost": quantize(total.billed.listed),
        "total_billed_cost": quantize(total.billed.cost),
        "total_flagged_cost": quantize(total.flagged.cost),
        "total_rejected_cost": quantize(total.rejected.cost),
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
