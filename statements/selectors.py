"""Reads of statements and deliveries for commands, admin and the portal."""

from __future__ import annotations

from typing import Any

from billing.services.periods import period_validate
from statements.models import Statement


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
