"""Provider invoices: what a provider billed for a source and month, to reconcile the imports with."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chargeback.money import MoneyField

from .periods import BillingPeriod
from .sources import Source


class ProviderInvoice(models.Model):
    """One invoice of a provider (FOCUS `InvoiceId`) for a source and month, with its total.

    The imported rows carrying the same `InvoiceId` should add up to `total` (their BilledCost);
    a difference of a cent or more must be explained before the month is finalized.
    """

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="invoices")
    invoice_id = models.CharField(max_length=200, help_text="The provider's invoice number (FOCUS InvoiceId)")
    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="invoices")
    issuer = models.CharField(max_length=200, blank=True, help_text="FOCUS InvoiceIssuerName")
    billing_account = models.CharField(max_length=200, blank=True, help_text="FOCUS BillingAccountId")
    currency = models.CharField(max_length=3, default="USD")
    total = MoneyField(help_text="The invoice's total as the provider states it")
    explanation = models.TextField(blank=True, help_text="Why the imported rows differ from the total")
    explained_by = models.CharField(max_length=200, blank=True)
    explained_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period__period", "source__name", "invoice_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "invoice_id"], name="one_invoice_per_source_and_number")
        ]

    def __str__(self) -> str:
        return f"{self.source.name} invoice {self.invoice_id}"
