"""A finance admin generates a closed period's statements, downloads one, and sends them."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command

from billing.models import BillingPeriod, Source
from statements.models import Statement
from tests.conftest import make_staff, minimal_row, tags

from .test_review_in_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_finance_admin_generates_downloads_and_sends_statements(page, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10.00", tag_json=tags("alice@example.edu", "genomics", "BIO-1")),
        minimal_row("2.50", tag_json=tags("bob@example.edu", "climate", "GEO-7")),
    ])  # fmt: skip
    quiet = open("/dev/null", "w")  # noqa: SIM115
    call_command("ingest", str(path), "-s", "aws", "-p", "2025-01", stdout=quiet)
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    call_command("periods", "close", "2025-01", stdout=quiet)
    make_staff("finance@example.edu", "Finance admin")
    period = BillingPeriod.objects.get(period="2025-01")

    sign_in(page, "finance@example.edu", "pw-finance@example.edu")
    page.goto(f"/admin/billing/billingperiod/{period.pk}/change/")
    page.get_by_role("link", name="Generate statements").click()
    page.get_by_label("I have reviewed the flagged charges of 2025-01").check()
    page.get_by_role("button", name="Generate statements").click()
    assert "2 statements (2 new or new versions, 0 unchanged)" in page.inner_text(".messagelist")
    assert "2 of 2 statement PDFs rendered" in page.inner_text("#content-main")

    with page.expect_download() as download:
        page.locator("#statements tr", has_text="genomics").get_by_role("link", name="download").click()
    assert download.value.suggested_filename == "statement-2025-01-000001-v1.pdf"
    with open(download.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"

    page.get_by_role("button", name="Send all unsent").click()
    assert "2 emails queued" in page.inner_text(".messagelist")
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.edu", "bob@example.edu"]
    assert set(Statement.objects.values_list("status", flat=True)) == {"sent"}
