"""Billing periods and every move of their status.

One name per meaning across the code: `month` is the text "YYYY-MM"; `period` is a `BillingPeriod`
row (its `period` field holds the month's text, a column name kept for the schema's sake).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from chargeback.errors import BillingError

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def validate_period(value: str) -> None:
    if not PERIOD_RE.match(value):
        raise ValidationError(f"{value!r} is not a billing period (YYYY-MM)")


def period_validate(month: str) -> None:
    """Refuse anything that is not YYYY-MM with a message a person can act on."""
    if not PERIOD_RE.match(month):
        raise BillingError(f"{month!r} is not a billing period (use YYYY-MM)")


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

    @classmethod
    def of(cls, month: str, *, for_update: bool = False) -> BillingPeriod:
        """The period of `month`, or a BillingError naming what is wrong (not YYYY-MM, no such period)."""
        period_validate(month)
        qs = cls.objects.select_for_update() if for_update else cls.objects
        period = qs.filter(period=month).first()
        if period is None:
            raise BillingError(f"period {month} does not exist")
        return period

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
