"""Reads of statements and deliveries for commands, admin and the portal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, CharField, Count, DateTimeField, Q, QuerySet, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import BillingPeriod, Charge, Source
from billing.selectors import Basis
from billing.selectors import billed_charges as billing_billed_charges
from billing.selectors.readiness import Problem
from billing.services.periods import period_validate
from chargeback.errors import BillingError
from chargeback.money import CENT
from statements.models import Delivery, Dispute, Statement, StatementLine, StatementLineShare

Kind = StatementLine.Kind


def statement_rows(
    *, month: str, pi_email: str | None = None, include_superseded: bool = False
) -> list[dict[str, Any]]:
    period_validate(month)
    qs = Statement.objects.filter(period__period=month).select_related("pi", "project")
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
            "list_total": cents(s.list_total),
            "discount_total": cents(s.discount_total),
            "amount_due": cents(s.amount_due),
            "pdf_sha256": s.pdf_sha256,
            "pages": s.pdf_pages,
        }  # fmt: skip
        for s in qs.order_by("number", "version")
    ]


def billed_charges(period: BillingPeriod, *, basis: Basis | None = None) -> QuerySet[Charge]:
    """What statements bill: billing's one definition of *billed* (`billing.selectors.figures`)."""
    return billing_billed_charges(period=period, basis=basis)


def corrected_month() -> Case:
    """The month a FOCUS correction corrects (the start of its charge period), None for other charges."""
    return Case(
        When(
            charge_class__iexact="correction",
            then=TruncMonth("charge_period_start", tzinfo=UTC, output_field=DateTimeField()),
        ),
        default=Value(None, output_field=DateTimeField()),
        output_field=DateTimeField(),
    )


def month_text(value: Any) -> str:
    """`corrected_month`'s value as YYYY-MM ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m}"
    return str(value)[:7]


def statements_total(period: BillingPeriod, currency: str) -> tuple[Decimal, int] | None:
    """Σ amount due and the number of a month's current statements in a currency; None before any."""
    current = Statement.objects.filter(period=period, currency=currency).exclude(status=Statement.Status.SUPERSEDED)
    amounts = list(current.values_list("amount_due", flat=True))
    if not amounts:
        return None
    return sum(amounts, Decimal(0)), len(amounts)


def cents(amount: Decimal) -> Decimal:
    """A statement amount (whole cents by construction) with the same text on SQLite and PostgreSQL."""
    return amount.quantize(CENT)


def statement_detail(*, number: str, version: int | None = None) -> dict[str, Any]:
    """A statement with its frozen lines: the current version of `number`, or the `version` asked for."""
    number = number.strip()
    versions = Statement.objects.filter(number=number).select_related("pi", "project", "period")
    if version is not None:
        st = versions.filter(version=version).first()
    else:
        st = versions.exclude(status=Statement.Status.SUPERSEDED).first() or versions.order_by("-version").first()
    if st is None:
        what = f"statement {number}" + (f" version {version}" if version is not None else "")
        raise BillingError(f"no {what}; see 'openchargeback statements list -p YYYY-MM'")
    return {
        "number": st.number,
        "version": st.version,
        "status": st.status,
        "period": st.period.period,
        "pi_email": st.pi.email,
        "project_id": st.project.code if st.project else None,
        "fund_orgs": st.fund_orgs,
        "currency": st.currency,
        "charges": st.charge_count,
        "list_total": cents(st.list_total),
        "discount_total": cents(st.discount_total),
        "amount_due": cents(st.amount_due),
        "pdf_sha256": st.pdf_sha256,
        "lines": [
            {
                "kind": ln.kind,
                "source": ln.source,
                "service": ln.service_name,
                "fund_org": ln.fund_org,
                "charges": ln.charge_count,
                "list": cents(ln.list_amount),
                "discount": cents(ln.list_amount - ln.amount),
                "amount": cents(ln.amount),
                "amortized": ln.amortized,
                "corrects": ln.corrects,
            }
            for ln in st.lines.order_by("position")
        ],
    }


def source_display_names(names: set[str]) -> dict[str, str]:
    """Each source name as people read it: its display name, or the name itself without one."""
    shown = dict(Source.objects.filter(name__in=names).exclude(display_name="").values_list("name", "display_name"))
    return {name: shown.get(name, name) for name in names}


