"""Celery tasks: ids in, a service call, nothing else. All are safe to run twice."""

from __future__ import annotations

import logging

from django.conf import settings

from chargeback.audit import Actor
from chargeback.celery import app
from statements.selectors import statements_unrendered
from statements.services.delivery import deliveries_due, delivery_send
from statements.services.fund_notices import notices_send
from statements.services.notices import notice_send, notices_due
from statements.services.render import statement_render

log = logging.getLogger("openchargeback.statements")


@app.task(acks_late=True)
def render_statement(statement_id: int) -> bool:
    rendered = statement_render(statement_id=statement_id)
    log.info("statement %s", "rendered" if rendered else "already rendered", extra={"statement_id": statement_id})
    return rendered


@app.task(acks_late=True)
def send_delivery(delivery_id: int) -> str:
    outcome = delivery_send(delivery_id=delivery_id)
    level = logging.INFO if outcome.status in ("sent", "skipped") else logging.WARNING
    log.log(level, "delivery %s %s", outcome.status, outcome.error, extra={"delivery_id": delivery_id})
    if outcome.retry_in is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        send_delivery.apply_async((delivery_id,), countdown=outcome.retry_in)
    return outcome.status


@app.task
def sweep_outbox() -> int:
    """Re-queue pending deliveries the broker lost or whose backoff has passed (beat, every minute)."""
    due = deliveries_due()
    for pk in due:
        send_delivery.delay(pk)
    return len(due)


@app.task
def sweep_statements() -> int:
    """Re-queue statement PDFs still not rendered long after generation (beat, every five minutes)."""
    due = statements_unrendered()
    for pk in due:
        render_statement.delay(pk)
    return len(due)


@app.task
def send_fund_notices() -> int:
    """The award expiry notices due today (beat, daily); each fund, threshold and PI once."""
    report = notices_send(actor=Actor.system("beat"))
    return report.sent


@app.task(acks_late=True)
def send_notice(notice_id: int) -> str:
    outcome = notice_send(notice_id=notice_id)
    log.info("notice %s", outcome, extra={"notice_id": notice_id})
    return outcome


@app.task
def sweep_notices() -> int:
    """Re-queue pending notices the broker lost or a temporary SMTP failure put back (beat, every minute)."""
    due = notices_due()
    for pk in due:
        send_notice.delay(pk)
    return len(due)


@app.task
def dispute_digest() -> int:
    """Each reviewer's daily email while disputes are open (beat, every morning)."""
    from statements.services.disputes import dispute_digest_queue

    return len(dispute_digest_queue())


@app.task
def budget_alerts() -> int:
    """Budgets evaluated and alert digests queued (beat, every morning: alerts held back by yesterday's digest)."""
    from chargeback.audit import Actor
    from statements.services.alerts import alerts_run

    return len(alerts_run(actor=Actor.system("alerts")).notices)
