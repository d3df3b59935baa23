"""A finance admin walks the month from the side menu, watches the review badge drop after an
approval, checks a project's page against its statement, and tests then saves a flag pattern."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from billing.models import BillingPeriod, Charge, FlagPattern, Project
from chargeback.models import AuditEvent
from statements.models import Statement
from tests.conftest import make_staff, minimal_row, tags

from .test_review_in_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Each step of the month: the menu section, and what its first entry opens.
STEPS = [
    ("overview", "Overview", "/admin/", "Billing period 2025-01"),
    ("import", "Import", "/admin/billing/importbatch/import/", "Import files"),
    ("review", "Review", "/admin/billing/charge/", "Select charge"),
    ("periods", "Periods", "/admin/billing/billingperiod/", "Select billing period"),
    ("statements", "Statements", "/admin/statements/statement/", "Select statement"),
    ("journal", "Journal", "/admin/journals/journalexport/", "journal export"),
    ("rules", "Rules and sources", "/admin/settings/", "Settings"),
    ("people", "People and projects", "/admin/billing/project/", "Select project"),
    ("audit", "Audit", "/admin/chargeback/auditevent/", "Select audit event"),
]


def quiet() -> object:
    return open("/dev/null", "w")  # noqa: SIM115


def import_month(focus_files) -> None:
    alice = tags("alice@example.edu", "genomics", "BIO-1")
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10.00", resource="web-1", tag_json=alice),
        minimal_row("1234.565", listed="1500", resource="gpu-node-1", tag_json=alice),
        minimal_row("2.50", resource="bob-vm", tag_json=tags("bob@example.edu", "climate", "GEO-7")),
        minimal_row("20.25", resource="orphan-vm", tag_json=tags(pi=None)),
        minimal_row("7.50", resource="nofund-vm", tag_json=tags(project="p9", fund=None)),
    ])  # fmt: skip
    call_command("ingest", str(path), "-s", "aws", "-p", "2025-01", stdout=quiet())


def finance_admin_signed_in(page) -> None:
    make_staff("finance@example.edu", "Finance admin")
    sign_in(page, "finance@example.edu", "pw-finance@example.edu")


def test_a_finance_admin_reaches_every_step_of_the_month_from_the_menu_in_order(page, focus_files):
    import_month(focus_files)
    finance_admin_signed_in(page)
    page.goto("/admin/billing/billingperiod/")
    headings = page.locator("#nav-sidebar caption a").all_inner_texts()
    assert headings == [name.upper() for _, name, _, _ in STEPS]  # the admin shows captions in capitals

    for slug, _name, url, shows in STEPS:
        # The side menu, or on the dashboard (which has no side menu) the same list below the figures.
        page.locator(f".app-ocb-{slug} caption a").first.click()
        page.wait_for_url(f"**{url}")
        assert shows.lower() in page.inner_text("#content").lower(), slug


def test_the_review_badge_shows_the_flagged_count_and_drops_after_an_approval(page, focus_files):
    import_month(focus_files)
    finance_admin_signed_in(page)
    page.goto("/admin/billing/charge/")
    badge = page.locator("#nav-sidebar .ocb-nav-badge")
    assert badge.inner_text().split()[0] == "2"

    page.locator("#result_list tbody tr", has_text="orphan-vm").locator("input.action-select").check()
    page.select_option("select[name=action]", "approve_selected")
    page.get_by_role("button", name="Go").click()
    page.get_by_role("button", name="Approve charges").click()

    assert "Approved 1 charge" in page.inner_text(".messagelist")
    assert badge.inner_text().split()[0] == "1"


def test_a_projects_page_shows_the_figures_of_its_statement(page, focus_files):
    import_month(focus_files)
    flagged = [str(pk) for pk in Charge.objects.filter(review_state="flagged").values_list("pk", flat=True)]
    call_command("review", "reject", "--id", *flagged, "--note", "not ours", stdout=quiet())
    call_command("periods", "close", "2025-01", stdout=quiet())
    call_command("generate", "-p", "2025-01", stdout=quiet())
    statement = Statement.objects.get(project__code="genomics")
    finance_admin_signed_in(page)

    page.goto("/admin/billing/project/")
    page.locator("#result_list tr", has_text="genomics").get_by_role("link", name="cost and statements").click()
    row = page.locator("#costs tr[data-period='2025-01']")
    assert row.locator(".ocb-billed").inner_text() == f"{statement.amount_due:,.2f} USD" == "1,244.57 USD"
    assert row.locator(".ocb-due").inner_text() == "1,244.57 USD"
    listed = row.locator("td").nth(1).inner_text()
    assert listed == f"{statement.list_total:,.2f} USD"
    assert page.locator("#statements", has_text=statement.number).count() == 1
    assert page.locator("svg.portal-chart rect").count() == 1


def test_a_pattern_edited_on_the_settings_page_is_tested_against_a_period_and_saved(page, focus_files):
    import_month(focus_files)
    finance_admin_signed_in(page)
    page.goto("/admin/billing/charge/")
    page.locator("#nav-sidebar").get_by_role("link", name="Settings").click()

    rows = page.locator("#flags-rows tbody tr")
    new = rows.last
    new.get_by_label("Name (new)").fill("gpu")
    new.get_by_label("Pattern (new)").fill("^gpu-")
    new.get_by_label("Fields (new)").fill("resource_name")
    page.select_option("#id_test-period", "2025-01")
    page.get_by_role("button", name="Test against this period").click()

    report = page.locator(".ocb-report")
    assert "Period 2025-01 (open)" in report.inner_text()
    assert "Newly flagged\t1" in report.inner_text()
    assert "gpu-node-1" in report.inner_text()
    assert not FlagPattern.objects.filter(name="gpu").exists()

    page.get_by_role("button", name="Save").click()
    assert "Settings saved (1 change)." in page.inner_text(".messagelist")
    assert FlagPattern.objects.get(name="gpu").pattern == "^gpu-"
    assert AuditEvent.objects.filter(action="flagpattern.add").count() == 1
    assert BillingPeriod.objects.get(period="2025-01").status == "open"
    assert Project.objects.filter(code="genomics").exists()
