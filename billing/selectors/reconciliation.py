"""The three-way match of a month: the provider's invoices, the imported rows, the statements.

Per provider invoice: its total against the imported BilledCost of the rows carrying its
`InvoiceId` (the difference, *delta*, is corrected or explained). Then where the imported money
went, every part named:

    imported = billed + rejected + flagged + rounding + commitment timing (+ unexplained)

* *imported*: Σ BilledCost of the month's imported rows (what the provider invoiced);
* *billed*: the amounts due of the month's current statements (before any are generated, the
  exact billed figure of `billing.selectors.figures`);
* *rejected* (absorbed centrally) and *flagged* (still under review): those figures;
* *rounding*: the exact billed figure minus the statements (at most half a cent per statement);
* *commitment timing*: invoiced minus amortized, for sources billed on the effective basis
  (`billing.selectors.basis`): commitment purchases leave the bill, amortized usage enters it;
* *unexplained*: invoice differences of a cent or more without an explanation, plus anything
  the statements no longer match (generate them again).

Billing cannot read statements (a floor above it); the statements app registers the function
that totals a month's current statements (`register_statements_total`, in its `ready()`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count

from billing.models import BillingPeriod, Charge, ProviderInvoice
from chargeback.errors import BillingError
from chargeback.models import Organization
from chargeback.money import CENT, ZERO, MoneySum

from .figures import Figures, period_cells

HALF_CENT = CENT / 2
# (period, currency) -> (Σ amount due, number of statements), or None before any are generated.
StatementsTotal = Callable[[BillingPeriod, str], "tuple[Decimal, int] | None"]
_statements_total: list[StatementsTotal] = []


def register_statements_total(fn: StatementsTotal) -> StatementsTotal:
    """Called by the statements app: how much a month's current statements bill in a currency."""
    if fn not in _statements_total:
        _statements_total.append(fn)
    return fn


@dataclass
class InvoiceLine:
    """A provider invoice (or an `InvoiceId` seen in the rows without a recorded invoice)."""

    source: str
    invoice_id: str
    currency: str
    provider_total: Decimal | None  # None: rows carry this InvoiceId but no invoice is recorded
    imported: Decimal = ZERO
    rows: int = 0
    explanation: str = ""
    explained_by: str = ""

    @property
    def recorded(self) -> bool:
        return self.provider_total is not None

    @property
    def delta(self) -> Decimal | None:
        return None if self.provider_total is None else self.provider_total - self.imported

    @property
    def unexplained(self) -> bool:
        """A recorded invoice the rows miss by a cent or more, with no explanation."""
        delta = self.delta
        return delta is not None and abs(delta) >= CENT and not self.explanation

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "invoice_id": self.invoice_id, "currency": self.currency,
            "provider_total": self.provider_total, "imported": self.imported, "delta": self.delta,
            "explanation": self.explanation,
        }  # fmt: skip


@dataclass
class Reconciliation:
    month: str
    currency: str
    invoices: list[InvoiceLine] = field(default_factory=list)
    unassigned_rows: int = 0
    unassigned_cost: Decimal = ZERO
    imported: Decimal = ZERO
    billed: Decimal = ZERO
    billed_exact: Decimal = ZERO
    statements: int | None = None  # None: no statements generated yet
    rejected: Decimal = ZERO
    flagged: Decimal = ZERO
    rounding: Decimal = ZERO
    commitment_timing: Decimal = ZERO
    statements_differ: Decimal = ZERO  # what the statements no longer match

    @property
    def unexplained(self) -> Decimal:
        return sum((abs(i.delta or ZERO) for i in self.invoices if i.unexplained), ZERO) + abs(self.statements_differ)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month, "currency": self.currency, "invoices": [i.as_dict() for i in self.invoices],
            "unassigned_rows": self.unassigned_rows, "imported": self.imported, "billed": self.billed,
            "rejected": self.rejected, "flagged": self.flagged, "rounding": self.rounding,
            "commitment_timing": self.commitment_timing, "unexplained": self.unexplained,
        }  # fmt: skip


