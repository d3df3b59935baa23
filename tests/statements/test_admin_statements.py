"""The finance workspace's statement pages: generate, progress, previews, downloads, the outbox."""

from __future__ import annotations

import smtplib
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse

from statements.models import Delivery, Statement

from .conftest import BOB, pdf_text

pytestmark = pytest.mark.django_db(transaction=True)


def period_page(period: str = "2025-01") -> str:
    return reverse("admin:statements_statement_period", args=[period])


def test_a_finance_admin_generates_a_period_after_confirming(client, finance_admin, closed_period):
    client.force_login(finance_admin)
    client.post(period_page(), {"action": "generate"})  # not confirmed: nothing happens
    assert not Statement.objects.exists()
    page = client.post(period_page(), {"action": "generate", "confirm": "yes"}, follow=True)
    assert "2 statements (2 new or new versions, 0 unchanged); 0 flagged charges (0.00) excluded." in (
        page.content.decode()
    )
    assert "2 of 2 statement PDFs rendered" in page.content.decode()
    assert Statement.objects.filter(status="final").count() == 2


def test_a_reviewer_cannot_generate_but_can_send(client, reviewer, closed_period, run):
    client.force_login(reviewer)
    assert client.post(period_page(), {"action": "generate", "confirm": "yes"}).status_code == 403
    run("generate", "-p", closed_period)
    page = client.get(period_page())
    assert "Generate statements" not in page.content.decode() and "Send all unsent" in page.content.decode()
    client.post(period_page(), {"action": "send"})
    assert len(mail.outbox) == 2


def test_a_viewer_sees_and_downloads_but_changes_nothing(client, viewer, closed_period, run):
    run("generate", "-p", closed_period)
    client.force_login(viewer)
    page = client.get(period_page()).content.decode()
    assert "2025-01-000001" in page and "Send all unsent" not in page and "Generate statements" not in page
    st = Statement.objects.get(number="2025-01-000001")
    pdf = client.get(reverse("admin:statements_statement_pdf", args=[st.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert "2025-01-000001" in pdf_text(b"".join(pdf.streaming_content))
    assert client.post(period_page(), {"action": "send"}).status_code == 403
    assert not Delivery.objects.exists()


def test_an_open_period_offers_draft_previews_and_saves_nothing(client, finance_admin, run, focus_files, seeded):
    from .conftest import ROWS, write_rows

    run("ingest", str(write_rows(focus_files, ROWS)), "-s", "aws", "-p", "2025-01")
    client.force_login(finance_admin)
    page = client.get(period_page()).content.decode()
    assert "DRAFT previews" in page and "Generate statements" not in page
    from billing.models import Project

    climate = Project.objects.get(code="climate")
    preview = client.get(reverse("admin:statements_statement_preview", args=["2025-01", climate.pi_id, climate.pk]))
    text = pdf_text(preview.content)
    assert preview["Content-Type"] == "application/pdf" and "DRAFT" in text and "climate" in text
    assert not Statement.objects.exists()


def test_failed_deliveries_show_their_error_and_can_be_resent(client, finance_admin, closed_period, run):
    run("generate", "-p", closed_period)
    refusal = smtplib.SMTPResponseException(550, b"5.1.1 mailbox unavailable")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refusal):
        run("send", "-p", closed_period, "--pi", BOB)
    client.force_login(finance_admin)
    log = client.get(reverse("admin:statements_delivery_changelist") + "?attention=yes").content.decode()
    assert "SMTP 550" in log and BOB in log
    assert "mailbox unavailable" in client.get(period_page()).content.decode()
    failed = Delivery.objects.get()
    client.post(
        reverse("admin:statements_delivery_changelist"),
        {"action": "resend", "_selected_action": [failed.pk]},
    )
    assert Delivery.objects.count() == 2 and len(mail.outbox) == 1
    assert Delivery.objects.latest("id").resend_of == failed


def test_regenerating_one_statement_makes_a_new_version(client, finance_admin, closed_period, run):
    run("generate", "-p", closed_period)
    st = Statement.objects.get(number="2025-01-000002")
    client.force_login(finance_admin)
    client.post(reverse("admin:statements_statement_changelist"), {"action": "regenerate", "_selected_action": [st.pk]})
    st.refresh_from_db()
    assert st.status == "superseded"
    assert Statement.objects.get(number="2025-01-000002", version=2).status == "final"


def test_the_period_page_links_to_its_statements(client, finance_admin, closed_period):
    from billing.models import BillingPeriod

    client.force_login(finance_admin)
    period = BillingPeriod.objects.get(period=closed_period)
    page = client.get(reverse("admin:billing_billingperiod_change", args=[period.pk])).content.decode()
    assert period_page() in page


@pytest.mark.parametrize("project", ["abc", "1x", "²"])
def test_a_preview_of_a_project_id_that_is_not_a_number_is_a_404(
    client, finance_admin, run, focus_files, seeded, project
):
    from billing.models import PI

    from .conftest import ROWS, write_rows

    run("ingest", str(write_rows(focus_files, ROWS)), "-s", "aws", "-p", "2025-01")
    client.force_login(finance_admin)
    pi = PI.objects.order_by("pk").first()

    response = client.get(f"/admin/statements/statement/period/2025-01/preview/{pi.pk}/{project}/")

    assert response.status_code == 404


def test_a_draft_preview_leaves_no_temporary_folder_and_renders_outside_the_period_lock(
    client, finance_admin, run, focus_files, seeded, tmp_path, monkeypatch
):
    import tempfile

    from django.db import connection

    from billing.models import Project
    from statements.services import pdf

    from .conftest import ROWS, write_rows

    run("ingest", str(write_rows(focus_files, ROWS)), "-s", "aws", "-p", "2025-01")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # the system's temporary folder (TMPDIR)
    in_transaction: list[bool] = []
    build = pdf.build_statement_pdf

    def watched_build(context):
        in_transaction.append(connection.in_atomic_block)  # the period row is locked only inside one
        return build(context)

    monkeypatch.setattr(pdf, "build_statement_pdf", watched_build)
    client.force_login(finance_admin)
    climate = Project.objects.get(code="climate")

    for _ in range(3):
        preview = client.get(reverse("admin:statements_statement_preview", args=["2025-01", climate.pi_id, climate.pk]))
        assert preview["Content-Type"] == "application/pdf" and "DRAFT" in pdf_text(preview.content)

    assert list(temp.iterdir()) == []
    assert in_transaction and not any(in_transaction)
