"""Flags raised on charges after their import, by a reason billing knows (a PI's dispute).

The apps above billing decide *why* (a dispute on the portal); billing owns the charges, so
they flag and unflag through these services with charge ids and a reason, never by writing
charges themselves. A flagged charge is held out of the statements until a reviewer decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from billing.models import Charge, ReviewDecision
from chargeback.audit import Actor, audit_build
from chargeback.errors import BillingError
from chargeback.models import AuditEvent

from .review import _select

State = Charge.ReviewState
DISPUTED = "disputed"
# Reasons raised after import; the import and rule flags are in billing.ingest.rules.
LATE_REASONS = frozenset({DISPUTED})


@dataclass
class FlagResult:
    charges: int
    newly_flagged: int


def _reasons(charge: Charge, reasons: list[str]) -> str:
    return ("," + ",".join(reasons) + ",") if reasons else ""


def charges_flag(*, ids: list[int], reason: str, actor: Actor, note: str) -> FlagResult:
    """Flag billed (ok or approved) and flagged charges of open periods with `reason`.

    Each charge gets the reason once, a `dispute` review decision carrying `note` (what the PI
    wrote) and an audit event. Rejected charges are not billed and are refused.
    """
    if reason not in LATE_REASONS:
        raise BillingError(f"{reason!r} is not a flag reason that can be raised on a charge")
    note = note.strip()
    if not note:
        raise BillingError("flagging charges needs a note saying why")
    with transaction.atomic():
        charges = _select(ids=ids, month=None, flagged_only=False)
        for charge in charges:
            if not charge.active:
                raise BillingError(f"charge {charge.pk} belongs to a replaced or rolled-back batch")
            if charge.review_state == State.REJECTED:
                raise BillingError(f"charge {charge.pk} was rejected; it is not billed")
        newly = 0
        decisions, events = [], []
        for charge in charges:
            before = charge.review_state
            reasons = charge.flag_reason_list
            if reason not in reasons:
                reasons.append(reason)
            charge.flag_reasons = _reasons(charge, reasons)
            charge.review_state = State.FLAGGED
            newly += before != State.FLAGGED
            decisions.append(
                ReviewDecision(
                    charge=charge, decision=ReviewDecision.Decision.DISPUTE, state_before=before,
                    state_after=State.FLAGGED, note=note, actor=actor.label, user_id=actor.user_id,
                )
            )  # fmt: skip
            events.append(
                audit_build(
                    actor=actor, action="charge.flag", obj=charge, month=charge.period.period,
                    before={"review_state": before}, after={"review_state": State.FLAGGED, "reason": reason},
                )
            )  # fmt: skip
        Charge.objects.bulk_update(charges, ["flag_reasons", "review_state"], batch_size=500)
        ReviewDecision.objects.bulk_create(decisions, batch_size=1000)
        AuditEvent.objects.bulk_create(events, batch_size=1000)
    return FlagResult(charges=len(charges), newly_flagged=newly)


def charges_unflag(*, ids: list[int], reason: str, actor: Actor) -> int:
    """Take `reason` off the charges; a flagged charge left without reasons is billed again (ok).
    Approved and rejected charges keep their decision. Returns how many charges changed."""
    if reason not in LATE_REASONS:
        raise BillingError(f"{reason!r} is not a flag reason that can be taken off a charge")
    with transaction.atomic():
        charges = [c for c in _select(ids=ids, month=None, flagged_only=False) if reason in c.flag_reason_list]
        events = []
        for charge in charges:
            before = charge.review_state
            reasons = [r for r in charge.flag_reason_list if r != reason]
            charge.flag_reasons = _reasons(charge, reasons)
            if before == State.FLAGGED and not reasons:
                charge.review_state = State.OK
            events.append(
                audit_build(
                    actor=actor, action="charge.unflag", obj=charge, month=charge.period.period,
                    before={"review_state": before, "reason": reason}, after={"review_state": charge.review_state},
                )
            )  # fmt: skip
        Charge.objects.bulk_update(charges, ["flag_reasons", "review_state"], batch_size=500)
        AuditEvent.objects.bulk_create(events, batch_size=1000)
    return len(charges)
