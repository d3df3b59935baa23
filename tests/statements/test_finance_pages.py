"""Finance sees a project's and a PI's cost per period with the figures the PI sees and the
statements bill: the project and PI lists with cost in a period, and a page for each."""

from __future__ import annotations

import re
from html import unescape

import pytest

from billing.models import PI, Charge, Project
from statements.models import Statement
from statements.portal.access import access_for
from statements.portal.selectors import period_costs, project_detail
from tests.conftest import make_staff

from .conftest import ALICE, BOB, approve_refund_and_close

pytestmark = pytest.mark.django_db


@pytest.fixture
def generated(run, closed_period):
    approve_refund_and_close(run)
    assert run("generate", "-p", closed_period).code == 0
    return closed_period


def cells(html: str, table_id: str, period: str) -> dict[str, str]:
    """One row of a table (by its period), as column heading -> text."""
    table = html[html.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    heads = [unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', table)]
    row = re.search(rf'<tr data-period="{period}">(.*?)</tr>', table, re.S)
    assert row, f"no row for {period}"
    values = [
        unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row[1], re.S)
    ]
    return dict(zip(heads, values, strict=True))


def test_a_projects_page_shows_the_billed_cost_its_statement_bills(client, finance_admin, generated):
    genomics = Project.objects.get(code="genomics")
    statement = Statement.objects.get(project=genomics, status__in=["final", "draft"])
    client.force_login(finance_admin)
    html = client.get(f"/admin/finance/projects/{genomics.pk}/").content.decode()

    row = cells(html, "costs", "2025-01")
    assert row["Billed"] == f"{statement.amount_due:,.2f} USD" == "1,234,633.45 USD"
    assert row["Statements amount due"] == "1,234,633.45 USD"
    assert row["List"] == f"{statement.list_total:,.2f} USD"
    assert row["Charges"] == str(statement.charge_count) == "4"
    assert f"{statement.number} v1" in html and statement.get_status_display() in html
    assert '<svg class="portal-chart"' in html


def test_finance_and_the_pi_read_the_same_figures(generated):
    """The project page and the PI page read the portal's own selector with the PI's grants."""
    from statements.finance import pi_access, project_access

    alice = PI.objects.get(email=ALICE)
    genomics = Project.objects.get(code="genomics")
    alice.user = make_staff(ALICE, "Viewer", authenticator=False)
    alice.save()
    as_alice = access_for(alice.user)
    assert period_costs(pi_access(alice)) == period_costs(as_alice)
    assert project_detail(project_access(genomics), genomics).periods == project_detail(as_alice, genomics).periods


def test_a_pis_page_adds_up_their_projects_and_lists_flags_and_decisions(client, finance_admin, generated):
    bob = PI.objects.get(email=BOB)
    client.force_login(finance_admin)
    html = client.get(f"/admin/finance/pis/{bob.pk}/").content.decode()

    due = Statement.objects.get(pi=bob, status__in=["final", "draft"]).amount_due
    row = cells(html, "costs", "2025-01")
    assert row["Billed"] == row["Statements amount due"] == f"{due:,.2f} USD" == "74.90 USD"
    assert 'href="/admin/finance/projects/' in html and "climate" in html
    flags = html[html.index('id="flags"') :]
    assert re.search(r"2025-01</th><td[^>]*>0</td><td[^>]*>1</td><td[^>]*>0</td>", flags)  # the approved refund
    assert "provider refund" in html  # the decision's note


def test_the_project_list_shows_cost_in_the_chosen_period_sorted_by_billed(client, finance_admin, generated):
    client.force_login(finance_admin)
    html = client.get("/admin/billing/project/?cost_period=2025-01&o=4").content.decode()  # Billed, ascending
    codes = re.findall(r'<th class="field-code"><a href="[^"]+">([^<]+)</a>', html)
    assert codes.index("climate") < codes.index("genomics")
    assert "1,234,633.45 USD" in html and "74.90 USD" in html
    html = client.get("/admin/billing/project/?cost_period=2025-01&o=-4").content.decode()
    codes = re.findall(r'<th class="field-code"><a href="[^"]+">([^<]+)</a>', html)
    assert codes.index("genomics") < codes.index("climate")


def test_the_pi_list_shows_cost_in_the_chosen_period(client, finance_admin, generated):
    client.force_login(finance_admin)
    html = client.get("/admin/billing/pi/").content.decode()  # the newest period by default
    assert "74.90 USD" in html and "1,234,633.45 USD" in html
    assert f'href="/admin/finance/pis/{PI.objects.get(email=BOB).pk}/"' in html


def test_staff_without_charge_access_cannot_open_a_finance_page(client, generated):
    clerk = make_staff("clerk@example.edu", "Viewer")
    clerk.groups.clear()
    client.force_login(clerk)
    genomics = Project.objects.get(code="genomics")
    assert client.get(f"/admin/finance/projects/{genomics.pk}/").status_code == 403
    assert Charge.objects.exists()
