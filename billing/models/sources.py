"""Sources: where charges come from (aws, azure, hpc…), and their journal credit side."""

from __future__ import annotations

from django.db import models


class Source(models.Model):
    """Where billing data comes from (aws, azure, hpc, storage…) and whom the journal credits."""

    class BillingBasis(models.TextChoices):
        BILLED = "billed", "Billed cost (as invoiced)"
        EFFECTIVE = "effective", "Effective cost (commitments amortized)"

    name = models.SlugField(max_length=50, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    file_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shell-style file name patterns for auto-detection, separated by spaces, e.g. aws-* aws_*. "
        "A file name matching two sources' patterns is refused, so anchor them at the start of the name",
    )
    credit_fund_org = models.CharField(max_length=100, blank=True, help_text="Journal credit side fund/org")
    gl_account = models.CharField(max_length=50, blank=True, help_text="Journal credit GL account")
    billing_basis = models.CharField(
        max_length=10,
        choices=BillingBasis.choices,
        default=BillingBasis.BILLED,
        help_text="What statements bill: FOCUS BilledCost, or EffectiveCost (commitment purchases amortized "
        "over the usage they cover; the purchases themselves leave the bill)",
    )
    enabled = models.BooleanField(default=True)
    last_import_status = models.CharField(max_length=200, blank=True)
    last_import_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name
