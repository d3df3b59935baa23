"""One definition of each figure of a month, computed here and used by every screen and command.

* *imported*: every charge read, i.e. the charges of applied batches (`active`);
* *flagged*: held for review, not billed until a reviewer approves them;
* *rejected*: not recharged (absorbed);
* *billed*: what the statements bill: approved or never flagged, not rejected.

Amounts are in each source's billing basis (`billing.selectors.basis`): BilledCost, or
EffectiveCost for a source billed on the effective basis. There, commitment purchases are
imported but *off the bill* (neither billed, flagged nor rejected while they are not reviewed).

imported = billed + flagged + rejected + off the bill, exactly. The querysets below are the definitions; the
month figures (`period_cells`) come from the import batches, which carry the exact totals of
their rows, minus the flagged and rejected charges. Those are few and found through the
(period, active, review_state) index, so a million-charge month is not read charge by charge.
A charge's cost never changes after the import, so this equals summing the billed charges.

Amounts are `Decimal` and never rounded here; currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.db.models.functions import Coalesce

from billing.models import BillingPeriod, Charge, ImportBatch, period_validate
from chargeback.money import ZERO, MoneySum

from .basis import Basis

State = Charge.ReviewState
BILLED_STATES = (State.OK, State.APPROVED)
CACHE_SECONDS = 3600
_CACHE_PREFIX = "billing.figures.v2"

# Per batch id: (currency, rows, billed, listed) for each currency of the batch.
Split = dict[int, list[tuple[str, int, Decimal, Decimal]]]


def active_charges(*, period: BillingPeriod | None = None, month: str | None = None) -> QuerySet[Charge]:
    """*Imported*: the charges of applied batches (not replaced, not rolled back), of `period` or
    `month` when one is given, else of every period."""
    qs = Charge.objects.filter(active=True)
    if period is not None:
        return qs.filter(period=period)
    if month:
        period_validate(month)
        qs = qs.filter(period__period=month)
    return qs


def billed_charges(
    *, period: BillingPeriod | None = None, month: str | None = None, basis: Basis | None = None
) -> QuerySet[Charge]:
    """*Billed*: what the statements bill, active charges never flagged or approved (and not a
    commitment purchase of a source billed on the effective basis)."""
    basis = basis or Basis.of()
    qs = active_charges(period=period, month=month).filter(review_state__in=BILLED_STATES)
    return qs.exclude(basis.off_bill()) if basis.effective else qs


def flagged_charges(*, period: BillingPeriod | None = None, month: str | None = None) -> QuerySet[Charge]:
    """*Flagged*: active charges held for review."""
    return active_charges(period=period, month=month).filter(review_state=State.FLAGGED)


def unrejected_charges(*, period: BillingPeriod | None = None, month: str | None = None) -> QuerySet[Charge]:
    """Billed and flagged charges: what a PI may see (flagged ones as under review)."""
    return active_charges(period=period, month=month).exclude(review_state=State.REJECTED)


def list_or_billed(basis: Basis | None = None) -> MoneySum:
    """The list cost; a line without one was billed at list (no discount)."""
    if basis is None or not basis.effective:
        return MoneySum(Coalesce("list_cost", "billed_cost"))
    return MoneySum(basis.listed())


def billed_amount(basis: Basis | None = None) -> MoneySum:
    """The sum of what charges bill under their source's basis."""
    return MoneySum(basis.cost() if basis is not None else "billed_cost")


@dataclass
class Amounts:
    """A count of charges with their exact billed and list cost."""

    charges: int = 0
    cost: Decimal = ZERO
    listed: Decimal = ZERO

    def add(self, other: Amounts, sign: int = 1) -> None:
        self.charges += sign * other.charges
        self.cost += sign * other.cost
        self.listed += sign * other.listed


@dataclass
class Figures:
    """The four figures of a set of charges (a month, a source, a currency)."""

    imported: Amounts = field(default_factory=Amounts)
    flagged: Amounts = field(default_factory=Amounts)
    rejected: Amounts = field(default_factory=Amounts)
    off_bill: Amounts = field(default_factory=Amounts)  # commitment purchases under the effective basis

    @property
    def billed(self) -> Amounts:
        billed = Amounts()
        billed.add(self.imported)
        billed.add(self.flagged, -1)
        billed.add(self.rejected, -1)
        billed.add(self.off_bill, -1)
        return billed

    def add(self, other: Figures) -> None:
        self.imported.add(other.imported)
        self.flagged.add(other.flagged)
        self.rejected.add(other.rejected)
        self.off_bill.add(other.off_bill)


