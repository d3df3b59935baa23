"""Reads for journals: a period's current statements and the reconciliation of its figures."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet

from billing.models import BillingPeriod, Charge
from billing.selectors.figures import Figures, period_cells
from chargeback.money import ZERO
from journals.models import JournalExport
from statements.models import Statement

HALF_CENT = Decimal("0.005")
State = Charge.ReviewState


def current_statements(period: BillingPeriod) -> QuerySet[Statement]:
    """The statements a period bills now: every version that is not superseded."""
    return Statement.objects.filter(period=period).exclude(status=Statement.Status.SUPERSEDED)


def statements_fingerprint(period: BillingPeriod) -> tuple[int, str]:
    """How many current statements a period has, and a SHA-256 of their ids, versions and amounts.

    A journal export records it; a later regeneration changes it, so an export can be matched
    with the statements it was built from.
    """
    rows = current_statements(period).order_by("id").values_list("id", "version", "amount_due", "currency")
    data = [[pk, version, format(due, "f"), currency] for pk, version, due, currency in rows]
    return len(data), hashlib.sha256(json.dumps(data).encode()).hexdigest()


def latest_export(period: BillingPeriod, statements_sha256: str | None = None) -> JournalExport | None:
    qs = JournalExport.objects.filter(period=period)
    if statements_sha256 is not None:
        qs = qs.filter(statements_sha256=statements_sha256)
    return qs.order_by("-sequence").first()


@dataclass(frozen=True)
class Figure:
    """One line of the reconciliation panel: an amount and how far it is from approved billed cost."""

    label: str
    amount: Decimal | None
    difference: Decimal | None = None
    ok: bool = True
    note: str = ""
    charges: int | None = None


@dataclass
class Reconciliation:
    """A period's figures side by side (design §5).

    Σ statement amounts due = Σ journal debits = Σ journal credits, and each is within half a
    cent per statement of Σ approved billed cost (the exact sum of the charges statements bill).
    """

    period: str
    status: str
    currencies: list[str] = field(default_factory=list)
    charges: int = 0
    imported_billed: Decimal = ZERO
    approved_charges: int = 0
    approved_billed: Decimal = ZERO
    flagged_charges: int = 0
    flagged_billed: Decimal = ZERO
    rejected_charges: int = 0
    rejected_billed: Decimal = ZERO
    statements: int = 0
    draft_statements: int = 0
    statements_due: Decimal = ZERO
    statements_sha256: str = ""
    export: JournalExport | None = None
    stale_export: JournalExport | None = None
    journal_debits: Decimal | None = None
    journal_credits: Decimal | None = None

    @property
    def tolerance(self) -> Decimal:
        return HALF_CENT * self.statements

    @property
    def statements_ok(self) -> bool:
        return abs(self.statements_due - self.approved_billed) <= self.tolerance

    @property
    def journal_ok(self) -> bool:
        return (
            self.journal_debits is not None
            and self.journal_debits == self.statements_due
            and self.journal_credits == self.statements_due
        )

    @property
    def balanced(self) -> bool:
        """The invariant holds: statements within tolerance and a journal that matches them."""
        return self.statements_ok and (self.statements == 0 or self.journal_ok)

    def figures(self) -> list[Figure]:
        def vs_approved(amount: Decimal | None) -> Decimal | None:
            return None if amount is None else amount - self.approved_billed

        journal_note = "" if self.export else "no journal export of the current statements yet"
        return [
            Figure("Imported billed cost", self.imported_billed, charges=self.charges),
            Figure("Approved billed cost", self.approved_billed, charges=self.approved_charges),
            Figure("Excluded (flagged)", self.flagged_billed, charges=self.flagged_charges),
            Figure("Rejected", self.rejected_billed, charges=self.rejected_charges),
            Figure(
                "Statements due",
                self.statements_due,
                vs_approved(self.statements_due),
                self.statements_ok,
                note=f"{self.statements} statements; allowed rounding ±{self.tolerance}",
            ),  # fmt: skip
            Figure(
                "Journal debits",
                self.journal_debits,
                vs_approved(self.journal_debits),
                self.journal_debits == self.statements_due if self.export else self.statements == 0,
                note=journal_note,
            ),  # fmt: skip
            Figure(
                "Journal credits",
                self.journal_credits,
                vs_approved(self.journal_credits),
                self.journal_credits == self.statements_due if self.export else self.statements == 0,
                note=journal_note,
            ),  # fmt: skip
        ]


def period_reconciliation(period: BillingPeriod) -> Reconciliation:
    """Imported, approved, excluded and rejected cost, statements due and journal totals of a period.

    The charge figures are billing's (`billing.selectors.figures.period_cells`), the same the
    dashboard, `periods list` and the statements use.
    """
    rec = Reconciliation(period=period.period, status=period.status)
    figures = Figures()
    currencies: set[str] = set()
    for (_period_id, _source_id, currency), cell in period_cells(period_ids=[period.pk]).items():
        figures.add(cell)
        if currency and cell.imported.charges:
            currencies.add(currency)
    rec.charges, rec.imported_billed = figures.imported.charges, figures.imported.cost
    rec.flagged_charges, rec.flagged_billed = figures.flagged.charges, figures.flagged.cost
    rec.rejected_charges, rec.rejected_billed = figures.rejected.charges, figures.rejected.cost
    billed = figures.billed
    rec.approved_charges, rec.approved_billed = billed.charges, billed.cost
    rec.currencies = sorted(currencies)
    # Amounts due are exact text on SQLite (not summable in SQL); a period has at most thousands.
    for due, status in current_statements(period).values_list("amount_due", "status"):
        rec.statements += 1
        rec.statements_due += due
        rec.draft_statements += status == Statement.Status.DRAFT
    _, rec.statements_sha256 = statements_fingerprint(period)
    rec.export = latest_export(period, rec.statements_sha256) if rec.statements else None
    if rec.export is not None:
        rec.journal_debits, rec.journal_credits = rec.export.debit_total, rec.export.credit_total
    else:
        rec.stale_export = latest_export(period)
    return rec
