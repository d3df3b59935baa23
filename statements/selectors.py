"""Reads of statements and deliveries for commands, admin and the portal."""

from __future__ import annotations

from typing import Any

from billing.services.periods import period_validate
from statements.models import Delivery, Statement


def statement_rows(
    *, period: str, pi_email: str | None = None, include_superseded: bool = False
) -> list[dict[str, Any]]:
    period_validate(period)
    qs = Statement.objects.filter(period__period=period).select_related("pi", "project")
    if not include_superseded:
        qs = qs.exclude(status=Statement.Status.SUPERSEDED)
    if pi_email:
        qs = qs.filter(pi__email=pi_email.strip().lower())
    return [
        {
            "id": s.pk,
            "number": s.number,
            "version": s.version,
            "status": s.status,
            "pi_email": s.pi.email,
            "project_id": s.project.code if s.project else None,
            "fund_orgs": s.fund_orgs,
            "currency": s.currency,
            "charges": s.charge_count,
            "list_total": s.list_total,
            "discount_total": s.discount_total,
            "amount_due": s.amount_due,
            "pdf_sha256": s.pdf_sha256,
            "pages": s.pdf_pages,
        }  # fmt: skip
        for s in qs.order_by("number", "version")
    ]


def outbox_rows(*, period: str | None = None, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Deliveries, newest first: who, what state, how many attempts, what the server last said."""
    qs = Delivery.objects.select_related("period")
    if period:
        period_validate(period)
        qs = qs.filter(period__period=period)
    if status:
        qs = qs.filter(status=status)
    return [
        {
            "id": d.pk,
            "period": d.period.period,
            "recipient": d.recipient,
            "copies": d.copies,
            "status": d.status,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at,
            "created_at": d.created_at,
            "sent_at": d.sent_at,
        }  # fmt: skip
        for d in qs.order_by("-id")[:limit]
    ]


def outbox_stuck(*, period: str | None = None) -> list[dict[str, Any]]:
    """Deliveries in `sending`: a person checks whether they reached the recipient."""
    return outbox_rows(period=period, status=Delivery.Status.SENDING)
