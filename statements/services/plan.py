"""Plan a period's statements from its billed charges: one per PI and project, rounded and allocated.

Only approved and unflagged charges of active batches are billed. The amount due and the discount
are rounded once per statement (`round_cents`) and spread over its lines by largest remainder
(`allocate_lines`), so every statement's lines add up exactly to its amount due and discount, and
each line's list price is its amount plus its discount. Nothing here writes:
`statements.services.generate` freezes a plan into a statement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any

from django.db.models import Count, QuerySet

from billing.models import PI, BillingPeriod, Charge, Project
from billing.selectors import Basis, billed_amount
from billing.selectors.figures import list_or_billed
from billing.selectors.funding import FundingMap, Split
from chargeback.errors import BillingError
from chargeback.models import Organization
from chargeback.money import ZERO, allocate_lines, round_cents
from statements.models import StatementLine
from statements.selectors import billed_charges, corrected_month, line_kind, month_text
from statements.services.funding import GROUPING, funded_rows, split_shares

Kind = StatementLine.Kind


@dataclass
class PlannedLine:
    kind: str
    source: str
    service_name: str
    fund_org: str
    account_code: str
    charge_count: int
    list_exact: Decimal
    billed_exact: Decimal
    list_amount: Decimal = ZERO
    amount: Decimal = ZERO
    # Split funding (statements.services.funding): the funds' percentages and, once rounded, shares.
    split: Split = ()
    shares: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)

    @property
    def funds(self) -> list[str]:
        return [fund for fund, _ in self.split] if self.split else [self.fund_org]

    amortized: bool = False
    corrects: str = ""

    def key(self) -> list[str]:  # pragma: no mutate block
        key = [self.kind, self.source, self.service_name, self.fund_org, self.account_code,
               str(self.charge_count), format(self.list_exact, "f"), format(self.billed_exact, "f")]  # fmt: skip
        # Only where they apply, so a statement generated before they existed keeps its content hash.
        if self.amortized:
            key.append("amortized")
        if self.corrects:
            key.append(f"corrects {self.corrects}")
        return key


@dataclass
class PlannedStatement:
    pi_id: int
    project_id: int | None
    currency: str
    lines: list[PlannedLine] = field(default_factory=list)
    currencies: set[str] = field(default_factory=set)

    @property
    def list_exact(self) -> Decimal:
        return sum((ln.list_exact for ln in self.lines), ZERO)

    @property
    def billed_exact(self) -> Decimal:
        return sum((ln.billed_exact for ln in self.lines), ZERO)

    def finish(self) -> None:
        """Round the amount due and the discount once each, then spread the cents over the lines.

        Every line's list price is its amount plus its discount, so a line billed at list shows
        no discount, and the lines add up exactly to the amount due, the discount and the list total.
        """
        order = {k: i for i, k in enumerate(Kind.values)}
        self.lines.sort(
            key=lambda ln: (order[ln.kind], ln.source, ln.service_name, ln.fund_org, ln.account_code, ln.corrects)
        )
        shares = allocate_lines(
            amount_due=round_cents(self.billed_exact),
            discount_total=round_cents(self.list_exact - self.billed_exact),
            billed=[ln.billed_exact for ln in self.lines],
            listed=[ln.list_exact for ln in self.lines],
        )
        for ln, (amount, discount) in zip(self.lines, shares, strict=True):
            ln.amount, ln.list_amount = amount, amount + discount
            if ln.split:
                ln.shares = split_shares(amount, ln.split)

    @property
    def amount_due(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    @property
    def list_total(self) -> Decimal:
        return sum((ln.list_amount for ln in self.lines), ZERO)

    def content_sha256(self) -> str:  # pragma: no mutate block
        data = {"pi": self.pi_id, "project": self.project_id, "currency": self.currency,
                "lines": [ln.key() for ln in self.lines]}  # fmt: skip
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


Planned = dict[tuple[int, int | None], PlannedStatement]  # by PI and project


def plan_statements(*, period: BillingPeriod, pi: PI | None = None) -> list[PlannedStatement]:
    """The statements a period's billed charges make, rounded and allocated, in a stable order."""
    default_currency = Organization.current().expected_currency
    basis = Basis.of()
    charges = billed_charges(period, basis=basis)
    if pi is not None:
        charges = charges.filter(pi=pi)
    _refuse_orphans(period, charges, basis)  # pragma: no mutate
    rows = _grouped_rows(period=period, charges=charges, basis=basis)
    planned = _merge(period=period, rows=rows, basis=basis, default_currency=default_currency)
    _refuse_mixed_currencies(period, planned)  # pragma: no mutate
    result = sorted(planned.values(), key=lambda s: (s.pi_id, s.project_id or 0))
    for st in result:
        st.finish()
    return result


