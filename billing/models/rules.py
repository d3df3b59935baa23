"""Rules edited in the admin: tag-key mapping, flag patterns, fund/org validation patterns."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models


def validate_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"not a valid regular expression: {exc}") from None


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