def invoice_lines(period: BillingPeriod) -> list[InvoiceLine]:
    """Every recorded invoice of the month and every InvoiceId its imported rows carry."""
    lines: dict[tuple[str, str], InvoiceLine] = {}
    for inv in ProviderInvoice.objects.filter(period=period).select_related("source"):
        lines[(inv.source.name, inv.invoice_id)] = InvoiceLine(
            source=inv.source.name, invoice_id=inv.invoice_id, currency=inv.currency, provider_total=inv.total,
            explanation=inv.explanation, explained_by=inv.explained_by,
        )  # fmt: skip
    for r in _row_groups(period):
        if not r["invoice_id"]:
            continue
        key = (r["source__name"], r["invoice_id"])
        line = lines.get(key)
        if line is None:
            line = lines[key] = InvoiceLine(r["source__name"], r["invoice_id"], r["billing_currency"], None)
        line.imported += r["billed"]
        line.rows += r["n"]
    return sorted(lines.values(), key=lambda i: (i.source, i.invoice_id))


def month_reconciliation(*, month: str, currency: str | None = None) -> Reconciliation:
    """The reconciliation of a month in one currency (the month's only one unless `currency` is given)."""
    period = BillingPeriod.of(month)
    groups = _row_groups(period)
    invoices = invoice_lines(period)
    currencies = {r["billing_currency"] for r in groups} | {i.currency for i in invoices}
    if currency:
        currency = currency.strip().upper()
    elif len(currencies) > 1:
        raise BillingError(
            f"period {month} has amounts in {', '.join(sorted(currencies))}; reconcile one at a time with --currency"
        )
    else:
        currency = next(iter(currencies), "") or Organization.current().expected_currency
    rec = Reconciliation(month=month, currency=currency, invoices=[i for i in invoices if i.currency == currency])
    for r in groups:
        if r["billing_currency"] != currency:
            continue
        rec.imported += r["billed"]
        if not r["invoice_id"]:
            rec.unassigned_rows += r["n"]
            rec.unassigned_cost += r["billed"]
    figures = Figures()
    for (_period_id, _source_id, cell_currency), cell in period_cells(period_ids=[period.pk]).items():
        if cell_currency == currency:
            figures.add(cell)
    rec.flagged, rec.rejected = figures.flagged.cost, figures.rejected.cost
    rec.billed_exact = rec.billed = figures.billed.cost
    rec.commitment_timing = rec.imported - figures.imported.cost
    for total_of in _statements_total:
        found = total_of(period, currency)
        if found is None:
            continue
        total, count = found
        rec.billed, rec.statements = total, count
        difference = rec.billed_exact - total
        if abs(difference) <= HALF_CENT * max(count, 1):
            rec.rounding = difference
        else:
            rec.statements_differ = difference
    return rec


def unexplained_invoices(period: BillingPeriod) -> list[InvoiceLine]:
    """The month's recorded invoices that differ from their rows by a cent or more, unexplained."""
    return [i for i in invoice_lines(period) if i.unexplained]


def _row_groups(period: BillingPeriod) -> list[dict[str, Any]]:
    """The month's imported rows per source, InvoiceId and currency: rows and Σ BilledCost."""
    rows = (
        Charge.objects.filter(period=period, active=True)
        .values("source__name", "invoice_id", "billing_currency")
        .annotate(n=Count("id"), billed=MoneySum("billed_cost"))
        .order_by()
    )
    return [dict(r) for r in rows]


def reconciliation_warnings(period: BillingPeriod) -> list[str]:
    """A readiness warning per recorded invoice that differs from its rows, unexplained (for `periods check`)."""
    return [
        f"{i.source} invoice {i.invoice_id} differs from its imported rows by {i.delta:.2f} {i.currency}, unexplained"
        for i in unexplained_invoices(period)
    ]