Cell = tuple[int, int, str]  # (period id, source id, currency)


def period_cells(*, period_ids: Sequence[int]) -> dict[Cell, Figures]:
    """The figures of the given periods, per (period id, source id, currency)."""
    basis = Basis.of()
    batches = list(ImportBatch.objects.filter(period_id__in=period_ids, status=ImportBatch.Status.APPLIED))
    return cells_of(batches, batch_split(batches, basis=basis), period_ids=period_ids, basis=basis)


def cells_of(
    batches: Sequence[ImportBatch], split: Split, *, period_ids: Sequence[int], basis: Basis | None = None
) -> dict[Cell, Figures]:
    """`period_cells` for batches already loaded (and split by currency with `batch_split`)."""
    basis = basis or Basis.of()
    cells: dict[Cell, Figures] = defaultdict(Figures)
    for batch in batches:
        for currency, rows, billed, listed in split[batch.pk]:
            cells[(batch.period_id, batch.source_id, currency)].imported.add(Amounts(rows, billed, listed))
    reviewed = (
        # `active__in`, not `active=True`: Django writes the latter as a bare `WHERE active`,
        # which stops SQLite from using the rest of the (period, active, review_state) index.
        Charge.objects.filter(
            period_id__in=period_ids, active__in=[True], review_state__in=[State.FLAGGED, State.REJECTED]
        )
        .values("period_id", "source_id", "billing_currency", "review_state")
        .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
        .order_by()
    )
    for r in reviewed:
        figures = cells[(r["period_id"], r["source_id"], r["billing_currency"])]
        part = figures.flagged if r["review_state"] == State.FLAGGED else figures.rejected
        part.add(Amounts(r["n"], r["billed"], r["listed"]))
    if any(basis.is_effective(b.source_id) for b in batches):
        off_bill = (
            Charge.objects.filter(period_id__in=period_ids, active__in=[True], review_state__in=BILLED_STATES)
            .filter(basis.off_bill())
            .values("period_id", "source_id", "billing_currency")
            .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
            .order_by()
        )
        for o in off_bill:
            cells[(o["period_id"], o["source_id"], o["billing_currency"])].off_bill.add(
                Amounts(o["n"], o["billed"], o["listed"])
            )
    return dict(cells)


def batch_split(batches: Sequence[ImportBatch], *, basis: Basis | None = None) -> Split:
    """Each batch's totals per currency, in its source's basis. Single-currency batches billed on
    the billed basis answer from their own totals; a batch with several currencies, or billed on
    the effective basis, is summed from its charges once, then cached (its rows never change)."""
    basis = basis or Basis.of()
    split: Split = {}
    mixed = []
    for b in batches:
        if basis.is_effective(b.source_id):
            mixed.append(b)
        elif len(b.currencies) == 1:
            split[b.pk] = [(b.currencies[0], b.row_count, b.billed_total, b.list_total)]
        elif not b.currencies:
            split[b.pk] = []
        else:
            mixed.append(b)
    if not mixed:
        return split
    keys = {
        b.pk: f"{_CACHE_PREFIX}.split.{b.pk}.{b.content_sha256}.{b.created_at.isoformat()}"
        + (".effective" if basis.is_effective(b.source_id) else "")
        for b in mixed
    }
    cached = cache.get_many(list(keys.values()))
    missing = [pk for pk, key in keys.items() if key not in cached]
    computed: dict[int, list[tuple[str, int, Decimal, Decimal]]] = defaultdict(list)
    if missing:
        rows = (
            Charge.objects.filter(batch_id__in=missing)
            .values("batch_id", "billing_currency")
            .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
            .order_by("batch_id", "billing_currency")
        )
        for r in rows:
            computed[r["batch_id"]].append((r["billing_currency"], r["n"], r["billed"], r["listed"]))
        cache.set_many({keys[pk]: computed[pk] for pk in missing}, CACHE_SECONDS)
    for pk, key in keys.items():
        split[pk] = cached[key] if key in cached else computed[pk]
    return split


def open_flagged_count() -> int:
    """How many charges of open periods wait for review: the review queue's badge in the menu.

    Counted per open period through the (period, active, review_state) index, so it costs a few
    index lookups on every admin page, whatever the size of the month.
    """
    open_ids = list(BillingPeriod.objects.filter(status=BillingPeriod.Status.OPEN).values_list("pk", flat=True))
    if not open_ids:
        return 0
    # `active__in`: see `cells_of` (a bare `WHERE active` would not use the whole index on SQLite).
    return Charge.objects.filter(period_id__in=open_ids, active__in=[True], review_state=State.FLAGGED).count()
