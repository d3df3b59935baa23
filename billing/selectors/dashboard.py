"""Reads for the admin dashboard: a period's figures as plain data, exact and per currency.

The figures are those of `billing.selectors.figures` (one definition of imported, flagged,
rejected and billed): the import batches carry the exact totals of their rows, and a period's
billed total is its applied batches minus its flagged and rejected charges. Flagged and rejected
charges are few and found through the (period, active, review_state) index, so the page does
not read every charge of a million-charge period to show its totals, imports, sources and the
last twelve months.

Two figures have no pre-aggregate: the PIs and projects with charges and the top PIs. They need
one GROUP BY over the period's charges that are not rejected (seconds for a million charges on
SQLite), which is cached under a key that changes with everything that can change them: a new,
replaced or rolled-back batch of the period, a review decision other than approving a flagged
charge (rejecting, un-rejecting, re-attributing, carrying over), and a re-evaluation of the
period's rules (the `period.reevaluate` audit event). Those are the only ways a charge's state or
attribution changes; a new way must be added to `_attribution`'s key. The top PIs are that cached
ranking minus each PI's flagged charges (through the same index), so approving a flagged charge
moves it into "billed" at once without a new GROUP BY. The cache entry also expires after an
hour, so nothing unforeseen stays wrong for long.

Amounts are `Decimal` and never rounded here; currencies are never added together.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache

from billing.models import PI, BillingPeriod, Charge, ImportBatch, ReviewDecision, Source
from chargeback.models import AuditEvent
from chargeback.money import ZERO

from .basis import Basis
from .figures import Split, batch_split, billed_amount, cells_of

State = Charge.ReviewState
MONTHS = 12
TOP_PIS = 10
CACHE_SECONDS = 3600
REEVALUATE = "period.reevaluate"  # the audit action of billing.services.rules.period_reevaluate
_CACHE_PREFIX = "billing.dashboard.v2"


@dataclass
class CurrencyTotals:
    """A period's figures in one currency: `charges`, `billed` and `listed` are the billed charges
    (what the statements bill); the flagged, rejected and imported ones are given beside them."""

    currency: str
    charges: int = 0
    billed: Decimal = ZERO
    listed: Decimal = ZERO  # a line without a list cost counts with its billed cost
    flagged_charges: int = 0
    flagged_cost: Decimal = ZERO
    rejected_charges: int = 0
    rejected_cost: Decimal = ZERO
    imported_charges: int = 0
    imported_cost: Decimal = ZERO

    @property
    def discount(self) -> Decimal:
        return self.listed - self.billed

    @property
    def discount_percent(self) -> Decimal | None:
        """The discount as a percentage of list, unrounded; None when there is no list amount."""
        return self.discount * 100 / self.listed if self.listed else None


@dataclass(frozen=True)
class SourceImport:
    """A source's applied import for the period, or its absence (`batch_id` None)."""

    source: str
    display_name: str
    batch_id: int | None = None
    rows: int = 0
    imported: tuple[tuple[str, Decimal], ...] = ()  # (currency, imported cost), one per currency
    imported_at: datetime | None = None
    actor: str = ""
    warnings: int = 0

    @property
    def missing(self) -> bool:
        return self.batch_id is None


@dataclass(frozen=True)
class CostRow:
    """One bar of a ranking or chart: a source, a PI or a period, in one currency."""

    key: str
    label: str
    currency: str
    amount: Decimal
    detail: str = ""


@dataclass
class PeriodFigures:
    period: BillingPeriod
    totals: list[CurrencyTotals]
    pis: int
    projects: int
    imports: list[SourceImport]
    top_pis: list[CostRow]
    by_source: list[CostRow]
    by_month: list[CostRow]
    months: list[str] = field(default_factory=list)

    @property
    def currencies(self) -> list[str]:
        return [t.currency for t in self.totals]

    @property
    def mixed_currencies(self) -> bool:
        return len(self.totals) > 1

    @property
    def charges(self) -> int:
        return sum(t.charges for t in self.totals)

    @property
    def flagged_charges(self) -> int:
        return sum(t.flagged_charges for t in self.totals)

    @property
    def has_imports(self) -> bool:
        return any(not i.missing for i in self.imports)


