"""Review decisions on charges: approve, reject. Append-only records and audit rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from billing.models import BillingPeriod, Charge, ReviewDecision
from chargeback.audit import Actor, audit_build
from chargeback.models import AuditEvent
from chargeback.money import ZERO

from .errors import BillingError

State = Charge.ReviewState
# Which review states a decision may start from.
ALLOWED_FROM = {
    ReviewDecision.Decision.APPROVE: {State.FLAGGED, State.REJECTED},
    ReviewDecision.Decision.REJECT: {State.FLAGGED, State.APPROVED, State.OK},
}
TARGET = {ReviewDecision.Decision.APPROVE: State.APPROVED, ReviewDecision.Decision.REJECT: State.REJECTED}


@dataclass
class ReviewResult:
    decision: str
    charges: int
    cost: Decimal
    skipped: list[int]


def _decide(*, charges: Iterable[Charge], decision: str, actor: Actor, note: str) -> ReviewResult:
    target = TARGET[decision]  # type: ignore[index]
    allowed = ALLOWED_FROM[decision]  # type: ignore[index]
    done, cost, skipped = 0, ZERO, []
    periods_checked: set[int] = set()
    decisions: list[ReviewDecision] = []
    by_state: dict[str, list[int]] = {}
    for charge in charges:
        if charge.period_id not in periods_checked:
            period = charge.period
            _check_open(period)
            periods_checked.add(charge.period_id)
        if not charge.active:
            raise BillingError(f"charge {charge.pk} belongs to a replaced or rolled-back batch")
        if charge.review_state not in allowed:
            skipped.append(charge.pk)
            continue
        by_state.setdefault(charge.review_state, []).append(charge.pk)
        decisions.append(
            ReviewDecision(
                charge=charge, decision=decision, state_before=charge.review_state, state_after=target,
                note=note, actor=actor.label, user_id=actor.user_id,
            )
        )  # fmt: skip
        done += 1
        cost += charge.billed_cost
    ids = [pk for pks in by_state.values() for pk in pks]
    for start in range(0, len(ids), 900):
        Charge.objects.filter(pk__in=ids[start : start + 900]).update(review_state=target)
    ReviewDecision.objects.bulk_create(decisions, batch_size=1000)
    AuditEvent.objects.bulk_create(
        [
            audit_build(
                actor=actor,
                action=f"charge.{decision}",
                obj=d.charge,
                period=d.charge.period.period,
                before={"review_state": d.state_before},
                after={"review_state": target, "note": note},
            )  # fmt: skip
            for d in decisions
        ],
        batch_size=1000,
    )
    return ReviewResult(decision=decision, charges=done, cost=cost, skipped=skipped)


def charges_approve(
    *, ids: list[int] | None = None, period: str | None = None, actor: Actor, note: str = ""
) -> ReviewResult:
    """Approve flagged (or previously rejected) charges by id, or every flagged charge of a period."""
    with transaction.atomic():
        qs = _select(ids=ids, period=period, flagged_only=ids is None)
        return _decide(charges=qs, decision=ReviewDecision.Decision.APPROVE, actor=actor, note=note)


def charges_reject(*, ids: list[int], actor: Actor, note: str = "") -> ReviewResult:
    """Reject charges: they stay stored and visible, but are never billed."""
    with transaction.atomic():
        qs = _select(ids=ids, period=None, flagged_only=False)
        return _decide(charges=qs, decision=ReviewDecision.Decision.REJECT, actor=actor, note=note)


def _check_open(period: BillingPeriod) -> None:
    if period.status == BillingPeriod.Status.FINALIZED:
        raise BillingError(f"period {period.period} is finalized; its reviews can no longer change")
    if period.status != BillingPeriod.Status.OPEN:
        raise BillingError(f"period {period.period} is {period.status}; reopen it (with a reason) to change reviews")


def _select(*, ids: list[int] | None, period: str | None, flagged_only: bool) -> list[Charge]:
    if not ids and not period:
        raise BillingError("give charge ids or a period")
    qs = Charge.objects.select_for_update().select_related("period")
    if ids:
        charges = list(qs.filter(pk__in=ids).order_by("id"))
        missing = sorted(set(ids) - {c.pk for c in charges})
        if missing:
            raise BillingError(f"no such charge: {', '.join(map(str, missing))}")
        return charges
    period_obj = BillingPeriod.objects.filter(period=period).first()
    if period_obj is None:
        raise BillingError(f"period {period} does not exist")
    _check_open(period_obj)
    qs = qs.filter(period__period=period, active=True)
    if flagged_only:
        qs = qs.filter(review_state=State.FLAGGED)
    return list(qs.order_by("id"))
