"""A reviewer signs in, opens the review queue, approves a charge with a note, sees it leave."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from billing.models import Charge, ReviewDecision
from tests.conftest import make_staff, minimal_row, tags, totp_code

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, email: str, password: str) -> None:
    """The sign-in form, then the authenticator app's code for those who have one (finance admins)."""
    page.goto("/admin/")
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: "/admin/" in url or "/accounts/2fa/authenticate/" in url)
    if "/accounts/2fa/authenticate/" in page.url:
        page.fill("#id_code", totp_code())
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url("**/admin/**")


def test_a_reviewer_approves_a_flagged_charge_with_a_note(page, focus_files):
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10", resource="fine"),
        minimal_row("20.25", resource="orphan-vm", tag_json=tags(pi=None)),
        minimal_row("7.50", resource="nofund-vm", tag_json=tags(project="p9", fund=None)),
    ])  # fmt: skip
    call_command("ingest", str(path), "-s", "aws", "-p", "2025-01", stdout=open("/dev/null", "w"))  # noqa: SIM115
    make_staff("reviewer@example.edu", "Reviewer")

    sign_in(page, "reviewer@example.edu", "pw-reviewer@example.edu")
    page.goto("/admin/billing/charge/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert "2 charges in this view" in page.inner_text(".oc-filtered-totals")

    page.locator("#result_list tbody tr", has_text="orphan-vm").locator("input.action-select").check()
    page.select_option("select[name=action]", "approve_selected")
    page.get_by_role("button", name="Go").click()
    page.fill("textarea[name=note]", "confirmed with the lab manager")
    page.get_by_role("button", name="Approve charges").click()

    assert "Approved 1 charge (20.25)." in page.inner_text(".messagelist")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "orphan-vm" not in page.inner_text("#result_list")
    orphan = Charge.objects.get(resource_id="orphan-vm")
    assert orphan.review_state == "approved"
    assert ReviewDecision.objects.get(charge=orphan).note == "confirmed with the lab manager"
