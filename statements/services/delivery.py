"""The statement outbox: queue one email per PI per period, send each exactly once.

A `Delivery` row is written in the same transaction as the decision to send and its task is
queued after commit. A worker claims the row with a conditional update (pending → sending); a
second worker, a redelivered task or a sweeper re-queue finds nothing to claim. SMTP 4xx replies
and connection failures go back to pending with a backoff; 5xx replies end as failed with the
server's reason. A row left in `sending` (a worker died mid-send, or the connection was lost after
the whole message was written and before the server's reply) is shown to a person, never retried
blindly: the email may have gone out. Each delivery keeps one Message-ID across its attempts.

Embedded mode (no broker, tasks run in-process) has no beat to sweep the outbox, so queuing a
period's emails there also sends its pending ones that are due: an interrupted send finishes on the
next `send` or `generate --send`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import PI, BillingPeriod
from billing.selectors.readiness import readiness_require
from chargeback.audit import Actor, audit_record
from chargeback.errors import BillingError
from chargeback.mail import refusal
from chargeback.models import Organization
from chargeback.money import ZERO
from statements.models import Delivery, PortalDelegate, Statement

MAX_ATTEMPTS = 5
UNSENT = (Statement.Status.DRAFT, Statement.Status.FINAL)


@dataclass
class QueueResult:
    queued: int
    skipped: int
    delivery_ids: list[int]
    resumed_ids: list[int] = field(default_factory=list)  # embedded mode: pending ones sent again


def deliveries_queue(*, month: str, actor: Actor, pi_email: str | None = None, resend: bool = False) -> QueueResult:
    """Write one pending delivery per PI with unsent statements (all current ones with `resend`)."""
    from statements.tasks import send_delivery

    with transaction.atomic():
        obj = BillingPeriod.of(month, for_update=True)
        if obj.status == BillingPeriod.Status.OPEN:
            raise BillingError(f"period {month} is open; statements are sent once it is closed")
        readiness_require(obj, step="have its statements sent")
        current = Statement.objects.filter(period=obj).exclude(status=Statement.Status.SUPERSEDED)
        if pi_email:
            pi = PI.objects.filter(email=pi_email.strip().lower()).first()
            if pi is None:
                raise BillingError(f"no PI with email {pi_email!r}")
            current = current.filter(pi=pi)
        by_pi: dict[int, list[Statement]] = {}
        for st in current.select_related("pi").order_by("pi_id", "number"):
            by_pi.setdefault(st.pi_id, []).append(st)
        if not by_pi:
            raise BillingError(
                f"period {month} has no statements{' for ' + pi_email if pi_email else ''}; generate first"
            )
        in_flight = set(
            Delivery.objects.filter(
                period=obj, status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
            ).values_list("pi_id", flat=True)
        )
        resumed = _embedded_due(obj, pi_ids=set(by_pi)) if settings.CELERY_TASK_ALWAYS_EAGER else []
        created: list[Delivery] = []
        skipped = 0
        for pi_id, statements in by_pi.items():
            if not resend and (pi_id in in_flight or not any(s.status in UNSENT for s in statements)):
                skipped += 1
                continue
            pi = statements[0].pi
            previous = Delivery.objects.filter(period=obj, pi_id=pi_id).order_by("-id").first()
            d = Delivery.objects.create(
                period=obj, pi=pi, recipient=pi.email, copies=_copies(pi, statements), status=Delivery.Status.PENDING,
                resend_of=previous if resend else None, actor=actor.label, user_id=actor.user_id,
                amount_due=sum((s.amount_due for s in statements), ZERO), currency=statements[0].currency,
            )  # fmt: skip
            d.statements.set(statements)
            audit_record(
                actor=actor, action="delivery.resend" if resend else "delivery.queue", obj=d, month=month,
                after={"recipient": d.recipient, "copies": d.copies, "statements": [s.number for s in statements]},
            )  # fmt: skip
            created.append(d)
        for pk in [*resumed, *(d.pk for d in created)]:
            transaction.on_commit(partial(send_delivery.delay, pk))
    return QueueResult(queued=len(created), skipped=skipped, delivery_ids=[d.pk for d in created], resumed_ids=resumed)


def _copies(pi: PI, statements: list[Statement]) -> list[str]:
    """Delegates who asked for the statement email and may see every statement in it."""
    projects = {s.project_id for s in statements}
    delegates = PortalDelegate.objects.filter(pi=pi, email_statements=True).prefetch_related("projects")
    return [
        d.email for d in delegates.order_by("email") if d.all_projects or projects <= {p.pk for p in d.projects.all()}
    ]


def _embedded_due(period: BillingPeriod, *, pi_ids: set[int]) -> list[int]:
    """Pending deliveries of these PIs that are due: with no broker and no beat, nobody else sends them."""
    now = timezone.now()
    return list(
        Delivery.objects.filter(period=period, pi_id__in=pi_ids, status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def delivery_resend(*, delivery_id: int, actor: Actor) -> QueueResult:
    d = Delivery.objects.select_related("period", "pi").get(pk=delivery_id)
    return deliveries_queue(month=d.period.period, actor=actor, pi_email=d.pi.email, resend=True)


@dataclass
class SendOutcome:
    status: str  # sent, retry, failed, unknown (left in sending for a person), skipped
    retry_in: int | None = None
    error: str = ""


class _Vars(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, values: dict[str, Any]) -> str:
    """An admin-edited template; unknown {names} stay as written instead of failing a send."""
    try:
        return string.Formatter().vformat(template, (), _Vars(values))
    except (ValueError, IndexError):
        return template


def delivery_message(d: Delivery) -> EmailMultiAlternatives:
    org = Organization.current()
    statements = list(d.statements.select_related("project", "pi").order_by("number"))
    total = sum((s.amount_due for s in statements), ZERO)
    currency = statements[0].currency if statements else ""
    values = {
        "organization": org.name, "period": d.period.period, "pi_name": d.pi.name or d.pi.email,
        "pi_email": d.pi.email, "amount_due": f"{currency} {total:,.2f}".strip(),
        "projects": ", ".join(s.project.code if s.project else "(no project)" for s in statements),
    }  # fmt: skip
    template = org.statement_email_subject or Organization._meta.get_field("statement_email_subject").default
    subject = " ".join(_fill(template, values).split())[:300]
    context = {
        "org": org, "delivery": d, "statements": statements, "total": total, "currency": currency,
        "intro": _fill(org.statement_email_intro, values), "period": d.period.period, "pi": d.pi,
        "portal_url": settings.OPENCHARGEBACK_PUBLIC_URL,
    }  # fmt: skip
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("statements/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[d.recipient],
        cc=d.copies,
        reply_to=[org.contact_email] if org.contact_email else None,
        headers={"X-OpenChargeback-Delivery": str(d.pk), "Message-ID": delivery_message_id(d)},
    )
    message.attach_alternative(render_to_string("statements/email.html", context), "text/html")
    for st in statements:
        with st.pdf.open("rb") as fh:
            message.attach(f"statement-{st.number}-v{st.version}.pdf", fh.read(), "application/pdf")
    return message


def delivery_message_id(d: Delivery) -> str:
    """The same for every attempt of a delivery, so a copy the server already had is recognisable."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(" >") or "localhost"
    return f"<openchargeback.delivery.{d.pk}.{d.created_at:%Y%m%d%H%M%S}@{domain}>"


