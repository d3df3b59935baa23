"""Recording what a conversion spent of the capped subsidies (`subsidy_usage_record`).

The prices and subsidies themselves (`RateBook`, `SubsidyLedger`) are read and computed in
`billing.pricing`; this is the one write, made when an import applies the converted usage.
"""

from __future__ import annotations

from django.db import transaction

from billing.models import SubsidyUsage
from billing.pricing import SubsidyLedger
from chargeback.audit import Actor, audit_record


def subsidy_usage_record(*, ledger: SubsidyLedger, actor: Actor) -> None:  # pragma: no mutate block
    """Keep what this conversion of the source and period used of each capped subsidy, replacing
    an earlier conversion of the same source and period (so converting again is not counted twice)."""
    with transaction.atomic():
        SubsidyUsage.objects.filter(period=ledger.month, source=ledger.source).delete()
        rows = [
            SubsidyUsage(rule=rule, window=rule.window(ledger.month), period=ledger.month, source=ledger.source,
                         amount=ledger.used_now[rule.pk])
            for rule in ledger.rules
            if ledger.used_now.get(rule.pk)
        ]  # fmt: skip
        SubsidyUsage.objects.bulk_create(rows)
        audit_record(
            actor=actor, action="subsidy.usage", obj=ledger.source, month=ledger.month,
            after={r.rule.code: format(r.amount, "f") for r in rows},
        )  # fmt: skip