def line_kind() -> Case:
    """FOCUS charge category/class as a statement line kind; negative amounts are credits."""
    return Case(
        When(charge_class__iexact="correction", then=Value(Kind.CORRECTION)),
        When(charge_category__iexact="credit", then=Value(Kind.CREDIT)),
        When(billed_cost__lt=0, then=Value(Kind.CREDIT)),
        When(charge_category__iexact="adjustment", then=Value(Kind.ADJUSTMENT)),
        When(charge_category__iexact="tax", then=Value(Kind.TAX)),
        When(charge_category__iexact="purchase", then=Value(Kind.PURCHASE)),
        default=Value(Kind.USAGE),
        output_field=CharField(),
    )


def statement_charges(st: Statement, *, basis: Basis | None = None) -> QuerySet[Charge]:
    """The charges a statement bills (its period's billed charges of its PI and project)."""
    qs = billed_charges(st.period, basis=basis).filter(pi_id=st.pi_id)
    return qs.filter(project_id=st.project_id) if st.project_id else qs.filter(project__isnull=True)


def statements_unrendered() -> list[int]:
    """Draft statements older than the outbox's stale age: their render task was probably lost."""
    stale = timezone.now() - timedelta(seconds=settings.OPENCHARGEBACK_OUTBOX_STALE_SECONDS)
    return list(
        Statement.objects.filter(status=Statement.Status.DRAFT, created_at__lte=stale).values_list("pk", flat=True)[
            :1000
        ]
    )


def generation_progress(*, month: str) -> dict[str, int]:
    """How far the PDFs of a period's current statements are (drafts are still rendering)."""
    counts = (
        Statement.objects.filter(period__period=month)
        .exclude(status=Statement.Status.SUPERSEDED)
        .aggregate(total=Count("id"), pending=Count("id", filter=Q(status=Statement.Status.DRAFT)))
    )
    return {"total": counts["total"], "pending": counts["pending"], "done": counts["total"] - counts["pending"]}


def outbox_rows(*, month: str | None = None, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Deliveries, newest first: who, what state, how many attempts, what the server last said."""
    qs = Delivery.objects.select_related("period")
    if month:
        period_validate(month)
        qs = qs.filter(period__period=month)
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


def outbox_stuck(*, month: str | None = None) -> list[dict[str, Any]]:
    """Deliveries in `sending`: a person checks whether they reached the recipient."""
    return outbox_rows(month=month, status=Delivery.Status.SENDING)


def open_dispute_problems(period: BillingPeriod) -> list[Problem]:
    """A readiness blocker (registered in `StatementsConfig.ready`): an open dispute holds its month open."""
    disputes = list(
        Dispute.objects.filter(period=period, status=Dispute.Status.OPEN).order_by("pk").values_list("pk", flat=True)
    )
    if not disputes:
        return []
    n = len(disputes)
    numbers = ", ".join(f"#{pk}" for pk in disputes[:10])
    return [
        Problem(
            "open_dispute",
            f"period {period.period} has {n} open dispute{'s' if n > 1 else ''} ({numbers}): resolve "
            "them in the admin (Statements › Disputes)",
            n,
        )
    ]


def statement_counts(*, period: BillingPeriod) -> dict[str, int]:
    """A period's statements per status (superseded versions included), every status present."""
    counts = dict.fromkeys(Statement.Status.values, 0)
    for status, n in Statement.objects.filter(period=period).order_by().values_list("status").annotate(n=Count("id")):
        counts[status] = n
    return counts


def statement_fund_amounts(st: Statement) -> list[tuple[str, Decimal]]:
    """What each fund pays of a statement, in cents: a split line's stored shares (allocated by
    largest remainder when it was generated), any other line's amount on its own fund/org. They add
    up exactly to the amount due, as the journal's debits do."""
    totals: dict[str, Decimal] = {}
    split_lines: set[int] = set()
    for line_id, fund_org, amount in StatementLineShare.objects.filter(line__statement=st).values_list(
        "line_id", "fund_org", "amount"
    ):
        split_lines.add(line_id)
        totals[fund_org] = totals.get(fund_org, Decimal(0)) + amount
    for pk, fund_org, amount in st.lines.values_list("pk", "fund_org", "amount"):
        if pk not in split_lines:
            totals[fund_org] = totals.get(fund_org, Decimal(0)) + amount
    return sorted((fund, cents(amount)) for fund, amount in totals.items())