def dashboard_periods() -> list[BillingPeriod]:
    """Every billing period, newest first (the fields the dashboard shows)."""
    return list(BillingPeriod.objects.order_by("-period").only("id", "period", "status", "closed_at", "finalized_at"))


def dashboard_default_period(periods: Sequence[BillingPeriod]) -> BillingPeriod | None:
    """The newest open period, else the newest period; None when there are none."""
    return next((p for p in periods if p.status == BillingPeriod.Status.OPEN), periods[0] if periods else None)


def dashboard_figures(*, period: BillingPeriod, periods: Sequence[BillingPeriod]) -> PeriodFigures:
    """Everything the dashboard shows for `period`; `periods` (newest first) gives the months."""
    months = sorted((p for p in periods if p.period <= period.period), key=lambda p: p.period)[-MONTHS:]
    month_ids = [p.id for p in months]
    batches = list(
        ImportBatch.objects.filter(period_id__in=month_ids, status=ImportBatch.Status.APPLIED)
        .select_related("source")
        .order_by("source__name")
    )
    basis = Basis.of()
    split = batch_split(batches, basis=basis)
    figures = cells_of(batches, split, period_ids=month_ids, basis=basis)
    # (period, source, currency) -> [rows, billed, listed] of the billed charges.
    cells = {key: f.billed for key, f in figures.items()}

    totals: dict[str, CurrencyTotals] = {}
    for (period_id, _source_id, currency), f in figures.items():
        if period_id == period.id:
            t = totals.setdefault(currency, CurrencyTotals(currency))
            billed = f.billed
            t.charges += billed.charges
            t.billed += billed.cost
            t.listed += billed.listed
            t.flagged_charges += f.flagged.charges
            t.flagged_cost += f.flagged.cost
            t.rejected_charges += f.rejected.charges
            t.rejected_cost += f.rejected.cost
            t.imported_charges += f.imported.charges
            t.imported_cost += f.imported.cost

    period_batches = [b for b in batches if b.period_id == period.id]
    sources = {b.source_id: b.source for b in period_batches}
    by_source = sorted(
        (
            CostRow(sources[source_id].name, str(sources[source_id]), currency, billed.cost)
            for (period_id, source_id, currency), billed in cells.items()
            if period_id == period.id and source_id in sources
        ),
        key=lambda r: (r.currency, -r.amount, r.key),
    )

    month_totals: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    for (period_id, _source_id, currency), billed in cells.items():
        month_totals[(period_id, currency)] += billed.cost
    month_currencies = sorted({currency for _, currency in month_totals})
    by_month = [
        CostRow(p.period, p.period, currency, month_totals.get((p.id, currency), ZERO), detail=p.status)
        for currency in month_currencies
        for p in months
    ]

    people = _attribution(period, period_batches)
    top = _top_pis(period, people) if period_batches else []
    names = {pi.pk: pi for pi in PI.objects.filter(pk__in={pi_id for pi_id, _, _ in top})}
    top_pis = [
        CostRow(names[pi_id].email, names[pi_id].name or names[pi_id].email, currency, billed)
        for pi_id, currency, billed in top
        if pi_id in names
    ]

    return PeriodFigures(
        period=period,
        totals=sorted(totals.values(), key=lambda t: t.currency),
        pis=people.pis,
        projects=people.projects,
        imports=_imports(period_batches, split),
        top_pis=top_pis,
        by_source=by_source,
        by_month=by_month,
        months=[p.period for p in months],
    )


