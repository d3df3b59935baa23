"""The statement email: one per PI per period, every project attached, and never twice."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from chargeback.models import AuditEvent
from statements.models import Delivery, Statement
from statements.services.delivery import delivery_send
from statements.tasks import send_delivery, sweep_outbox
from tests.conftest import minimal_row, tags

from .conftest import ALICE, BOB

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def generated(run, closed_period, focus_files):
    assert run("generate", "-p", closed_period).code == 0
    return closed_period


def test_each_pi_gets_one_email_with_all_their_statements(run, focus_files, seeded):
    rows = [
        minimal_row("10.00", tag_json=tags(ALICE, "genomics", "BIO-1")),
        minimal_row("2.50", tag_json=tags(ALICE, "atlas", "BIO-2")),
        minimal_row("7.00", tag_json=tags(BOB, "climate", "GEO-7")),
    ]
    run("ingest", str(focus_files.write("aws-2025-01.csv", rows)), "-s", "aws", "-p", "2025-01")
    run("periods", "close", "2025-01")
    report = run("generate", "-p", "2025-01", "--send", "--format", "json").json()
    assert report["deliveries_queued"] == 2
    assert sorted(m.to[0] for m in mail.outbox) == [ALICE, BOB]
    alice = next(m for m in mail.outbox if m.to == [ALICE])
    assert [name for name, _data, _type in alice.attachments] == [
        "statement-2025-01-000001-v1.pdf", "statement-2025-01-000002-v1.pdf",
    ]  # fmt: skip
    assert alice.subject == "Research Computing statement for 2025-01: USD 12.50"
    assert "Total due for 2025-01: USD 12.50" in alice.body and "atlas" in alice.body
    html, mimetype = alice.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html" and "genomics" in html and "12.50" in html
    assert set(Statement.objects.values_list("status", flat=True)) == {"sent"}
    assert Delivery.objects.filter(status="sent").count() == 2


def test_a_repeated_or_redelivered_task_never_sends_twice(run, generated):
    result = run("send", "-p", generated, "--pi", ALICE, "--format", "json").json()
    (delivery_id,) = result["delivery_ids"]
    assert len(mail.outbox) == 1
    assert send_delivery.delay(delivery_id).get() == "skipped"  # the broker delivered it again
    assert delivery_send(delivery_id=delivery_id).status == "skipped"
    assert len(mail.outbox) == 1


def test_sending_again_queues_nothing_new_resend_is_explicit(run, generated):
    assert run("send", "-p", generated, "--format", "json").json()["queued"] == 2
    again = run("send", "-p", generated, "--format", "json").json()
    assert (again["queued"], again["skipped"]) == (0, 2)
    assert len(mail.outbox) == 2
    resent = run("send", "-p", generated, "--pi", BOB, "--resend", "--format", "json").json()
    assert resent["queued"] == 1 and len(mail.outbox) == 3
    latest = Delivery.objects.filter(pi__email=BOB).order_by("-id").first()
    assert latest.resend_of is not None and latest.status == "sent"
    assert AuditEvent.objects.filter(action="delivery.resend").count() == 1


def test_a_temporary_smtp_failure_is_retried_with_backoff_then_sent_once(run, generated):
    refusal = smtplib.SMTPResponseException(451, b"4.3.0 mailbox busy, try later")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refusal):
        run("send", "-p", generated, "--pi", ALICE)
    d = Delivery.objects.get()
    assert d.status == "pending" and d.attempts == 1 and "451" in d.last_error
    assert d.next_attempt_at is not None and d.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert sweep_outbox() == 0  # not due yet
    Delivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert sweep_outbox() == 1
    d.refresh_from_db()
    assert d.status == "sent" and d.attempts == 2 and len(mail.outbox) == 1


def test_a_permanent_smtp_failure_ends_as_failed_with_the_reason(run, generated):
    refusal = smtplib.SMTPResponseException(550, b"5.1.1 no such user")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refusal):
        run("send", "-p", generated, "--pi", BOB)
    d = Delivery.objects.get()
    assert d.status == "failed" and "SMTP 550" in d.last_error and "no such user" in d.last_error
    assert sweep_outbox() == 0 and not mail.outbox
    assert Statement.objects.get(pi__email=BOB).status == "final"  # still unsent
    assert run("send", "-p", generated, "--pi", BOB, "--format", "json").json()["queued"] == 1
    assert len(mail.outbox) == 1


def test_connection_failures_give_up_after_the_last_attempt(run, generated):
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=ConnectionRefusedError("refused")):
        run("send", "-p", generated, "--pi", BOB)
        for _ in range(4):
            Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
            sweep_outbox()
    d = Delivery.objects.get()
    assert d.status == "failed" and d.attempts == 5 and "gave up after 5 attempts" in d.last_error


def test_a_delivery_stuck_in_sending_is_left_for_a_person(run, generated):
    with mock.patch("statements.tasks.send_delivery.delay"):
        run("send", "-p", generated, "--pi", BOB)
    Delivery.objects.update(status="sending", created_at=timezone.now() - timedelta(hours=1))
    assert sweep_outbox() == 0 and not mail.outbox


def test_a_lost_task_is_requeued_by_the_sweeper(run, generated, settings):
    with mock.patch("statements.tasks.send_delivery.delay"):  # the broker lost it
        run("send", "-p", generated, "--pi", BOB)
    assert not mail.outbox
    assert sweep_outbox() == 0  # younger than the stale age
    Delivery.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.OPENCHARGEBACK_OUTBOX_STALE_SECONDS + 1)
    )
    assert sweep_outbox() == 1 and len(mail.outbox) == 1


def test_sending_needs_a_closed_period_with_statements(run, focus_files, seeded):
    run("ingest", str(focus_files.write("aws-2025-01.csv", [minimal_row("1")])), "-s", "aws", "-p", "2025-01")
    refused = run("send", "-p", "2025-01")
    assert refused.code == 1 and "is open" in refused.err
    run("periods", "close", "2025-01")
    refused = run("send", "-p", "2025-01")
    assert refused.code == 1 and "has no statements" in refused.err


def test_a_statement_regenerated_after_queueing_is_not_sent_stale(run, generated):
    from .conftest import approve_refund_and_close

    with mock.patch("statements.tasks.send_delivery.delay"):
        run("send", "-p", generated, "--pi", BOB)
    approve_refund_and_close(run)
    run("generate", "-p", generated)
    d = Delivery.objects.get()
    assert delivery_send(delivery_id=d.pk).status == "failed"
    d.refresh_from_db()
    assert "regenerated" in d.last_error and not mail.outbox
