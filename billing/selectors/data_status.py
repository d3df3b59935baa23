"""Data status of a source's month: *provisional* or *final*.

A source's month is provisional while some of its imported rows lack an `InvoiceId` (the
provider has not invoiced them yet: an estimate, or a month still running) or while its newest
import is not marked final (`ingest --final`, or the admin's "Mark as final data" action); final
otherwise. A provisional month can still be billed; it is a warning, not a blocker.

A batch's rows never change after the import, so its count of rows without an InvoiceId is
computed once per batch and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count

from billing.models import BillingPeriod, Charge, ImportBatch

CACHE_SECONDS = 24 * 3600
_CACHE_PREFIX = "billing.data_status.v1"
PROVISIONAL, FINAL = "provisional", "final"


@dataclass(frozen=True)
class SourceStatus:
    source: str
    batch_id: int
    rows_without_invoice: int
    final_import: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return PROVISIONAL if self.reasons else FINAL

    @property
    def provisional(self) -> bool:
        return bool(self.reasons)


def data_status(*, period: BillingPeriod) -> list[SourceStatus]:
    """Each source imported for the month, with its status and why it is provisional."""
    batches = list(
        ImportBatch.objects.filter(period=period, status=ImportBatch.Status.APPLIED)
        .select_related("source")
        .order_by("source__name")
    )
    missing = _rows_without_invoice(batches)
    rows = []
    for b in batches:
        reasons = []
        if missing[b.pk]:
            reasons.append(f"{missing[b.pk]} of {b.row_count} rows have no InvoiceId")
        if not b.final:
            reasons.append(f"import batch {b.pk} is not marked final")
        rows.append(SourceStatus(b.source.name, b.pk, missing[b.pk], b.final, reasons))
    return rows


def data_status_warnings(period: BillingPeriod) -> list[str]:
    """A readiness warning per source whose month is provisional (for `periods check`)."""
    return [
        f"{s.source} {period.period} is provisional data ({'; '.join(s.reasons)})"
        for s in data_status(period=period)
        if s.provisional
    ]


def _rows_without_invoice(batches: list[ImportBatch]) -> dict[int, int]:
    keys = {b.pk: f"{_CACHE_PREFIX}.{b.pk}.{b.content_sha256}.{b.created_at.isoformat()}" for b in batches}
    found = cache.get_many(list(keys.values()))
    result = {pk: found[key] for pk, key in keys.items() if key in found}
    todo = [pk for pk in keys if pk not in result]
    if todo:
        counted = dict(
            Charge.objects.filter(batch_id__in=todo, invoice_id="")
            .values_list("batch_id")
            .annotate(n=Count("id"))
            .values_list("batch_id", "n")
            .order_by()
        )
        for pk in todo:
            result[pk] = counted.get(pk, 0)
        cache.set_many({keys[pk]: result[pk] for pk in todo}, CACHE_SECONDS)
    return result
