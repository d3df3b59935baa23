"""A finance admin previews a closed period's journal, exports it and downloads the file."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from billing.models import BillingPeriod, Source
from journals.models import JournalExport
from tests.conftest import make_staff, minimal_row, tags

from .test_review_in_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_finance_admin_previews_exports_and_downloads_the_journal(page, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10.005", tag_json=tags("alice@example.edu", "genomics", "BIO-2025")),
        minimal_row("2.50", tag_json=tags("bob@example.edu", "climate", "GEO-2025")),
    ])  # fmt: skip
    quiet = open("/dev/null", "w")  # noqa: SIM115
    call_command("ingest", str(path), "-s", "aws", "-p", "2025-01", stdout=quiet)
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    call_command("periods", "close", "2025-01", stdout=quiet)
    call_command("generate", "-p", "2025-01", stdout=quiet)
    make_staff("finance@example.edu", "Finance admin")
    period = BillingPeriod.objects.get(period="2025-01")

    sign_in(page, "finance@example.edu", "pw-finance@example.edu")
    page.goto(f"/admin/journals/journalexport/period/{period.pk}/")
    page.select_option("select[name=journal_format]", "gl")
    page.get_by_role("button", name="Preview").click()
    totals = page.inner_text("#preview-totals")
    assert "12.51" in totals and "RC" in page.inner_text("#preview")
    assert not JournalExport.objects.exists()  # a preview saves nothing

    page.get_by_role("button", name="Export journal").click()
    assert "Exported journal 2025-01-J001" in page.inner_text(".messagelist")
    with page.expect_download() as download:
        page.locator("#history").get_by_role("link", name="download").click()
    with open(download.value.path(), encoding="utf-8") as fh:
        text = fh.read()
    export = JournalExport.objects.get()
    assert export.debit_total == export.credit_total and "BIO" in text and "RC" in text
