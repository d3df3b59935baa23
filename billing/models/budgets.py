"""Budgets per project or per fund, monthly or over the award, and the alerts already raised."""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from chargeback.money import ExactDecimalField
from chargeback.text import control_character_message

from .people import Project
from .rules import FundOrgPattern

DEFAULT_THRESHOLDS = [50, 80, 100]
THRESHOLD_SEPARATORS = re.compile(r"[\s,;/]+")


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


def parse_thresholds(text: str) -> list[int]:
    """`50/80/100` (or separated by commas, semicolons, spaces) as sorted whole percentages; blank is the default."""
    words = [w for w in THRESHOLD_SEPARATORS.split(str(text or "").strip().rstrip("%")) if w]
    if not words:
        return default_thresholds()
    values = []
    for word in words:
        word = word.rstrip("%")
        if not word.isdigit() or not 1 <= int(word) <= 1000:
            raise ValidationError(f"{word!r} is not a threshold (whole percentages from 1 to 1000, e.g. 50/80/100)")
        values.append(int(word))
    return sorted(set(values))


def format_thresholds(values: list[int]) -> str:
    return "/".join(str(v) for v in values)


class Budget(models.Model):
    """What a project, or a fund, may spend in a month or over its award.

    Exactly one of `project` and `fund_org` is set. Spend is what the statements will bill plus
    the charges still pending review (credits included), in the budget's currency, within its own
    span: the month of the charges, or the award's period of performance.
    """

    class Span(models.TextChoices):
        MONTH = "month", "Each month"
        AWARD = "award", "Over the award"

    class SetBy(models.TextChoices):
        FINANCE = "finance", "Finance"
        PI = "pi", "The PI"

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    fund_org = models.CharField(max_length=100, blank=True, help_text="A fund/org code, for a budget per fund")
    amount = ExactDecimalField(validators=[MinValueValidator(Decimal("0.01"))])
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code")
    span = models.CharField(max_length=5, choices=Span.choices, default=Span.MONTH)
    thresholds = models.JSONField(default=default_thresholds, help_text="Percentages of the amount, e.g. [50, 80, 100]")
    set_by = models.CharField(max_length=10, choices=SetBy.choices, default=SetBy.FINANCE)

    class Meta:
        ordering = ["project__code", "fund_org", "span"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(project__isnull=False) & models.Q(fund_org=""))
                | (models.Q(project__isnull=True) & ~models.Q(fund_org="")),
                name="budget_project_or_fund",
            ),
            models.UniqueConstraint(fields=["project", "span"], name="budget_once_per_project_span"),
            models.UniqueConstraint(
                fields=["fund_org", "span"], condition=~models.Q(fund_org=""), name="budget_once_per_fund_span"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.get_span_display().lower()}: {self.amount:f} {self.currency}"

    @property
    def subject(self) -> str:
        return self.project.code if self.project_id and self.project else f"fund {self.fund_org}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self.fund_org = (self.fund_org or "").strip()
        self.currency = (self.currency or "").strip().upper()
        if bool(self.project_id) == bool(self.fund_org):
            errors["fund_org"] = "Give a project or a fund/org, not both"
        elif self.fund_org:
            # The import's rule (billing.ingest.rules.Attributor.fund_org_valid): one line, matching a pattern.
            patterns = [re.compile(p.pattern, re.IGNORECASE) for p in FundOrgPattern.objects.filter(enabled=True)]
            problem = control_character_message(self.fund_org)
            if problem:
                errors["fund_org"] = f"the fund/org {problem}"
            elif patterns and not any(p.match(self.fund_org) for p in patterns):
                errors["fund_org"] = f"{self.fund_org!r} does not match the fund/org patterns"
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            errors["currency"] = f"{self.currency!r} is not an ISO 4217 currency code"
        try:
            values = self.thresholds if isinstance(self.thresholds, list) else parse_thresholds(str(self.thresholds))
            self.thresholds = parse_thresholds(format_thresholds([int(v) for v in values]))
        except (TypeError, ValueError, ValidationError) as exc:
            errors["thresholds"] = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        if errors:
            raise ValidationError(errors)


class BudgetAlert(models.Model):
    """A threshold a budget's spend crossed in one span. Standing until the spend falls below it
    again (`cleared_at`); while it stands, the same threshold in the same span raises nothing."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    span_key = models.CharField(max_length=40, help_text="YYYY-MM for a monthly budget, award:START..END otherwise")
    threshold = models.PositiveSmallIntegerField()
    spend = ExactDecimalField(help_text="The spend when it crossed")
    forecast = ExactDecimalField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "span_key", "threshold"],
                condition=models.Q(cleared_at__isnull=True),
                name="budget_alert_once_while_standing",
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget.subject} {self.span_key} {self.threshold} %"
