"""Account mappings, rates and subsidies: what converters price with and how untagged charges
are attributed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from billing.account_values import normalise_account
from chargeback.money import ExactDecimalField, MoneyField

from .people import PI, Project
from .periods import validate_period
from .sources import Source


class AccountMapping(models.Model):
    """Attribution for charges whose tags name no project: an account → a project (and its PI).

    Applied at import, before flagging; the charge keeps `kind:value` of the mapping that
    attributed it. The most specific kind wins: Slurm account, storage path, resource group,
    sub-account, billing account.
    """

    class Kind(models.TextChoices):
        SLURM_ACCOUNT = "slurm_account", "Slurm account"
        STORAGE_PATH = "storage_path", "Storage path or allocation"
        RESOURCE_GROUP = "resource_group", "Resource group (Azure)"
        SUB_ACCOUNT = "sub_account", "Sub-account (AWS account, Azure subscription, GCP project)"
        BILLING_ACCOUNT = "billing_account", "Billing account"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(
        max_length=400, help_text="Matched without regard to case; an Azure subscription by id or ARM path"
    )
    match_value = models.CharField(max_length=400, editable=False, db_index=True)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="account_mappings")
    fund_org = models.CharField(max_length=100, blank=True, help_text="Blank: the project's default fund/org")
    note = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "match_value"]
        constraints = [models.UniqueConstraint(fields=["kind", "match_value"], name="accountmapping_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value} → {self.project_id and self.project}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.value = self.value.strip()
        self.match_value = normalise_account(self.kind, self.value)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def validate_unique(self, exclude: object = None) -> None:
        self.match_value = normalise_account(self.kind, self.value)
        super().validate_unique(exclude=exclude)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.match_value}"


def _overlaps(start: object, end: object, other_start: object, other_end: object) -> bool:
    """Two date ranges with inclusive ends (None: open-ended) share at least one day."""
    return (end is None or other_start <= end) and (other_end is None or start <= other_end)  # type: ignore[operator]


class Rate(models.Model):
    """A named, effective-dated price: cpu-su, gpu-a100-su, storage-tb-month…

    A Slurm rate prices the service units of a partition; a storage rate prices a tier per unit
    and month, after a free allowance per project, on usage or on quota. Rates of one name, or
    of one kind and partition/tier, may not overlap in time.
    """

    class Kind(models.TextChoices):
        SLURM = "slurm", "Slurm partition"
        STORAGE = "storage", "Storage tier"
        OTHER = "other", "Other"

    class Basis(models.TextChoices):
        USAGE = "usage", "Usage"
        QUOTA = "quota", "Quota"

    name = models.SlugField(max_length=60, help_text="e.g. cpu-su, gpu-a100-su, storage-tb-month")
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SLURM)
    applies_to = models.CharField(
        max_length=100, blank=True, help_text="The Slurm partition or storage tier this rate prices"
    )
    unit = models.CharField(max_length=50, help_text="Pricing unit, e.g. SU, GPU-hour, TB-month")
    price = MoneyField(help_text="Price per unit")
    multiplier = ExactDecimalField(
        default=1, help_text="Slurm: SU per allocated CPU-hour when the job has no billing TRES"
    )
    free_quantity = ExactDecimalField(default=0, help_text="Storage: free units per project and month")
    basis = models.CharField(
        max_length=10, choices=Basis.choices, default=Basis.USAGE, help_text="Storage: bill on usage or on quota"
    )
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Last day it applies; blank: until further notice")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "effective_from"]

    def __str__(self) -> str:
        return f"{self.name} from {self.effective_from}"

    def clean(self) -> None:
        if self.effective_to is not None and self.effective_from and self.effective_to < self.effective_from:
            raise ValidationError({"effective_to": "The last day comes before the first."})
        if self.kind in (self.Kind.SLURM, self.Kind.STORAGE) and not self.applies_to:
            raise ValidationError({"applies_to": "Name the partition or tier this rate prices."})
        if not self.effective_from:
            return
        same = Rate.objects.exclude(pk=self.pk).filter(
            models.Q(name=self.name) | models.Q(kind=self.kind, applies_to=self.applies_to, applies_to__gt="")
        )
        for other in same:
            if _overlaps(self.effective_from, self.effective_to, other.effective_from, other.effective_to):
                until = other.effective_to or "open-ended"
                raise ValidationError(
                    f"overlaps rate {other.name} ({other.applies_to or 'no partition/tier'}) "
                    f"effective {other.effective_from} to {until}; end one before the other starts"
                )


class SubsidyRule(models.Model):
    """A subsidy: a percent of the list cost and/or a cap in currency, on a scope, over dates.

    The scope fields left blank match everything. A cap is spent in the order charges happen and
    carries its running balance across periods (per month, or per fiscal year).
    """

    class CapPeriod(models.TextChoices):
        MONTH = "month", "Per month"
        FISCAL_YEAR = "fiscal_year", "Per fiscal year"

    code = models.SlugField(max_length=60, unique=True, help_text="Short code, e.g. provost-hpc")
    label = models.CharField(max_length=200, help_text='Shown on statements, e.g. "Provost HPC subsidy"')
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.PROTECT, related_name="subsidies")
    service_name = models.CharField(max_length=300, blank=True)
    partition = models.CharField(max_length=100, blank=True, help_text="Slurm partition or storage tier")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT, related_name="subsidies")
    pi = models.ForeignKey(PI, null=True, blank=True, on_delete=models.PROTECT, related_name="subsidies")
    percent = ExactDecimalField(
        null=True, blank=True, help_text="Percent of the list cost (0–100); blank with a cap: 100"
    )
    cap = MoneyField(null=True, blank=True, help_text="Most it pays per cap period; blank: no cap")
    cap_period = models.CharField(max_length=12, choices=CapPeriod.choices, default=CapPeriod.MONTH)
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=7, help_text="First month of the fiscal year (7 = July)"
    )
    priority = models.PositiveSmallIntegerField(default=0, help_text="Lower is applied first")
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.label})"

    def clean(self) -> None:
        if self.percent is None and self.cap is None:
            raise ValidationError("Give a percent, a cap, or both.")
        if self.percent is not None and not 0 <= self.percent <= 100:
            raise ValidationError({"percent": "A percent is between 0 and 100."})
        if self.cap is not None and self.cap < 0:
            raise ValidationError({"cap": "A cap cannot be negative."})
        if not 1 <= self.fiscal_year_start_month <= 12:
            raise ValidationError({"fiscal_year_start_month": "A month is 1 to 12."})
        if self.effective_to is not None and self.effective_from and self.effective_to < self.effective_from:
            raise ValidationError({"effective_to": "The last day comes before the first."})

    def window(self, month: str) -> str:
        """The cap window a billing period falls in: the period itself, or FY<year it ends>."""
        if self.cap_period == self.CapPeriod.MONTH:
            return month
        year, number = int(month[:4]), int(month[5:7])
        start = self.fiscal_year_start_month
        return f"FY{year + 1 if start > 1 and number >= start else year}"


class SubsidyUsage(models.Model):
    """How much of a subsidy one conversion of a source and period used; the cap's running balance
    is the sum over the periods of its window. Converting a period again replaces its row."""

    rule = models.ForeignKey(SubsidyRule, on_delete=models.CASCADE, related_name="usage")
    window = models.CharField(max_length=10)
    period = models.CharField(max_length=7, validators=[validate_period])
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="subsidy_usage")
    amount = MoneyField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rule", "period"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "period", "source"], name="subsidyusage_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.code} {self.period} {self.source_id}: {self.amount}"
