"""A PI disputes a charge of the open month on the portal; a reviewer resolves it in the admin;
the PI reads the reply on the charge."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from billing.models import Charge
from statements.models import Dispute
from tests.browser.test_review_in_browser import sign_in
from tests.conftest import make_staff, minimal_row
from tests.portal.conftest import build_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dispute_goes_from_the_pi_to_the_reviewer_and_back(
    page: Any, chromium: Any, live_server: Any, focus_files: Any
) -> None:
    world = build_world(focus_files)
    rows = [minimal_row("70.00", period="2025-02", resource="feb-gen-vm"), minimal_row("5.00", period="2025-02")]
    path = focus_files.write("aws-2025-02.csv", rows)
    call_command("ingest", str(path), "-s", "aws", "-p", "2025-02", stdout=open("/dev/null", "w"))  # noqa: SIM115
    world.alice.set_password("pw-alice")
    world.alice.save()
    vm = Charge.objects.get(resource_id="feb-gen-vm")

    page.goto("/portal/")
    page.fill("#id_login", "alice@example.edu")
    page.fill("#id_password", "pw-alice")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/portal/")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="This month").click()
    assert "Not yet billed — data as of" in page.get_by_test_id("not-billed").inner_text()
    page.get_by_role("link", name="genomics").click()
    page.get_by_label(f"Dispute charge {vm.pk}").check()
    page.get_by_label("What is wrong with the ticked charges?").fill("This VM was shut down in January")
    page.get_by_role("button", name="Dispute the ticked charges").click()
    assert "held until they reply" in page.inner_text(".messagelist")
    assert "waiting for the billing team" in page.inner_text("#disputes")

    make_staff("reviewer@example.edu", "Reviewer")
    staff = chromium.new_context(base_url=live_server.url)
    reviewer = staff.new_page()
    reviewer.set_default_timeout(15_000)
    sign_in(reviewer, "reviewer@example.edu", "pw-reviewer@example.edu")
    reviewer.goto("/admin/billing/charge/?reason=disputed")
    assert "This VM was shut down in January" in reviewer.inner_text("#result_list")
    reviewer.goto("/admin/statements/dispute/")
    reviewer.get_by_role("link", name="Resolve", exact=True).click()
    assert "This VM was shut down in January" in reviewer.inner_text("#dispute-comment")
    reviewer.get_by_label("Approved as is").check()
    reviewer.get_by_label("Reply to the PI").fill("It ran until Feb 3; see the usage log.")
    reviewer.get_by_role("button", name="Resolve dispute").click()
    assert "resolved; the PI is told by email" in reviewer.inner_text(".messagelist")
    staff.close()
    assert Dispute.objects.get().outcome == "approve"

    page.goto(f"/portal/charges/{vm.pk}/")
    assert "It ran until Feb 3; see the usage log." in page.get_by_test_id("dispute-reply").inner_text()