# A refusal's wording decides no figure: `make mutate` leaves the refusals alone.
def _refuse_orphans(period: BillingPeriod, charges: QuerySet[Charge], basis: Basis) -> None:  # pragma: no mutate block
    orphans = charges.filter(pi__isnull=True).aggregate(n=Count("id"), cost=billed_amount(basis))
    if orphans["n"]:
        raise BillingError(
            f"period {period.period}: {orphans['n']} approved charges ({orphans['cost']:.2f}) have no PI; "
            "fix their attribution in the review queue (or reject them) before generating statements"
        )


def _refuse_mixed_currencies(period: BillingPeriod, planned: Planned) -> None:  # pragma: no mutate block
    mixed = [st for st in planned.values() if len(st.currencies) > 1]
    if mixed:
        st = mixed[0]
        project = Project.objects.filter(pk=st.project_id).first() if st.project_id else None
        raise BillingError(
            f"period {period.period}: project {project or '(none)'} has charges in {', '.join(sorted(st.currencies))}; "
            "a statement is in one currency — reject or correct the other charges before generating"
        )


def _grouped_rows(*, period: BillingPeriod, charges: QuerySet[Charge], basis: Basis) -> Iterable[dict[str, Any]]:
    """The charges' sums per statement line; split-funded projects' rows per fund (`funded_rows`)."""
    funding = FundingMap.load()
    split_charges = charges.filter(project_id__in=list(funding.splits))
    if funding.splits:
        charges = charges.exclude(project_id__in=list(funding.splits))
    rows = (
        charges.annotate(kind=line_kind(), corrects=corrected_month())
        .values(*GROUPING)  # the same line grouping as split-funded projects' rows
        .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
        .order_by()
    )
    return chain(rows, funded_rows(split_charges, period, funding, basis) if funding.splits else ())


def _merge(*, period: BillingPeriod, rows: Iterable[dict[str, Any]], basis: Basis, default_currency: str) -> Planned:
    """The rows added up into statements per PI and project, and into their lines."""
    planned: Planned = {}
    merged: dict[tuple[Any, ...], PlannedLine] = {}
    for r in rows:
        key = (r["pi_id"], r["project_id"])
        currency = r["billing_currency"] or default_currency
        st = planned.get(key)
        if st is None:
            st = planned[key] = PlannedStatement(pi_id=r["pi_id"], project_id=r["project_id"], currency=currency)
        st.currencies.add(currency)
        corrects = month_text(r["corrects"])
        corrects = corrects if corrects and corrects < period.period else ""
        line_key = (key, r["kind"], r["source__name"], r["service_name"], r["fund_org"], r["account_code"], corrects)
        line = merged.get(line_key)
        if line is None:
            line = merged[line_key] = PlannedLine(
                kind=r["kind"], source=r["source__name"], service_name=r["service_name"], fund_org=r["fund_org"],
                account_code=r["account_code"], charge_count=0, list_exact=ZERO, billed_exact=ZERO,
                split=r.get("split", ()), amortized=basis.is_effective(r["source_id"]), corrects=corrects,
            )  # fmt: skip
            st.lines.append(line)
        line.charge_count += r["n"]
        line.list_exact += r["listed"]
        line.billed_exact += r["billed"]
    return planned
