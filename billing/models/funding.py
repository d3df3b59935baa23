"""Funds (grants and other awards with a period of performance) and how projects split across them."""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .people import Project
from .rules import FundOrgPattern


def validate_fund_code(value: str) -> None:
    # Flag reasons and journal lines are comma-delimited text that names the fund.
    if "," in value or any(ch in value for ch in ":\r\n\t"):
        raise ValidationError("a fund/org code holds no comma, colon, tab or line break")


class Fund(models.Model):
    """A fund/org code with its sponsor and the award's period of performance.

    Charges dated outside `award_start`..`award_end` (both days included) are flagged
    `outside_award`; 90, 60 and 30 days before `award_end` the PIs it funds get a notice.
    """

    fund_org = models.CharField(max_length=100, unique=True, validators=[validate_fund_code])
    title = models.CharField(max_length=300, blank=True)
    sponsor = models.CharField(max_length=200, blank=True)
    federal = models.BooleanField(
        default=False, help_text="Federally sponsored (costs outside the award are unallowable)"
    )
    award_start = models.DateField(null=True, blank=True, help_text="First day of the period of performance")
    award_end = models.DateField(null=True, blank=True, help_text="Last day of the period of performance")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["fund_org"]

    def __str__(self) -> str:
        return self.fund_org

    def clean(self) -> None:
        patterns = list(FundOrgPattern.objects.filter(enabled=True).values_list("pattern", flat=True))
        # The import's own rule (billing.ingest.rules): matched from the start, ignoring case.
        if patterns and not any(re.match(p, self.fund_org, re.IGNORECASE) for p in patterns):
            raise ValidationError({"fund_org": "matches no enabled fund/org pattern (admin: Fund/org patterns)"})
        if self.award_start and self.award_end and self.award_end < self.award_start:
            raise ValidationError({"award_end": "the award ends before it starts"})


class ProjectFunding(models.Model):
    """One fund's percentage of a project from `effective_from` to `effective_to` (open-ended when empty).

    On every day any row of a project is in force its percentages add up to 100; on days with no
    row the project's (or the charge's) fund/org carries 100 %.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="funding")
    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="project_funding")
    percent = models.DecimalField(
        max_digits=5, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(100))],
    )  # fmt: skip
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Last day; empty: open-ended")

    class Meta:
        ordering = ["project", "effective_from", "fund"]
        verbose_name = "project funding"
        verbose_name_plural = "project funding"
        constraints = [
            models.UniqueConstraint(fields=["project", "fund", "effective_from"], name="project_funding_once"),
        ]

    def __str__(self) -> str:
        return f"{self.project} {self.fund} {self.percent}% from {self.effective_from}"

    def clean(self) -> None:
        if self.effective_to and self.effective_to < self.effective_from:
            raise ValidationError({"effective_to": "the funding ends before it starts"})
