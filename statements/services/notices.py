"""The notice outbox: dispute resolutions, the reviewers' dispute digest and budget alerts.

Like the statement outbox (`delivery.py`): a `Notice` row is written in the same transaction as
the decision to tell someone, keyed so the same decision never writes two rows (the unique `key`);
its task is queued after commit; a worker claims it with a conditional update (pending → sending)
so a repeated task or a sweep never sends twice. A temporary SMTP failure puts it back to pending
for the sweeper; a permanent one, or a lost connection after the message was handed over, ends as
failed with the reason, for a person to look at.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from chargeback.mail import refusal
from chargeback.models import Organization
from statements.models import Notice

MAX_ATTEMPTS = 5


def notice_queue(*, key: str, kind: str, recipient: str, template: str, context: dict[str, Any]) -> Notice | None:
    """Write the notice `key` unless it exists; returns the new row, or None when it was already decided."""
    from statements.tasks import send_notice

    org = Organization.current()
    context = {"org": org, "portal_url": settings.OPENCHARGEBACK_PUBLIC_URL, **context}
    text = render_to_string(template, context)
    subject, _, body = text.partition("\n")
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                key=key,
                kind=kind,
                recipient=recipient,
                subject=" ".join(subject.split())[:300],
                body=body.strip() + "\n",
            )
    except IntegrityError:
        return None
    transaction.on_commit(partial(send_notice.delay, notice.pk))
    return notice


def notice_send(*, notice_id: int) -> str:
    """Send one notice if this call can claim it: sent, retry, failed or skipped."""
    claimed = Notice.objects.filter(pk=notice_id, status=Notice.Status.PENDING).update(
        status=Notice.Status.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"
    notice = Notice.objects.get(pk=notice_id)
    org = Organization.current()
    message = EmailMessage(
        subject=notice.subject, body=notice.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[notice.recipient],
        reply_to=[org.contact_email] if org.contact_email else None,
        headers={"X-OpenChargeback-Notice": str(notice.pk)},
    )  # fmt: skip
    try:
        message.send()
    except OSError as exc:
        why = refusal(exc)
        if why.kind == "temporary" and notice.attempts < MAX_ATTEMPTS:
            Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
                status=Notice.Status.PENDING, last_error=why.text
            )
            return "retry"
        Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
            status=Notice.Status.FAILED, last_error=why.text
        )
        return "failed"
    Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
        status=Notice.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return "sent"


def notices_due() -> list[int]:
    """Pending notices whose task may have been lost, or which wait for another attempt."""
    stale = timezone.now() - timedelta(seconds=settings.OPENCHARGEBACK_OUTBOX_STALE_SECONDS)
    return list(
        Notice.objects.filter(status=Notice.Status.PENDING, created_at__lte=stale).values_list("pk", flat=True)[:1000]
    )
