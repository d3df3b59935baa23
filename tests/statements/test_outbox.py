"""Embedded mode (no broker, no beat): an interrupted send finishes on the next run, and
`openchargeback outbox` lists the emails and sends them again when asked."""

from __future__ import annotations

import smtplib
from unittest import mock

import pytest
from django.core import mail

from chargeback.models import AuditEvent
from statements.models import Delivery

from .conftest import ALICE, BOB

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def interrupted(run, closed_period):
    """`generate --send` died after writing the deliveries and before sending any of them."""
    with mock.patch("statements.tasks.send_delivery.delay"):
        assert run("generate", "-p", closed_period, "--send").code == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"} and not mail.outbox
    return closed_period


def test_send_finishes_an_interrupted_generate_send_exactly_once_per_pi(run, interrupted):
    result = run("send", "-p", interrupted)
    assert result.code == 0
    assert "Queued 0 emails" in result.out and "Sent again: 2 pending emails of an earlier run." in result.out
    assert sorted(m.to[0] for m in mail.outbox) == [ALICE, BOB]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"} and Delivery.objects.count() == 2
    assert run("send", "-p", interrupted).code == 0 and run("generate", "-p", interrupted, "--send").code == 0
    assert len(mail.outbox) == 2


def test_generate_send_also_finishes_what_an_earlier_run_left_pending(run, interrupted):
    report = run("generate", "-p", interrupted, "--send", "--format", "json").json()
    assert report["deliveries_queued"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == [ALICE, BOB]


def test_an_email_stuck_in_sending_is_shown_never_sent_again_by_send(run, interrupted):
    Delivery.objects.filter(pi__email=BOB).update(status="sending", attempts=1)
    result = run("send", "-p", interrupted)
    assert [m.to[0] for m in mail.outbox] == [ALICE]
    assert "Stuck in sending (may have reached the recipient; not sent again): bob@example.edu" in result.out
    listing = run("outbox", "--status", "sending", "--format", "json").json()
    assert [(d["recipient"], d["status"]) for d in listing["deliveries"]] == [(BOB, "sending")]
    refused = run("outbox", "--retry", "--status", "sending")
    assert refused.code == 1 and "may already have reached the recipient" in refused.err
    assert run("outbox", "--retry", "--status", "sending", "--force-stuck").code == 0
    assert sorted(m.to[0] for m in mail.outbox) == [ALICE, BOB]
    assert AuditEvent.objects.filter(action="delivery.retry").count() == 1


def test_outbox_lists_recipient_status_attempts_and_the_last_error(run, interrupted):
    refusal = smtplib.SMTPResponseException(550, b"5.1.1 no such user")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refusal):
        run("send", "-p", interrupted)
    text = run("outbox", "-p", interrupted).out
    assert text.count("failed   1 attempts") == 2 and "SMTP 550: 5.1.1 no such user" in text
    rows = run("outbox", "-p", interrupted, "--format", "json").json()["deliveries"]
    assert {(r["recipient"], r["status"], r["attempts"], r["last_error"]) for r in rows} == {
        (ALICE, "failed", 1, "SMTP 550: 5.1.1 no such user"), (BOB, "failed", 1, "SMTP 550: 5.1.1 no such user"),
    }  # fmt: skip


def test_outbox_retry_sends_failed_ones_only_when_asked_by_status(run, interrupted):
    refusal = smtplib.SMTPResponseException(550, b"5.7.1 relay denied")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refusal):
        run("send", "-p", interrupted)
    assert run("outbox", "--retry").code == 0 and not mail.outbox  # pending only: there are none
    result = run("outbox", "--retry", "--status", "failed", "-p", interrupted)
    assert result.code == 0 and "Retried 2 deliveries" in result.out
    assert sorted(m.to[0] for m in mail.outbox) == [ALICE, BOB]
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_outbox_retry_sends_a_pending_email_now_instead_of_after_its_backoff(run, interrupted):
    refusal = smtplib.SMTPResponseException(451, b"4.3.0 try later")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refusal):
        run("send", "-p", interrupted, "--pi", ALICE)
    assert run("send", "-p", interrupted, "--pi", ALICE).code == 0 and not mail.outbox  # backoff: not yet
    assert run("outbox", "--retry", "-p", interrupted).code == 0
    assert sorted(m.to[0] for m in mail.outbox) == [ALICE, BOB]


def test_outbox_refuses_what_it_cannot_do_in_one_line(run, db):
    assert run("outbox", "--retry", "--status", "sent").err.startswith("sent deliveries are not retried")
    assert run("outbox", "-p", "2025-13").code == 1
    assert run("outbox").out.strip() == "No deliveries."
