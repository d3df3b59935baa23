"""Putting deliveries back in the outbox by hand: `openchargeback outbox --retry`.

Pending deliveries are sent now, their backoff skipped. Failed ones go back to pending only when
asked for by status, with a fresh count of attempts. A delivery in `sending` may already be in the
recipient's mailbox (a worker died mid-send, or the connection closed before the server's reply),
so it is sent again only with an explicit `force_stuck`, after a person has checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.db import transaction

from billing.services.periods import period_validate
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from statements.models import Delivery

RETRYABLE = {Delivery.Status.PENDING, Delivery.Status.FAILED, Delivery.Status.SENDING}


@dataclass
class RetryResult:
    delivery_ids: list[int]


def deliveries_retry(
    *, actor: Actor, month: str | None = None, status: str = Delivery.Status.PENDING, force_stuck: bool = False
) -> RetryResult:
    """Queue the deliveries in `status` (of `month`, or all) to be sent now; see the module docstring."""
    from statements.tasks import send_delivery

    if status not in RETRYABLE:
        raise BillingError(f"{status} deliveries are not retried; `send --resend` sends statements again")
    if status == Delivery.Status.SENDING and not force_stuck:
        raise BillingError(
            "a delivery in sending may already have reached the recipient; check, then add --force-stuck"
        )
    if month:
        period_validate(month)
    with transaction.atomic():
        rows = Delivery.objects.select_for_update().filter(status=status)
        if month:
            rows = rows.filter(period__period=month)
        picked = list(rows.select_related("period").order_by("pk"))
        for d in picked:
            before = {"status": d.status, "attempts": d.attempts, "last_error": d.last_error}
            again = Delivery.objects.filter(pk=d.pk, status=status)
            if status == Delivery.Status.PENDING:
                again.update(next_attempt_at=None)
            else:
                again.update(status=Delivery.Status.PENDING, attempts=0, next_attempt_at=None, claimed_at=None)
            audit_record(
                actor=actor, action="delivery.retry", obj=d, month=d.period.period, before=before,
                after={"status": Delivery.Status.PENDING, "forced": status == Delivery.Status.SENDING},
            )  # fmt: skip
            transaction.on_commit(partial(send_delivery.delay, d.pk))
    return RetryResult(delivery_ids=[d.pk for d in picked])
