"""Import batches and their files, charges (one per input line) and review decisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chargeback.money import ExactDecimalField, MoneyField

from .people import PI, Project
from .periods import BillingPeriod
from .sources import Source


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        SUPERSEDED = "superseded", "Superseded"
        ROLLED_BACK = "rolled_back", "Rolled back"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="batches")
    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="batches")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.APPLIED)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    content_sha256 = models.CharField(
        max_length=64, db_index=True, help_text="SHA-256 over the sorted SHA-256s of the batch's files"
    )
    focus_version = models.CharField(max_length=20, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    list_total = ExactDecimalField(default=0)
    billed_total = ExactDecimalField(default=0)
    flagged_rows = models.PositiveIntegerField(default=0)
    flagged_cost = ExactDecimalField(default=0)
    currencies = models.JSONField(default=list, blank=True)
    periods_seen = models.JSONField(default=dict, blank=True, help_text="Rows per billing period in the files")
    flag_counts = models.JSONField(default=dict, blank=True, help_text="Rows per flag reason")
    warnings = models.JSONField(default=list, blank=True)
    final = models.BooleanField(
        default=False, help_text="The provider's final data for the month (not an estimate to be replaced)"
    )
    actor = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "import batches"
        permissions = [("import_charges", "Can import billing files")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "period"],
                condition=models.Q(status="applied"),
                name="one_applied_batch_per_source_period",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.source.name} {self.period.period}"


def import_upload_to(instance: ImportFile, filename: str) -> str:
    return f"imports/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class ImportFile(models.Model):
    """One original file of a batch, stored as received: a FOCUS file it imported or, when the
    batch was converted from usage files (`ingest --from`), each of those too."""

    class Role(models.TextChoices):
        FOCUS = "focus", "FOCUS file imported"
        USAGE = "usage", "usage file converted"

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    rows = models.PositiveIntegerField(default=0)
    stored = models.FileField(upload_to=import_upload_to, max_length=400)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.FOCUS)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Charge(models.Model):
    """One input line, nothing dropped. FOCUS columns the file had, attribution and review state."""

    class ReviewState(models.TextChoices):
        OK = "ok", "OK"
        FLAGGED = "flagged", "Flagged"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    # Foreign keys are indexed through the indexes in Meta (each index slows ingest). Batch,
    # period and source are set by the import service for a whole batch, under its lock; a
    # database-level check of each of a million rows would double the import time on
    # PostgreSQL, so those three are checked by Django (PROTECT) rather than by the database.
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="charges", db_index=False, db_constraint=False
    )
    period = models.ForeignKey(
        BillingPeriod, on_delete=models.PROTECT, related_name="charges", db_index=False, db_constraint=False
    )
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="charges", db_index=False, db_constraint=False
    )
    active = models.BooleanField(default=True, help_text="False once its batch is superseded or rolled back")
    file_index = models.PositiveSmallIntegerField(default=0, help_text="Which file of the batch (0-based)")
    line_number = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=32)

    # Attribution
    # PI and project ids come from the import's own master data, in the same transaction; like the
    # batch, they are checked by Django (PROTECT), not per row by the database.
    pi = models.ForeignKey(
        PI, null=True, blank=True, on_delete=models.PROTECT, related_name="charges", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="charges", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    fund_org = models.CharField(max_length=100, blank=True)
    cost_center = models.CharField(max_length=100, blank=True)
    account_code = models.CharField(max_length=50, blank=True)
    reference_1 = models.CharField(max_length=200, blank=True)
    reference_2 = models.CharField(max_length=200, blank=True)

    # FOCUS: accounts and periods
    billing_account_id = models.CharField(max_length=200, blank=True)
    billing_account_name = models.CharField(max_length=300, blank=True)
    sub_account_id = models.CharField(max_length=400, blank=True)
    sub_account_name = models.CharField(max_length=300, blank=True)
    billing_period_start = models.DateTimeField(null=True, blank=True)
    billing_period_end = models.DateTimeField(null=True, blank=True)
    charge_period_start = models.DateTimeField(null=True, blank=True)
    charge_period_end = models.DateTimeField(null=True, blank=True)
    # FOCUS: the charge
    charge_category = models.CharField(max_length=30, blank=True)
    charge_class = models.CharField(max_length=30, blank=True)
    charge_frequency = models.CharField(max_length=30, blank=True)
    charge_description = models.TextField(blank=True)
    billing_currency = models.CharField(max_length=3, blank=True)
    # FOCUS: money (exact)
    list_cost = MoneyField(null=True, blank=True)
    list_unit_price = MoneyField(null=True, blank=True)
    contracted_cost = MoneyField(null=True, blank=True)
    contracted_unit_price = MoneyField(null=True, blank=True)
    billed_cost = MoneyField()
    effective_cost = MoneyField(null=True, blank=True)
    # FOCUS: quantities
    pricing_quantity = ExactDecimalField(null=True, blank=True)
    pricing_unit = models.CharField(max_length=100, blank=True)
    consumed_quantity = ExactDecimalField(null=True, blank=True)
    consumed_unit = models.CharField(max_length=100, blank=True)
    # FOCUS: who provided it, where, what
    provider_name = models.CharField(max_length=200, blank=True)
    publisher_name = models.CharField(max_length=200, blank=True)
    invoice_issuer_name = models.CharField(max_length=200, blank=True)
    region_id = models.CharField(max_length=100, blank=True)
    region_name = models.CharField(max_length=200, blank=True)
    availability_zone = models.CharField(max_length=100, blank=True)
    resource_id = models.CharField(max_length=1000, blank=True)
    resource_name = models.CharField(max_length=1000, blank=True)
    resource_type = models.CharField(max_length=200, blank=True)
    service_category = models.CharField(max_length=200, blank=True)
    service_subcategory = models.CharField(max_length=200, blank=True)
    service_name = models.CharField(max_length=300, blank=True)
    sku_id = models.CharField(max_length=200, blank=True)
    sku_price_id = models.CharField(max_length=300, blank=True)
    invoice_id = models.CharField(max_length=200, blank=True)
    # Everything else the file had
    tags = models.JSONField(default=dict, blank=True)
    focus_extra = models.JSONField(default=dict, blank=True, help_text="Other FOCUS columns of the file")
    extensions = models.JSONField(default=dict, blank=True, help_text="x_* and unknown columns")

    # Review
    review_state = models.CharField(max_length=10, choices=ReviewState.choices, default=ReviewState.OK)
    flag_reasons = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-delimited reason codes, with a leading and trailing comma",
    )
    attribution_rule = models.CharField(
        max_length=300,
        blank=True,
        help_text="The account mapping that attributed the charge (kind:value); blank when its tags did",
    )

    class Meta:
        ordering = ["batch_id", "file_index", "line_number"]
        indexes = [
            models.Index(fields=["period", "active", "review_state"], name="charge_period_state"),
            models.Index(fields=["batch"], name="charge_batch"),
            models.Index(fields=["review_state", "active"], name="charge_state"),
            models.Index(fields=["resource_id"], name="charge_resource"),
            models.Index(fields=["pi", "period"], name="charge_pi_period"),
            models.Index(fields=["project", "period"], name="charge_project_period"),
            # The review queue: a fund/org search, and a period's charges sorted by amount.
            models.Index(fields=["fund_org", "period"], name="charge_fund_org_period"),
            models.Index(fields=["period", "billed_cost"], name="charge_period_billed"),
        ]
        permissions = [("approve_charge", "Can approve, reject and re-attribute charges")]

    def __str__(self) -> str:
        return f"charge {self.pk} (batch {self.batch_id} line {self.line_number})"

    @property
    def flag_reason_list(self) -> list[str]:
        return [r for r in self.flag_reasons.split(",") if r]


class ReviewDecision(models.Model):
    """Append-only: each approval, rejection or attribution fix of a charge."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        REATTRIBUTE = "reattribute", "Fix attribution"
        CARRIED_OVER = "carried_over", "Carried over from a replaced batch"
        DISPUTE = "dispute", "Disputed on the portal"

    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    state_before = models.CharField(max_length=10)
    state_after = models.CharField(max_length=10)
    note = models.TextField(blank=True)
    attribution_before = models.JSONField(null=True, blank=True)
    attribution_after = models.JSONField(null=True, blank=True)
    actor = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.decision} charge {self.charge_id} by {self.actor}"
