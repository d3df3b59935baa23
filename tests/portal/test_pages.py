"""What a PI sees: totals, trend, statements, charges and their CSV, projects, delegates, empty states."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import Charge, Project
from statements.models import PortalDelegate, Statement
from statements.portal.views import csv_cell
from tests.portal.conftest import World, portal_user

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_home_shows_this_periods_amount_due_list_price_and_discount(world: World) -> None:
    page = signed_in(world.alice).get("/portal/").content.decode()
    assert "Billed for 2025-01" in page
    assert '<p class="portal-card-value" data-testid="amount-due">165.50 USD</p>' in page
    assert "<dt>List price</dt><dd>200.50 USD</dd>" in page
    assert "<dt>Discount</dt><dd>35.00 USD (17.5%)</dd>" in page
    assert '<svg class="portal-chart"' in page and "<title>2025-01: 165.50 USD</title>" in page
    assert "<script>" not in page and 'style="' not in page


def test_home_counts_the_pis_flagged_charges(world: World) -> None:
    Charge.objects.filter(pk=world.charge_proteomics.pk).update(review_state=Charge.ReviewState.FLAGGED)
    Charge.objects.filter(pk=world.charge_astro.pk).update(review_state=Charge.ReviewState.FLAGGED)
    page = signed_in(world.alice).get("/portal/").content.decode()
    assert '<strong data-testid="flagged-count">1</strong> charge' in page
    dana = signed_in(world.dana).get("/portal/").content.decode()
    assert "Nothing of yours is under review." in dana  # the flagged one is not shared with her


def test_a_pi_before_any_statement_sees_clear_empty_states(db: Any) -> None:
    from billing.models import PI

    user = portal_user("new@example.edu")
    PI.objects.create(email="new@example.edu", user=user)
    client = signed_in(user)
    assert "No statements yet." in client.get("/portal/").content.decode()
    assert "No statements match." in client.get("/portal/statements/").content.decode()
    assert "No charges match these filters." in client.get("/portal/charges/").content.decode()
    assert "No projects yet." in client.get("/portal/projects/").content.decode()
    assert "Nobody else can see your statements." in client.get("/portal/delegates/").content.decode()


def test_statements_are_filtered_by_period_project_and_status(world: World) -> None:
    client = signed_in(world.alice)
    page = client.get(f"/portal/statements/?project={world.proteomics.pk}").content.decode()
    assert world.st_proteomics.number in page and world.st_genomics.number not in page
    assert "<caption>Statements</caption>" in page
    assert world.st_genomics.number not in client.get("/portal/statements/?period=2024-12").content.decode()
    # A superseded version is history: shown only when asked for.
    old = world.st_genomics
    Statement.objects.filter(pk=old.pk).update(status=Statement.Status.SUPERSEDED)
    assert f">{old.number} v1<" not in client.get("/portal/statements/").content.decode()
    assert f">{old.number} v1<" in client.get("/portal/statements/?status=superseded").content.decode()


def test_a_statement_page_lists_its_lines_and_the_pdf_downloads(world: World) -> None:
    client = signed_in(world.alice)
    st = world.st_genomics
    page = client.get(f"/portal/statements/{st.pk}/").content.decode()
    assert "<caption>Statement lines</caption>" in page and "Amazon EC2" in page and "Amazon S3" in page
    assert f'href="/portal/statements/{st.pk}/pdf/"' in page and "/media/" not in page
    response = client.get(f"/portal/statements/{st.pk}/pdf/")
    data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/pdf" and data.startswith(b"%PDF")
    assert f'filename="statement-{st.number}-v{st.version}.pdf"' in response["Content-Disposition"]
    assert hashlib.sha256(data).hexdigest() == st.pdf_sha256
    assert "no-store" in response["Cache-Control"]


def test_charges_are_filtered_by_period_project_service_and_resource(world: World) -> None:
    client = signed_in(world.alice)
    assert "gen-bucket" not in client.get("/portal/charges/?service=Amazon EC2").content.decode()
    page = client.get("/portal/charges/?resource=BUCK").content.decode()
    assert "gen-bucket" in page and "gen-vm-1" not in page
    page = client.get(f"/portal/charges/?project={world.proteomics.pk}&period=2025-01").content.decode()
    assert "prot-vm" in page and "gen-vm-1" not in page
    assert f'href="/portal/charges.csv?project={world.proteomics.pk}&amp;period=2025-01"' in page


def test_the_charges_page_does_not_count_the_table(world: World) -> None:
    client = signed_in(world.alice)
    with CaptureQueriesContext(connection) as queries:
        client.get("/portal/charges/")
    charge_counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "billing_charge" in q["sql"]]
    assert charge_counts == []


def test_the_csv_is_streamed_and_formula_escaped(world: World) -> None:
    response = signed_in(world.alice).get("/portal/charges.csv?period=2025-01")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert 'filename="charges-2025-01.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert "'@SUM(A1)" in text and "'=HYPERLINK(" in text
    assert ",=" not in text and ",@" not in text
    assert "100.0000000000" in text  # amounts exact, not escaped


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("plain", "plain"), (None, "")],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_is_prefixed(value: str | None, cell: str) -> None:
    assert csv_cell(value) == cell


def test_a_project_page_shows_fund_org_spend_per_period_services_and_top_resources(world: World) -> None:
    page = signed_in(world.alice).get(f"/portal/projects/{world.genomics.pk}/").content.decode()
    assert "BIO-2025-001" in page
    assert "the billed charges (approved or never flagged), the charges under review, and the statement" in page
    assert "Amazon EC2" in page and "gen-vm-1" in page
    assert "125.50 USD" in page  # the statement's amount due


def test_a_pi_shares_one_project_with_a_lab_manager_then_changes_and_removes_it(world: World) -> None:
    client = signed_in(world.alice)
    response = client.post(
        "/portal/delegates/", {"email": "Lab.Manager@example.edu", "projects": [world.proteomics.pk], "note": "lab"}
    )
    assert response.status_code == 302
    grant = PortalDelegate.objects.get(email="lab.manager@example.edu")
    assert list(grant.projects.all()) == [world.proteomics] and not grant.all_projects
    manager = portal_user("lab.manager@example.edu")
    page = signed_in(manager).get("/portal/statements/").content.decode()
    assert world.st_proteomics.number in page and world.st_genomics.number not in page
    client.post(f"/portal/delegates/{grant.pk}/", {"all_projects": "on", "note": "lab"})
    grant.refresh_from_db()
    assert grant.all_projects
    client.post(f"/portal/delegates/{grant.pk}/remove/")
    assert not PortalDelegate.objects.filter(pk=grant.pk).exists()
    assert signed_in(manager).get("/portal/").status_code == 403


def test_a_pi_cannot_share_another_pis_project(world: World) -> None:
    client = signed_in(world.alice)
    response = client.post("/portal/delegates/", {"email": "x@example.edu", "projects": [world.astro.pk]})
    assert response.status_code == 200
    assert not PortalDelegate.objects.filter(email="x@example.edu").exists()
    response = client.post("/portal/delegates/", {"email": "x@example.edu"})
    assert "Choose all projects or at least one project." in response.content.decode()


def test_a_finance_admin_grants_access_in_the_admin(world: World) -> None:
    from tests.conftest import make_staff

    client = signed_in(make_staff("finance@example.edu", "Finance admin"))
    data = {"pi": world.pi_bob.pk, "email": "grants@example.edu", "all_projects": "on", "note": "grant admin"}
    response = client.post("/admin/statements/portaldelegate/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PortalDelegate.objects.get(email="grants@example.edu").pi == world.pi_bob
    bad = {"pi": world.pi_bob.pk, "email": "x@example.edu", "projects": [world.genomics.pk]}
    response = client.post("/admin/statements/portaldelegate/add/", bad)
    assert "Only projects of this PI can be shared." in response.content.decode()


def test_projects_list_shows_each_project_with_its_fund_org(world: World) -> None:
    page = signed_in(world.alice).get("/portal/projects/").content.decode()
    assert "genomics" in page and "proteomics" in page and "BIO-2025-002" in page and "astro" not in page
    assert Project.objects.count() == 3
