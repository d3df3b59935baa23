"""Billing data: sources, periods, PIs and projects, import batches, charges, rules, review
(account mappings, rates and subsidies: billing/pricing_models.py)."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from chargeback.money import ExactDecimalField, MoneyField

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def validate_period(value: str) -> None:
    if not PERIOD_RE.match(value):
        raise ValidationError(f"{value!r} is not a billing period (YYYY-MM)")


def validate_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"not a valid regular expression: {exc}") from None


class Source(models.Model):
    """Where billing data comes from (aws, azure, hpc, storage…) and whom the journal credits."""

    name = models.SlugField(max_length=50, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    file_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shell-style file name pattern for auto-detection, e.g. aws-*.csv*",
    )
    credit_fund_org = models.CharField(max_length=100, blank=True, help_text="Journal credit side fund/org")
    gl_account = models.CharField(max_length=50, blank=True, help_text="Journal credit GL account")
    enabled = models.BooleanField(default=True)
    last_import_status = models.CharField(max_length=200, blank=True)
    last_import_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class BillingPeriod(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        FINALIZED = "finalized", "Finalized"

    # The allowed moves: (from, to) -> whether a reason is required.
    TRANSITIONS: dict[tuple[str, str], bool] = {
        (Status.OPEN, Status.CLOSED): False,
        (Status.CLOSED, Status.OPEN): True,
        (Status.CLOSED, Status.FINALIZED): False,
    }

    period = models.CharField(max_length=7, unique=True, validators=[validate_period])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period"]
        permissions = [
            ("close_period", "Can close and reopen billing periods"),
            ("finalize_period", "Can finalize billing periods"),
        ]

    def __str__(self) -> str:
        return self.period

    @property
    def accepts_changes(self) -> bool:
        return self.status == self.Status.OPEN


class PeriodTransition(models.Model):
    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="transitions")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    reason = models.TextField(blank=True)
    actor = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.period}: {self.from_status or '-'} → {self.to_status}"


class Reevaluation(models.Model):
    """A re-evaluation of an open period's rules, run by a worker: its state and its report."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="reevaluations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    actor = models.CharField(max_length=200)
    user_id = models.IntegerField(null=True, blank=True)  # the requesting user (the audit event's actor)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"re-evaluation {self.pk} ({self.status})"


class PI(models.Model):
    email = models.EmailField(unique=True, help_text="Stored lower-case")
    name = models.CharField(max_length=200, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pi"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name = "PI"
        verbose_name_plural = "PIs"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Project(models.Model):
    code = models.CharField(max_length=200, unique=True, help_text="The project_id tag")
    pi = models.ForeignKey(PI, null=True, blank=True, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(max_length=300, blank=True)
    fund_org = models.CharField(max_length=100, blank=True, help_text="Default fund/org")
    active = models.BooleanField(default=True)
    fund_end_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


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


class TagMapping(models.Model):
    """Which tag keys carry which attribution field. Several keys may feed one field (first wins)."""

    class Field(models.TextChoices):
        PI_EMAIL = "pi_email", "PI email"
        PROJECT_ID = "project_id", "Project id"
        FUND_ORG = "fund_org", "Fund/org"
        COST_CENTER = "cost_center", "Cost center"
        ACCOUNT_CODE = "account_code", "Account code"
        REFERENCE_1 = "reference_1", "Reference 1"
        REFERENCE_2 = "reference_2", "Reference 2"

    field = models.CharField(max_length=20, choices=Field.choices)
    tag_key = models.CharField(max_length=200)
    priority = models.PositiveSmallIntegerField(default=0, help_text="Lower is tried first")

    class Meta:
        ordering = ["field", "priority", "id"]
        constraints = [models.UniqueConstraint(fields=["field", "tag_key"], name="tagmapping_unique")]
        permissions = [("manage_rules", "Can edit rules")]

    def __str__(self) -> str:
        return f"{self.tag_key} → {self.field}"


# Charge fields a flag pattern may look at.
PATTERN_FIELDS = (
    "service_name", "service_category", "resource_id", "resource_name", "resource_type", "sku_id",
    "region_id", "sub_account_id", "sub_account_name", "charge_description", "charge_category",
    "fund_org", "pi_email", "project_id", "tags",
)  # fmt: skip


def validate_pattern_fields(value: str) -> None:
    unknown = [f for f in (x.strip() for x in value.split(",")) if f and f not in PATTERN_FIELDS]
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; choose from {', '.join(PATTERN_FIELDS)}")


class FlagPattern(models.Model):
    """Flag charges whose field matches a regular expression (e.g. GPU instances, a test account)."""

    name = models.SlugField(max_length=60, unique=True)
    pattern = models.CharField(max_length=500, validators=[validate_regex])
    fields = models.CharField(
        max_length=300,
        default="service_name,resource_name",
        validators=[validate_pattern_fields],
        help_text="Comma-separated charge fields to search",
    )
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FundOrgPattern(models.Model):
    """A valid fund/org shape. When any are enabled, a fund/org must match at least one."""

    pattern = models.CharField(max_length=500, validators=[validate_regex])
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.pattern


# Account mappings, rates and subsidies live in their own module; importing them here registers
# them with the billing app and keeps `from billing.models import Rate` working.
from billing.pricing_models import AccountMapping, Rate, SubsidyRule, SubsidyUsage  # noqa: E402

__all__ = [
    "PI", "AccountMapping", "BillingPeriod", "Charge", "FlagPattern", "FundOrgPattern", "ImportBatch", "ImportFile",
    "PeriodTransition", "Project", "Rate", "Reevaluation", "ReviewDecision", "Source", "SubsidyRule", "SubsidyUsage",
    "TagMapping",
]  # fmt: skip
