"""Shared by the ingest tests: a FOCUS line with every kind of column, and "nothing was written"."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from billing.models import Charge, ImportBatch
from tests.conftest import tags

FULL_HEADER = [
    "BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeCategory", "ChargeClass", "BillingCurrency", "ListCost", "ContractedCost", "BilledCost",
    "EffectiveCost", "PricingQuantity", "PricingUnit", "ServiceName", "ResourceId", "RegionId", "SkuId",
    "InvoiceId", "CommitmentDiscountId", "x_ServiceCode", "Tags",
]  # fmt: skip


def full_row(billed: str, **overrides: str) -> list[str]:
    row = dict(
        zip(FULL_HEADER, [
            "123456789012", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "2025-01-05T00:00:00Z",
            "2025-01-06T00:00:00Z", "Usage", "", "USD", billed, billed, billed, billed, "24", "Hours",
            "Amazon EC2", "i-0abc", "us-east-1", "SKU1", "INV-1", "NULL", "AmazonEC2", tags(),
        ], strict=True)
    )  # fmt: skip
    row.update(overrides)
    return [row[h] for h in FULL_HEADER]


def nothing_written() -> bool:
    """No charge, no batch and no stored original: the import left no trace."""
    media = Path(settings.MEDIA_ROOT)
    stored = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
    return not Charge.objects.exists() and not ImportBatch.objects.exists() and not stored
