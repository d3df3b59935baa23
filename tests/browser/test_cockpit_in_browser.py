"""The finance workspace in a real browser: lists that fit a laptop with the side menu open,
approving a flagged charge with a note in four clicks from the dashboard, a month closed,
billed, sent and exported from its period page, and the portal's statements on a phone."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from billing.models import BillingPeriod, Charge, ReviewDecision, Source
from journals.models import JournalExport
from statements.models import Statement
from tests.conftest import make_staff, minimal_row, tags

from .test_review_in_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# The page does not scroll sideways, nor does the list inside its own box (the admin lets a
# too-wide table scroll there, which hides its last columns just the same).
FITS = """() => {
  const box = document.querySelector('#changelist .results');
  return [document.documentElement.scrollWidth <= innerWidth, !box || box.scrollWidth <= box.clientWidth];
}"""


def quiet(*args: str) -> None:
    call_command(*args, stdout=open("/dev/null", "w"))  # noqa: SIM115


def reject_the_orphan() -> None:
    """The charge without a PI is not recharged (statements need a PI for every billed charge)."""
    quiet("review", "reject", "--id", str(Charge.objects.get(pi__isnull=True).pk))


@pytest.fixture
def month(focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10.00", tag_json=tags("alice@example.edu", "genomics", "BIO-1")),
        minimal_row("2.50", tag_json=tags("bob@example.edu", "climate", "GEO-7")),
        minimal_row("20.25", resource="orphan-vm-with-a-rather-long-resource-name", tag_json=tags(pi=None)),
    ])  # fmt: skip
    quiet("ingest", str(path), "-s", "aws", "-p", "2025-01")
    Source.objects.filter(name="aws").update(credit_fund_org="RC-CLOUD", gl_account="54100")
    return BillingPeriod.objects.get(period="2025-01")


def test_the_lists_fit_1366_px_with_the_side_menu_open(page, month):
    reject_the_orphan()
    quiet("periods", "close", "2025-01")
    quiet("generate", "-p", "2025-01")
    make_staff("finance@example.edu", "Finance admin")
    page.set_viewport_size(LAPTOP)
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")
    for url in ["/admin/billing/charge/?period=all&review=all", "/admin/statements/statement/",
                "/admin/billing/importbatch/", "/admin/chargeback/auditevent/"]:  # fmt: skip
        page.goto(url)
        assert page.locator("#nav-sidebar").is_visible(), url  # the side menu is open
        assert page.evaluate(FITS) == [True, True], url
    page.goto("/admin/statements/statement/")
    for header in ("Amount due", "PDF"):
        box = page.locator("#result_list thead th", has_text=header).bounding_box()
        assert box and box["x"] + box["width"] <= LAPTOP["width"], header


def test_a_reviewer_approves_a_flagged_charge_with_a_note_in_four_clicks(page, month):
    make_staff("reviewer@example.edu", "Reviewer")
    page.set_viewport_size(LAPTOP)
    sign_in(page, "reviewer@example.edu", "pw-reviewer@example.edu")
    page.goto("/admin/")
    clicks = 0

    def click(locator):
        nonlocal clicks
        locator.click()
        clicks += 1

    click(page.get_by_role("link", name="Review 1 flagged charge"))
    assert page.evaluate(FITS) == [True, True]
    row = page.locator("#result_list tbody tr", has_text="orphan-vm")
    assert "Missing PI" in row.inner_text()
    click(row.get_by_role("link", name="Approve"))
    assert "Missing PI" in page.inner_text("#content-main")  # why it was flagged, before deciding
    click(page.locator("textarea[name=note]"))
    page.keyboard.type("confirmed with the lab manager")
    click(page.get_by_role("button", name="Approve charge"))

    assert clicks <= 4
    assert "Approved 1 charge (20.25)." in page.inner_text(".messagelist")
    orphan = Charge.objects.get(resource_id="orphan-vm-with-a-rather-long-resource-name")
    assert orphan.review_state == "approved"
    assert ReviewDecision.objects.get(charge=orphan).note == "confirmed with the lab manager"


def test_a_month_is_closed_billed_sent_and_exported_from_its_period_page(page, month):
    reject_the_orphan()
    make_staff("finance@example.edu", "Finance admin")
    page.set_viewport_size(LAPTOP)
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")
    cockpit = f"/admin/billing/billingperiod/{month.pk}/change/"
    page.goto(cockpit)

    page.get_by_role("button", name="Close period").click()
    assert "Period 2025-01 is now closed." in page.inner_text(".messagelist")
    assert page.url.endswith(cockpit)

    page.get_by_role("link", name="Generate statements").click()
    page.get_by_label("I have reviewed the flagged charges of 2025-01").check()
    page.get_by_role("button", name="Generate statements").click()
    assert "2 statements" in page.inner_text(".messagelist")

    page.goto(cockpit)
    page.get_by_role("link", name="Send statements").click()
    page.get_by_role("button", name="Send all unsent").click()
    assert "2 emails queued" in page.inner_text(".messagelist")

    page.goto(cockpit)
    assert "Sent 2" in page.inner_text("#cockpit-actions ~ .ocb-grid")
    page.get_by_role("link", name="Export journal").click()
    page.select_option("select[name=journal_format]", "gl")
    page.get_by_role("button", name="Export journal").click()
    assert "Exported journal 2025-01-J001" in page.inner_text(".messagelist")

    page.goto(cockpit)
    assert "Reconciled: statements, debits and credits agree." in page.inner_text("#content-main")
    assert set(Statement.objects.values_list("status", flat=True)) == {"sent"}
    assert JournalExport.objects.count() == 1


def test_the_portal_statements_keep_amount_and_download_on_a_phone(page, month, settings):
    from allauth.account.models import EmailAddress
    from django.contrib.auth.models import User

    reject_the_orphan()
    quiet("periods", "close", "2025-01")
    quiet("generate", "-p", "2025-01")
    user = User.objects.create_user("alice", "alice@example.edu", "pw-alice-portal")
    EmailAddress.objects.create(user=user, email="alice@example.edu", verified=True, primary=True)
    page.set_viewport_size(PHONE)
    page.goto("/")
    assert "/accounts/login/" in page.url  # the front door: sign in, no 403
    page.fill("#id_login", "alice@example.edu")
    page.fill("#id_password", "pw-alice-portal")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/portal/**")
    page.goto("/portal/statements/")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    row = page.locator("#statements tbody tr").first
    for cell in (row.locator("td.col-amount_due"), row.get_by_role("link", name="Download")):
        box = cell.bounding_box()
        assert cell.is_visible() and box and box["x"] + box["width"] <= PHONE["width"]
    assert "10.00" in row.locator("td.col-amount_due").inner_text()
