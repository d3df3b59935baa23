"""Billing period lifecycle: open → closed → finalized; closed → open only with a reason."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.models import BillingPeriod, PeriodTransition, period_validate
from billing.selectors.readiness import readiness_require
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError

from .finalize_checks import run_checks

Status = BillingPeriod.Status


def period_get_or_open(*, month: str, actor: Actor, for_update: bool = False) -> BillingPeriod:
    """The period row, created open (with its first transition) when first seen."""
    period_validate(month)
    with transaction.atomic():
        qs = BillingPeriod.objects.select_for_update() if for_update else BillingPeriod.objects
        obj = qs.filter(period=month).first()
        if obj is not None:
            return obj
        obj = BillingPeriod.objects.create(period=month, status=Status.OPEN)
        PeriodTransition.objects.create(
            period=obj, from_status="", to_status=Status.OPEN, actor=actor.label, user_id=actor.user_id
        )
        audit_record(actor=actor, action="period.open", obj=obj, month=month, after={"status": Status.OPEN})
        return obj


def period_transition(*, month: str, to_status: str, actor: Actor, reason: str = "") -> BillingPeriod:
    """Move a period along the allowed transitions, recording who, when, from, to and why."""
    reason = reason.strip()
    with transaction.atomic():
        obj = BillingPeriod.of(month, for_update=True)
        from_status = obj.status
        if from_status == to_status:
            raise BillingError(f"period {month} is already {to_status}")
        needs_reason = BillingPeriod.TRANSITIONS.get((from_status, to_status))
        if needs_reason is None:
            if from_status == Status.FINALIZED:
                raise BillingError(f"period {month} is finalized; finalized periods are permanent")
            raise BillingError(f"period {month} is {from_status}; it cannot move to {to_status}")
        if needs_reason and not reason:
            raise BillingError(f"reopening period {month} needs a reason")
        if to_status == Status.CLOSED:
            readiness_require(obj, step="be closed")  # fix or decide in the open period, not after
        if to_status == Status.FINALIZED:
            _check_can_finalize(obj)
        now = timezone.now()
        obj.status = to_status
        if to_status == Status.CLOSED:
            obj.closed_at = now
        elif to_status == Status.FINALIZED:
            obj.finalized_at = now
        elif to_status == Status.OPEN:
            obj.closed_at = None
        if reason:
            obj.notes = (obj.notes + "\n" if obj.notes else "") + f"{now:%Y-%m-%d} {to_status}: {reason}"
        obj.save()
        PeriodTransition.objects.create(
            period=obj, from_status=from_status, to_status=to_status, reason=reason,
            actor=actor.label, user_id=actor.user_id,
        )  # fmt: skip
        audit_record(
            actor=actor, action=f"period.{to_status}", obj=obj, month=month,
            before={"status": from_status}, after={"status": to_status, "reason": reason},
        )  # fmt: skip
        return obj


def _check_can_finalize(obj: BillingPeriod) -> None:
    readiness_require(obj, step="be finalized")
    run_checks(obj)  # what the apps above billing need first (statements, journal), registered by them


def period_open(*, month: str, actor: Actor) -> BillingPeriod:
    return period_get_or_open(month=month, actor=actor)


def period_close(*, month: str, actor: Actor, notes: str = "") -> BillingPeriod:
    return period_transition(month=month, to_status=Status.CLOSED, actor=actor, reason=notes)


def period_reopen(*, month: str, actor: Actor, reason: str) -> BillingPeriod:
    return period_transition(month=month, to_status=Status.OPEN, actor=actor, reason=reason)


def period_finalize(*, month: str, actor: Actor, notes: str = "") -> BillingPeriod:
    return period_transition(month=month, to_status=Status.FINALIZED, actor=actor, reason=notes)
