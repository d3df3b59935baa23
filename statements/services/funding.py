"""Statements of split-funded projects: lines per split in force, each line's shares per fund.

The charges of a project with a split are grouped by day as well, so each day's charges take the
split in force that day (`billing.selectors.funding`); the days with the same split are merged
into one line whose fund/org names the split (`GRANT-A 60% / GRANT-B 40%`). Once a statement's
amounts are rounded, each such line's amount is allocated over its funds by largest remainder
(`chargeback.money.allocate`), so the shares add up exactly to the line and, with the other lines,
to the amount due. Statements of projects without a split are planned exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from billing.models import BillingPeriod, Charge
from billing.selectors import Basis, billed_amount
from billing.selectors.figures import list_or_billed
from billing.selectors.funding import HUNDRED, FundingMap, Split, charge_day, split_label
from chargeback.money import allocate
from statements.selectors import corrected_month, line_kind

# How statement lines are grouped, for every project (plan.plan_statements uses it too).
GROUPING = (
    "pi_id",
    "project_id",
    "source_id",
    "source__name",
    "service_name",
    "fund_org",
    "account_code",
    "kind",
    "corrects",
    "billing_currency",
)


def funded_rows(
    charges: QuerySet[Charge], period: BillingPeriod, funding: FundingMap, basis: Basis
) -> Iterator[dict[str, Any]]:
    """The grouped rows of `charges` (all of projects with a split), with `fund_org` the funds that
    pay them and `split` the percentages when more than one fund does; amounts on the sources'
    billing basis, as for every other statement line."""
    rows = (
        charges.annotate(kind=line_kind(), corrects=corrected_month(), day=TruncDate("charge_period_start", tzinfo=UTC))
        .values(*GROUPING, "day")
        .annotate(n=Count("id"), billed=billed_amount(basis), listed=list_or_billed(basis))
        .order_by()
    )
    for r in rows:
        funds = funding.funds(r["project_id"], r["fund_org"], charge_day(r.pop("day"), period.period))
        if len(funds) == 1 and funds[0][1] == HUNDRED:
            r["fund_org"], r["split"] = funds[0][0], ()
        elif funds:
            r["fund_org"], r["split"] = split_label(funds), funds
        else:
            r["split"] = ()
        yield r


def split_shares(amount: Decimal, split: Split) -> list[tuple[str, Decimal, Decimal]]:
    """(fund/org, percent, amount in cents) of each fund of a line; they add up exactly to `amount`."""
    cents = allocate(amount, [amount * percent / HUNDRED for _, percent in split])
    return [(fund, percent, share) for (fund, percent), share in zip(split, cents, strict=True)]
