"""A finance admin drops a FOCUS file on the import page, checks the preview and confirms it."""

from __future__ import annotations

import pytest

from billing.models import Charge, ImportBatch
from tests.browser.test_review_in_browser import sign_in
from tests.conftest import make_staff, minimal_row, tags

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_finance_admin_drops_a_file_previews_and_confirms(page, focus_files):
    path = focus_files.write("hpc-2025-03.csv", [
        minimal_row("12.5", period="2025-03", resource="job-1"),
        minimal_row("7.25", period="2025-03", resource="job-2", tag_json=tags(pi=None)),
    ])  # fmt: skip
    make_staff("finance@example.edu", "Finance admin")
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")

    page.goto("/admin/billing/importbatch/")
    page.locator("#content-main").get_by_role("link", name="Import files").click()
    page.wait_for_selector("[data-dropzone-hint]:not([hidden])")  # the drop zone's script is ready
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: "text/csv"}));
            return dt;
        }""",
        [path.name, path.read_text()],
    )
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})
    dropped = page.evaluate("Array.from(document.querySelector('input[type=file]').files).map(f => f.name)")
    assert dropped == ["hpc-2025-03.csv"]
    page.get_by_role("button", name="Upload and preview").click()

    preview = page.inner_text("#content-main")
    assert "2025-03" in preview and "19.75" in preview and "missing_pi" in preview
    assert not ImportBatch.objects.exists()  # a preview writes nothing
    page.get_by_role("button", name="Confirm import").click()

    batch = ImportBatch.objects.get()
    page.wait_for_url(f"**/admin/billing/importbatch/{batch.pk}/change/**")
    assert (batch.source.name, batch.period.period, batch.row_count) == ("hpc", "2025-03", 2)
    assert Charge.objects.filter(batch=batch, review_state="flagged").count() == 1
    assert batch.actor == "finance@example.edu"


def test_a_finance_admin_imports_sacct_output_and_finds_it_kept_with_the_batch(page):
    from datetime import date
    from decimal import Decimal
    from pathlib import Path

    from billing.models import Rate

    sacct = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "sacct-2025-01.txt"
    for partition in ("cpu", "gpu", "debug", "largemem"):
        Rate.objects.create(name=f"{partition}-su", kind="slurm", applies_to=partition, unit="SU",
                            price=Decimal("0.01"), effective_from=date(2024, 7, 1))  # fmt: skip
    make_staff("finance@example.edu", "Finance admin")
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")

    page.goto("/admin/billing/importbatch/import/")
    page.set_input_files("input[type=file]", str(sacct))
    page.get_by_label("File kind").select_option("slurm")
    page.get_by_label("Period").fill("2025-01")
    page.get_by_role("button", name="Upload and preview").click()
    assert "2025-01" in page.inner_text("#content-main")
    page.get_by_role("button", name="Confirm import").click()

    batch = ImportBatch.objects.get()
    page.wait_for_url(f"**/admin/billing/importbatch/{batch.pk}/change/**")
    files = page.inner_text("#content-main")
    assert "usage file converted" in files and "FOCUS file imported" in files and sacct.name in files
    with page.expect_download() as download:
        page.locator("tr", has_text="usage file converted").get_by_role("link", name="Download").click()
    with open(download.value.path(), "rb") as fh:
        assert fh.read() == sacct.read_bytes()  # the upload, byte for byte
