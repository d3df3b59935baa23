"""The real worker over Redis sends a period through a real SMTP server with STARTTLS, configured
only by environment variables, and retries a 451 with backoff (PostgreSQL suite; see test_worker)."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
import trustme

from statements.models import Delivery, Statement
from tests.smtp import smtp_server

from .test_worker import all_sent, closed_period, command, services, wait_for, worker  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_sends_each_pi_one_message_over_starttls_and_retries_a_451(
    services,  # noqa: F811
    worker,  # noqa: F811
    run,
    focus_files,
    seeded,
    tmp_path: Path,
):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(tls)
    closed_period(run, focus_files, pis=3)
    with smtp_server(tls=tls) as smtp:
        smtp.answers = ["451 4.7.1 Greylisted, try again later"]
        services.update(
            EMAIL_HOST="localhost", EMAIL_PORT=str(smtp.port), EMAIL_USE_TLS="true",
            EMAIL_SSL_CAFILE=str(tmp_path / "ca.pem"), OPENCHARGEBACK_OUTBOX_BACKOFF_SECONDS="1",
        )  # fmt: skip
        worker()
        command(services, "generate", "-p", "2025-01", "--send")
        wait_for(all_sent, "every delivery to be sent")
    assert sorted(r.message["To"] for r in smtp.received) == [f"pi{i:02d}@example.edu" for i in range(3)]
    assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [1, 1, 2]  # the greylisted one
    for received in smtp.received:
        (part,) = received.message.iter_attachments()
        statement = Statement.objects.get(pi__email=received.message["To"])
        assert hashlib.sha256(part.get_content()).hexdigest() == statement.pdf_sha256