def delivery_send(*, delivery_id: int) -> SendOutcome:
    """Send one delivery if this call can claim it; see the module docstring for the rules."""
    from statements.services.render import statement_render

    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=Delivery.Status.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    )
    if not claimed:
        return SendOutcome("skipped")
    d = Delivery.objects.select_related("period", "pi").get(pk=delivery_id)
    try:
        for st in d.statements.filter(status=Statement.Status.DRAFT):
            statement_render(statement_id=st.pk)
        missing = d.statements.filter(Q(status=Statement.Status.DRAFT) | Q(pdf=""))
        if missing.exists():
            return _retry(d, "statement PDFs are not rendered yet")
        if d.statements.filter(status=Statement.Status.SUPERSEDED).exists():
            return _fail(d, "a statement was regenerated after this email was queued; send the new version")
        message = delivery_message(d)
        message.send()
    except OSError as exc:  # smtplib's errors, refused connections, TLS failures
        why = refusal(exc)
        if why.kind == "unknown":
            return _hold(d, why.text)
        return _retry(d, why.text) if why.kind == "temporary" else _fail(d, why.text)
    with transaction.atomic():
        Delivery.objects.filter(pk=d.pk, status=Delivery.Status.SENDING).update(
            status=Delivery.Status.SENT, sent_at=timezone.now(), last_error="", subject=message.subject
        )
        Statement.objects.filter(pk__in=d.statements.values("pk"), status=Statement.Status.FINAL).update(
            status=Statement.Status.SENT, sent_at=timezone.now()
        )
        audit_record(
            actor=Actor.system("outbox"), action="delivery.sent", obj=d, month=d.period.period,
            after={"recipient": d.recipient, "attempts": d.attempts},
        )  # fmt: skip
    return SendOutcome("sent")


def _retry(d: Delivery, reason: str) -> SendOutcome:
    attempts = Delivery.objects.values_list("attempts", flat=True).get(pk=d.pk)
    if attempts >= MAX_ATTEMPTS:
        return _fail(d, f"{reason} (gave up after {attempts} attempts)")
    backoff = settings.OPENCHARGEBACK_OUTBOX_BACKOFF_SECONDS
    wait = backoff[min(attempts - 1, len(backoff) - 1)]
    Delivery.objects.filter(pk=d.pk, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.PENDING, last_error=reason, next_attempt_at=timezone.now() + timedelta(seconds=wait)
    )
    return SendOutcome("retry", retry_in=wait, error=reason)


def _fail(d: Delivery, reason: str) -> SendOutcome:
    Delivery.objects.filter(pk=d.pk, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.FAILED, last_error=reason
    )
    audit_record(
        actor=Actor.system("outbox"), action="delivery.failed", obj=d, month=d.period.period,
        after={"recipient": d.recipient, "error": reason},
    )  # fmt: skip
    return SendOutcome("failed", error=reason)


def _hold(d: Delivery, reason: str) -> SendOutcome:
    """Outcome unknown: stay in `sending` for a person to check, never retried by a sweep."""
    reason = f"{reason}; check with the recipient before sending it again (outbox --retry --force-stuck)"
    Delivery.objects.filter(pk=d.pk, status=Delivery.Status.SENDING).update(last_error=reason)
    audit_record(
        actor=Actor.system("outbox"), action="delivery.unknown", obj=d, month=d.period.period,
        after={"recipient": d.recipient, "error": reason},
    )  # fmt: skip
    return SendOutcome("unknown", error=reason)


def deliveries_due() -> list[int]:
    """Pending deliveries whose task may have been lost or whose backoff has passed."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.OPENCHARGEBACK_OUTBOX_STALE_SECONDS)
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True, created_at__lte=stale) | Q(next_attempt_at__lte=now))
        .values_list("pk", flat=True)[:1000]
    )


def outbox_summary(*, month: str | None = None) -> dict[str, Any]:
    qs = Delivery.objects.all()
    if month:
        qs = qs.filter(period__period=month)
    counts = dict.fromkeys(Delivery.Status.values, 0)
    for status in qs.values_list("status", flat=True):
        counts[status] += 1
    return counts
