"""The billing basis of a source, as the amount each charge bills: one definition for every figure.

A source bills FOCUS `BilledCost` (the default, what the provider invoiced) or `EffectiveCost`
(commitment purchases amortized over the usage they cover, as many chargeback offices bill).
Under the effective basis a row without an EffectiveCost bills its BilledCost, and a commitment
purchase (ChargeCategory Purchase with EffectiveCost 0, by the FOCUS rules) leaves the bill: its
cost reaches the PIs through the usage it covers. The difference between what was invoiced and
what is billed on that basis is the reconciliation's *commitment timing*.

`Basis.of()` reads which sources bill on the effective basis once (a handful of rows), so the
expressions below compare `source_id` and never join the sources table; with every source on
the billed basis they are plain `billed_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, F, Q, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce

from billing.models import Source
from chargeback.money import MoneyField

EFFECTIVE = Source.BillingBasis.EFFECTIVE


@dataclass(frozen=True)
class Basis:
    """Which sources bill on the effective basis (by id)."""

    effective: frozenset[int]

    @classmethod
    def of(cls) -> Basis:
        return cls(frozenset(Source.objects.filter(billing_basis=EFFECTIVE).values_list("pk", flat=True)))

    def is_effective(self, source_id: int) -> bool:
        return source_id in self.effective

    def cost(self) -> Combinable:
        """The amount a charge bills under its source's basis (exact)."""
        if not self.effective:
            return F("billed_cost")
        return Case(
            When(source_id__in=sorted(self.effective), then=Coalesce("effective_cost", "billed_cost")),
            default=F("billed_cost"),
            output_field=MoneyField(),
        )

    def listed(self) -> Combinable:
        """The list cost; a charge without one is at list (no discount) under its basis."""
        return Coalesce("list_cost", self.cost(), output_field=MoneyField())

    def off_bill(self) -> Q:
        """Commitment purchases of effective-basis sources: imported, but not billed to anyone."""
        if not self.effective:
            return Q(pk__in=[])
        return Q(source_id__in=sorted(self.effective), charge_category__iexact="purchase", effective_cost=0)
