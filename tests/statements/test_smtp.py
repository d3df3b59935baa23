"""Statement email through a real SMTP server (aiosmtpd in this process), Celery in eager mode.

The product is configured the way a site configures it: Django's settings that EMAIL_HOST,
EMAIL_PORT, EMAIL_USE_TLS and EMAIL_SSL_CAFILE produce (the SMTP backend), backoff shortened to one
second. tests/statements/test_smtp_worker.py runs the same server behind a real worker over Redis.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.urls import reverse

from billing.models import Project
from chargeback.models import Organization
from statements.models import Delivery, PortalDelegate, Statement
from statements.tasks import sweep_outbox
from tests.conftest import minimal_row, tags
from tests.smtp import ACCEPT_THEN_DROP, DROP_AT_DATA, Server, smtp_server

from .conftest import ALICE, BOB

pytestmark = pytest.mark.django_db(transaction=True)

LAB_MANAGER = "lab.manager@example.edu"
GRANTS_OFFICE = "grants@example.edu"
READER = "reader@example.edu"
CONTACT = "rc-billing@example.edu"


def configure(settings: Any, server: Server, *, host: str | None = None, tls: bool = False, cafile: str = "") -> None:
    settings.EMAIL_BACKEND = "chargeback.mail.SMTPBackend"  # what settings.py picks once EMAIL_HOST is set
    settings.EMAIL_HOST = host or server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = tls
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_SSL_CAFILE = cafile
    settings.EMAIL_TIMEOUT = 10
    settings.OPENCHARGEBACK_OUTBOX_BACKOFF_SECONDS = [1]


@pytest.fixture
def smtp(settings: Any) -> Iterator[Server]:
    with smtp_server() as server:
        configure(settings, server)
        yield server


@pytest.fixture
def generated(run: Any, focus_files: Any, seeded: None) -> str:
    """Alice has two projects (two statements), Bob one; the organization has a contact address."""
    rows = [
        minimal_row("10.00", tag_json=tags(ALICE, "genomics", "BIO-1")),
        minimal_row("2.50", tag_json=tags(ALICE, "atlas", "BIO-2")),
        minimal_row("7.00", tag_json=tags(BOB, "climate", "GEO-7")),
    ]
    assert run("ingest", str(focus_files.write("aws-2025-01.csv", rows)), "-s", "aws", "-p", "2025-01").code == 0
    assert run("periods", "close", "2025-01").code == 0
    Organization.objects.update_or_create(pk=Organization.current().pk, defaults={"contact_email": CONTACT})
    assert run("generate", "-p", "2025-01").code == 0
    return "2025-01"


def wait_until_due() -> None:
    time.sleep(1.1)  # the one-second backoff


def test_a_period_goes_out_as_one_message_per_pi_with_every_pdf_to_the_pi_and_the_delegates_who_asked(
    run, smtp, generated
):
    alice = Statement.objects.filter(pi__email=ALICE).first().pi
    PortalDelegate.objects.create(pi=alice, email=LAB_MANAGER, all_projects=True, email_statements=True)
    partial = PortalDelegate.objects.create(pi=alice, email=GRANTS_OFFICE, email_statements=True)
    partial.projects.set([Project.objects.get(code="genomics")])  # cannot see atlas: no copy
    PortalDelegate.objects.create(pi=alice, email=READER, all_projects=True)  # portal only

    assert run("send", "-p", generated).code == 0

    by_pi = {r.message["To"]: r for r in smtp.received}
    assert sorted(by_pi) == [ALICE, BOB] and len(smtp.received) == 2
    assert sorted(by_pi[ALICE].rcpt_tos) == [ALICE, LAB_MANAGER] and by_pi[BOB].rcpt_tos == [BOB]
    assert by_pi[ALICE].message["Cc"] == LAB_MANAGER and by_pi[BOB].message["Cc"] is None
    for pi, received in by_pi.items():
        message = received.message
        assert message["Reply-To"] == CONTACT
        assert "Total due for 2025-01" in message.get_body(("plain",)).get_content()
        assert "<" in message.get_body(("html",)).get_content()
        attached = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
        statements = Statement.objects.filter(pi__email=pi).order_by("number")
        assert sorted(attached) == [f"statement-{s.number}-v{s.version}.pdf" for s in statements]
        for s in statements:
            assert hashlib.sha256(attached[f"statement-{s.number}-v{s.version}.pdf"]).hexdigest() == s.pdf_sha256
    assert Statement.objects.filter(pi__email=ALICE).count() == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert Delivery.objects.get(pi__email=ALICE).copies == [LAB_MANAGER]


def test_451_then_250_delivers_one_message_after_the_backoff(run, smtp, generated):
    smtp.answers = ["451 4.3.0 Mailbox busy, try again later"]
    assert run("send", "-p", generated, "--pi", ALICE).code == 0
    d = Delivery.objects.get()
    assert (d.status, d.attempts, smtp.received) == ("pending", 1, [])
    assert d.last_error == "SMTP 451: 4.3.0 Mailbox busy, try again later"
    again = run("send", "-p", generated, "--pi", ALICE, "--format", "json").json()
    assert again["resumed_ids"] == [] and not smtp.received  # the backoff has not passed
    wait_until_due()
    again = run("send", "-p", generated, "--pi", ALICE, "--format", "json").json()
    assert again["resumed_ids"] == [d.pk]
    d.refresh_from_db()
    assert (d.status, d.attempts, len(smtp.received), smtp.transactions) == ("sent", 2, 1, 2)


def test_550_ends_as_failed_with_the_servers_reason_in_the_admin_and_the_outbox(
    run, smtp, generated, client, finance_admin
):
    smtp.refuse[BOB] = "550 5.1.1 <bob@example.edu>: Recipient address rejected: User unknown"
    assert run("send", "-p", generated).code == 0
    bob = Delivery.objects.get(pi__email=BOB)
    assert bob.status == "failed" and bob.attempts == 1
    assert bob.last_error == (
        "SMTP 550 for bob@example.edu: 5.1.1 <bob@example.edu>: Recipient address rejected: User unknown"
    )
    assert [r.message["To"] for r in smtp.received] == [ALICE]
    client.force_login(finance_admin)
    page = client.get(reverse("admin:statements_delivery_changelist") + "?attention=yes").content.decode()
    assert "Recipient address rejected: User unknown" in page
    listing = run("outbox", "-p", generated, "--status", "failed")
    assert "bob@example.edu" in listing.out and "Recipient address rejected: User unknown" in listing.out
    wait_until_due()
    assert sweep_outbox() == 0 and Delivery.objects.get(pi__email=BOB).status == "failed"  # never retried


def test_a_connection_dropped_before_the_message_was_sent_is_retried_and_delivers_once(run, smtp, generated):
    smtp.answers = [DROP_AT_DATA]
    assert run("send", "-p", generated, "--pi", ALICE).code == 0
    d = Delivery.objects.get()
    assert (d.status, d.attempts, smtp.received) == ("pending", 1, [])
    assert "SMTPServerDisconnected" in d.last_error
    wait_until_due()
    assert run("send", "-p", generated, "--pi", ALICE).code == 0
    d.refresh_from_db()
    assert (d.status, d.attempts, len(smtp.received), smtp.transactions) == ("sent", 2, 1, 2)


def test_a_connection_dropped_after_the_server_took_the_message_is_left_for_a_person_never_sent_twice(
    run, smtp, generated
):
    smtp.answers = [ACCEPT_THEN_DROP]
    assert run("send", "-p", generated, "--pi", ALICE).code == 0
    d = Delivery.objects.get()
    assert d.status == "sending" and len(smtp.received) == 1
    assert "the server may have accepted it" in d.last_error
    wait_until_due()
    again = run("send", "-p", generated, "--pi", ALICE)
    assert "Stuck in sending" in again.out and ALICE in again.out
    assert sweep_outbox() == 0
    assert run("outbox", "--retry").code == 0 and len(smtp.received) == 1  # pending ones only
    refused = run("outbox", "--retry", "--status", "sending")
    assert refused.code == 1 and "--force-stuck" in refused.err and len(smtp.received) == 1
    assert run("outbox", "--retry", "--status", "sending", "--force-stuck").code == 0  # a person checked
    first, second = (r.message["Message-ID"] for r in smtp.received)
    assert first == second and Delivery.objects.get().status == "sent"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_smtp(settings: Any, ca: trustme.CA) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    with smtp_server(tls=context) as server:
        configure(settings, server, host="localhost", tls=True)
        yield server


def test_starttls_with_the_sites_own_ca_delivers(run, tls_smtp, generated, ca, settings, tmp_path: Path):
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    settings.EMAIL_SSL_CAFILE = str(tmp_path / "ca.pem")
    assert run("send", "-p", generated).code == 0
    assert sorted(r.message["To"] for r in tls_smtp.received) == [ALICE, BOB]  # the server refuses plain text


def test_starttls_to_an_untrusted_certificate_fails_with_a_clear_reason(run, tls_smtp, generated):
    assert run("send", "-p", generated, "--pi", BOB).code == 0
    d = Delivery.objects.get()
    assert d.status == "failed" and not tls_smtp.received
    assert d.last_error.startswith("the SMTP server's TLS certificate is not trusted (")
    assert "set EMAIL_SSL_CAFILE" in d.last_error
    check = run("email", "check", "ops@example.edu")
    assert check.code == 1 and "\n" not in check.err and "certificate is not trusted" in check.err


def test_email_check_sends_a_test_message_and_prints_what_the_server_said(run, smtp, db):
    result = run("email", "check", "ops@example.edu")
    assert result.code == 0
    assert result.out.strip() == (
        f"Sent a test message to ops@example.edu through 127.0.0.1:{smtp.port} (no TLS); "
        "the server said: 250 2.0.0 Ok: queued as M1"
    )
    assert [r.rcpt_tos for r in smtp.received] == [["ops@example.edu"]]


def test_email_check_prints_a_refusal_in_one_line(run, smtp, db):
    smtp.answers = ["554 5.7.1 Relay access denied"]
    result = run("email", "check", "ops@example.edu")
    assert result.code == 1
    assert result.err == f"sending through 127.0.0.1:{smtp.port} (no TLS) failed: SMTP 554: 5.7.1 Relay access denied"
