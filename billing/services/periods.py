"""Billing period lifecycle: open → closed → finalized; closed → open only with a reason."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.models import BillingPeriod, PeriodTransition, validate_period
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError

from .close_checks import run_checks as run_close_checks
from .finalize_checks import run_checks

Status = BillingPeriod.Status


def period_validate(period: str) -> None:
    """Refuse anything that is not YYYY-MM with a message a person can act on."""
    try:
        validate_period(period)
    except Exception:
        raise BillingError(f"{period!r} is not a billing period (use YYYY-MM)") from None


def period_get_or_open(*, period: str, actor: Actor, for_update: bool = False) -> BillingPeriod:
    """The period row, created open (with its first transition) when first seen."""
    period_validate(period)
    with transaction.atomic():
        qs = BillingPeriod.objects.select_for_update() if for_update else BillingPeriod.objects
        obj = qs.filter(period=period).first()
        if obj is not None:
            return obj
        obj = BillingPeriod.objects.create(period=period, status=Status.OPEN)
        PeriodTransition.objects.create(
            period=obj, from_status="", to_status=Status.OPEN, actor=actor.label, user_id=actor.user_id
        )
        audit_record(actor=actor, action="period.open", obj=obj, period=period, after={"status": Status.OPEN})
        return obj


def period_transition(*, period: str, to_status: str, actor: Actor, reason: str = "") -> BillingPeriod:
    """Move a period along the allowed transitions, recording who, when, from, to and why."""
    period_validate(period)
    reason = reason.strip()
    with transaction.atomic():
        obj = BillingPeriod.objects.select_for_update().filter(period=period).first()
        if obj is None:
            raise BillingError(f"period {period} does not exist")
        from_status = obj.status
        if from_status == to_status:
            raise BillingError(f"period {period} is already {to_status}")
        needs_reason = BillingPeriod.TRANSITIONS.get((from_status, to_status))
        if needs_reason is None:
            if from_status == Status.FINALIZED:
                raise BillingError(f"period {period} is finalized; finalized periods are permanent")
            raise BillingError(f"period {period} is {from_status}; it cannot move to {to_status}")
        if needs_reason and not reason:
            raise BillingError(f"reopening period {period} needs a reason")
        if to_status == Status.CLOSED:
            run_close_checks(obj)  # what the apps above billing hold open (disputes), registered by them
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
            actor=actor, action=f"period.{to_status}", obj=obj, period=period,
            before={"status": from_status}, after={"status": to_status, "reason": reason},
        )  # fmt: skip
        return obj


def _check_can_finalize(obj: BillingPeriod) -> None:
    from billing.models import Charge

    flagged = Charge.objects.filter(period=obj, active=True, review_state=Charge.ReviewState.FLAGGED).count()
    if flagged:
        raise BillingError(
            f"period {obj.period} still has {flagged} flagged charges; approve or reject them before finalizing"
        )
    run_checks(obj)  # what the apps above billing need first (statements, journal), registered by them


def period_open(*, period: str, actor: Actor) -> BillingPeriod:
    return period_get_or_open(period=period, actor=actor)


def period_close(*, period: str, actor: Actor, notes: str = "") -> BillingPeriod:
    return period_transition(period=period, to_status=Status.CLOSED, actor=actor, reason=notes)


def period_reopen(*, period: str, actor: Actor, reason: str) -> BillingPeriod:
    return period_transition(period=period, to_status=Status.OPEN, actor=actor, reason=reason)


def period_finalize(*, period: str, actor: Actor, notes: str = "") -> BillingPeriod:
    return period_transition(period=period, to_status=Status.FINALIZED, actor=actor, reason=notes)