def _imports(batches: Iterable[ImportBatch], split: Split) -> list[SourceImport]:
    """One row per enabled source (missing when it has no applied batch) and per source imported."""
    imported = {
        b.source_id: SourceImport(
            source=b.source.name,
            display_name=str(b.source),
            batch_id=b.pk,
            rows=b.row_count,
            imported=tuple((currency, billed) for currency, _, billed, _ in split[b.pk]),
            imported_at=b.created_at,
            actor=b.actor,
            warnings=len(b.warnings),
        )
        for b in batches
    }
    rows = [
        imported.get(s.pk) or SourceImport(source=s.name, display_name=str(s))
        for s in Source.objects.filter(enabled=True).order_by("name")
    ]
    shown = {r.source for r in rows}
    rows += [r for r in imported.values() if r.source not in shown]  # a disabled source's import
    return rows


@dataclass(frozen=True)
class _Attribution:
    pis: int
    projects: int
    per_pi: dict[tuple[int, str], Decimal]  # (pi id, currency) -> cost of the charges not rejected


def _top_pis(period: BillingPeriod, people: _Attribution) -> list[tuple[int, str, Decimal]]:
    """The top PIs of each currency by billed cost: the cached totals minus each PI's flagged charges."""
    per_pi = dict(people.per_pi)
    flagged = (
        # Through the (period, active, review_state) index, like the flagged totals.
        Charge.objects.filter(period_id=period.id, active__in=[True], review_state__in=[State.FLAGGED])
        .filter(pi__isnull=False)
        .values_list("billing_currency", "pi_id")
        .annotate(cost=billed_amount(Basis.of()))
        .order_by()
    )
    for currency, pi_id, cost in flagged:
        per_pi[(pi_id, currency)] = per_pi.get((pi_id, currency), ZERO) - cost
    ranked = sorted(per_pi.items(), key=lambda item: (item[0][1], -item[1], item[0][0]))
    top: list[tuple[int, str, Decimal]] = []
    shown: dict[str, int] = defaultdict(int)
    for (pi_id, currency), billed in ranked:
        if shown[currency] < TOP_PIS and billed:
            shown[currency] += 1
            top.append((pi_id, currency, billed))
    return top


def _attribution(period: BillingPeriod, batches: Sequence[ImportBatch]) -> _Attribution:
    if not batches:
        return _Attribution(0, 0, {})
    # Approving a flagged charge changes neither its cost nor its PI or project (the cached totals
    # count flagged charges; the top PIs subtract them live), so only the other decisions, rarer,
    # make the cached figures change.
    decision = (
        ReviewDecision.objects.exclude(decision=ReviewDecision.Decision.APPROVE, state_before=State.FLAGGED)
        .order_by("-pk")
        .values_list("pk", "created_at")
        .first()
    )
    reevaluated = (
        AuditEvent.objects.filter(action=REEVALUATE, period=period.period)
        .order_by("-pk")
        .values_list("pk", "created_at")
        .first()
    )
    basis = Basis.of()  # a source moved to another billing basis changes every amount
    version = repr(
        (sorted((b.pk, b.created_at.isoformat()) for b in batches), decision, reevaluated, sorted(basis.effective))
    )
    key = f"{_CACHE_PREFIX}.attribution.{period.id}.{hashlib.sha256(version.encode()).hexdigest()}"
    found = cache.get(key)
    if isinstance(found, _Attribution):
        return found
    rows = (
        Charge.objects.filter(period_id=period.id, active=True)
        .exclude(review_state=State.REJECTED)
        .values_list("pi_id", "project_id", "billing_currency")
        .annotate(billed=billed_amount(basis))
        .order_by()
    )
    pis, projects = set(), set()
    per_pi: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    for pi_id, project_id, currency, billed in rows:  # one row per (PI, project, currency), not per charge
        if project_id is not None:
            projects.add(project_id)
        if pi_id is not None:
            pis.add(pi_id)
            per_pi[(pi_id, currency)] += billed
    result = _Attribution(len(pis), len(projects), dict(per_pi))
    cache.set(key, result, CACHE_SECONDS)
    return result
