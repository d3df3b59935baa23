"""The admin menu follows the month: Overview, Import, Review (with the flagged count), Periods,
Statements, Journal, Rules and sources, People and projects, Audit; technical models under System."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from billing.models import BillingPeriod
from tests.conftest import make_staff, minimal_row, tags

pytestmark = pytest.mark.django_db

MONTH = ["Overview", "Import", "Review", "Periods", "Statements", "Journal", "Rules and sources",
         "People and projects", "Audit"]  # fmt: skip


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sections(html: str, where: str = "content-main") -> list[str]:
    """The section headings of the app list, in page order (the index's list or the side menu)."""
    if where == "nav-sidebar":
        html = html[html.index('id="nav-sidebar"') :]
    else:
        html = html[html.index('id="content-main"') :]
        html = html[: html.index("</main>")] if "</main>" in html else html
    return [unescape(s) for s in re.findall(r'<a href="[^"]*" class="section">([^<]+)</a>', html)]


def entries(html: str, section_slug: str) -> list[str]:
    block = html[html.index(f'class="app-ocb-{section_slug} module') :]
    block = block[: block.index("</table>")]
    cells = re.findall(r'<th scope="row"[^>]*>(.*?)</th>', block, re.S)
    return [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


@pytest.fixture
def month(run, focus_files):
    """January with two flagged charges (no PI, no fund/org) among three."""
    path = focus_files.write("aws-2025-01.csv", [
        minimal_row("10", resource="fine"),
        minimal_row("20.25", resource="orphan-vm", tag_json=tags(pi=None)),
        minimal_row("7.50", resource="nofund-vm", tag_json=tags(project="p9", fund=None)),
    ])  # fmt: skip
    assert run("ingest", str(path), "-s", "aws", "-p", "2025-01").code == 0


def test_the_index_and_the_side_menu_list_the_steps_of_the_month_in_order(finance_admin):
    client = signed_in(finance_admin)
    index = client.get("/admin/").content.decode()
    assert sections(index) == MONTH
    periods_page = client.get("/admin/billing/billingperiod/").content.decode()
    assert sections(periods_page, "nav-sidebar") == MONTH
    assert entries(index, "import") == ["Import files", "Import history", "Provider invoices"]
    assert entries(index, "review")[:2] == ["Review queue", "Review decisions"]
    assert entries(index, "rules")[0] == "Settings"
    assert entries(index, "people")[:2] == ["Projects", "PIs"]
    # One app's own page (the breadcrumbs link to it) still lists that app's models.
    assert "Billing periods" in client.get("/admin/billing/").content.decode()


def test_the_side_menu_marks_the_page_being_shown(finance_admin):
    page = signed_in(finance_admin).get("/admin/billing/importbatch/import/").content.decode()
    sidebar = page[page.index('id="nav-sidebar"') :]
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', sidebar)
    assert current == ["/admin/billing/importbatch/import/"]
    # The dashboard is the current page only on itself, not on every page under /admin/.
    settings_page = signed_in(finance_admin).get("/admin/settings/").content.decode()
    sidebar = settings_page[settings_page.index('id="nav-sidebar"') :]
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', sidebar) == ["/admin/settings/"]


def test_the_review_entry_shows_how_many_charges_of_open_periods_are_flagged(finance_admin, month, run):
    client = signed_in(finance_admin)
    assert entries(client.get("/admin/").content.decode(), "review")[0] == "Review queue 2 flagged"

    # A closed period's flags wait for nobody until it is reopened: the badge goes. (Closing is
    # refused while flags remain; this stands for a month closed before that rule.)
    BillingPeriod.objects.filter(period="2025-01").update(status="closed")
    assert entries(client.get("/admin/").content.decode(), "review")[0] == "Review queue"


def test_technical_models_are_under_system_for_those_who_may_use_them(finance_admin, admin_user):
    assert "System" not in sections(signed_in(finance_admin).get("/admin/").content.decode())
    index = signed_in(admin_user).get("/admin/").content.decode()
    assert sections(index)[-1] == "System"
    assert {"Groups", "Email addresses", "Authenticators", "Social accounts"} <= set(entries(index, "system"))
    assert "Users" in entries(index, "people")


def test_a_viewer_sees_the_steps_without_the_pages_they_may_not_open():
    viewer = make_staff("viewer@example.edu", "Viewer")
    index = signed_in(viewer).get("/admin/").content.decode()
    assert "Import files" not in entries(index, "import")
    assert "Settings" not in entries(index, "rules")
    assert signed_in(viewer).get("/admin/settings/").status_code == 403


def test_the_dashboard_still_shows_its_figures_above_the_menu(finance_admin, month):
    index = signed_in(finance_admin).get("/admin/").content.decode()
    assert "Billing period 2025-01" in index
    assert "10.00 USD" in index  # billed: the one charge that was not flagged
    assert index.index("ocb-dashboard") < index.index("app-ocb-overview")
