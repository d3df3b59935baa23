"""What every converter shares: the report, the pricing context and account resolution."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.account_values import normalise_account
from billing.pricing import Applied, SubsidyLedger, period_bounds
from chargeback.money import ZERO

from .focus import FocusLine, decimal, number, utc_z


@dataclass
class ConvertReport:
    kind: str
    source: str
    period: str
    inputs: list[str]
    output: str = ""
    dry_run: bool = False
    lines_read: int = 0
    lines_billed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> lines
    accounts: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    quantity: Decimal = ZERO
    unit: str = ""
    list_total: Decimal = ZERO
    subsidy_total: Decimal = ZERO
    billed_total: Decimal = ZERO
    subsidies: dict[str, Decimal] = field(default_factory=dict)  # code -> amount
    rows: int = 0
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("quantity", "list_total", "subsidy_total", "billed_total"):
            data[key] = number(data[key])
        data["subsidies"] = {k: number(v) for k, v in self.subsidies.items()}
        return data


class Accounts:
    """Account → (project code, owner email) through the enabled account mappings of one kind."""

    def __init__(self, kind: str) -> None:
        from billing.models import AccountMapping

        self.kind = kind
        self.table = {
            value: (code, email)
            for value, code, email in AccountMapping.objects.filter(kind=kind, enabled=True).values_list(
                "match_value", "project__code", "project__pi__email"
            )
        }

    def project(self, account: str) -> tuple[str | None, str | None]:
        return self.table.get(normalise_account(self.kind, account), (None, None))


@dataclass
class Context:
    """The fixed parts of every output line for a source and period."""

    month: str
    currency: str
    issuer: str  # the organization: provider, publisher and invoice issuer of every line
    provider: str  # the source's display name (in the billing account's name)
    ledger: SubsidyLedger
    invoice_id: str  # the group's own invoice for the source and month

    @property
    def start(self) -> datetime:
        return datetime.combine(period_bounds(self.month)[0], datetime.min.time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(period_bounds(self.month)[1], datetime.min.time(), tzinfo=UTC)

    def line(self, **values: str) -> FocusLine:
        base = {
            "BillingCurrency": self.currency, "BillingPeriodStart": utc_z(self.start),
            "BillingPeriodEnd": utc_z(self.end), "ChargeCategory": "Usage", "ChargeClass": "",
            "ChargeFrequency": "Usage-Based", "PricingCategory": "Standard", "InvoiceId": self.invoice_id,
            "InvoiceIssuerName": self.issuer, "ProviderName": self.issuer, "PublisherName": self.issuer,
        }  # fmt: skip
        base.update(values)
        return FocusLine(base)


def money_columns(*, list_cost: Decimal, unit_price: Decimal, billed: Decimal) -> dict[str, str]:
    """List and contracted at the rate; billed and effective after free allowance and subsidies
    (with a decimal point, so a file of whole amounts is still read as decimal columns)."""
    return {
        "ListCost": decimal(list_cost), "ListUnitPrice": decimal(unit_price), "ContractedCost": decimal(list_cost),
        "ContractedUnitPrice": decimal(unit_price), "BilledCost": decimal(billed), "EffectiveCost": decimal(billed),
    }  # fmt: skip


def subsidy_columns(applied: dict[str, tuple[str, Decimal]]) -> dict[str, str]:
    """x_ columns naming the subsidies of a line (for statements: code, label, amount)."""
    if not applied:
        return {}
    total = sum((amount for _, amount in applied.values()), ZERO)
    return {
        "x_SubsidyCode": ",".join(applied),
        "x_SubsidyLabel": "; ".join(label for label, _ in applied.values()),
        "x_SubsidyAmount": number(total),
        "x_Subsidies": json_text([{"code": c, "label": lab, "amount": number(a)} for c, (lab, a) in applied.items()]),
    }


def add_applied(into: dict[str, tuple[str, Decimal]], applied: list[Applied]) -> None:
    for item in applied:
        label, amount = into.get(item.code, (item.label, ZERO))
        into[item.code] = (label, amount + item.amount)


def json_text(data: Any) -> str:
    import json

    return json.dumps(data, separators=(",", ":"), sort_keys=False)
